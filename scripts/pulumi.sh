#!/usr/bin/env bash
# Runs the Pulumi CLI (from the `pulumi` npm package) on a stack of this project, creating the
# stack on first use. State lives in ./.pulumi-state (see Pulumi.yaml), so no login is needed.
# When the CLI cannot be downloaded (no internet), says so and prints the live-harness command that
# does the same offline. Usage: see usage() below, or `bash scripts/pulumi.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'EOF'
usage: bash scripts/pulumi.sh STACK PULUMI-ARGS...

Runs `pulumi PULUMI-ARGS... --stack STACK` with the Pulumi CLI of the `pulumi` npm package (downloaded
on first use: needs internet), creating STACK on first use. State: ./.pulumi-state (no login).
Secrets are encrypted with PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE); unset, the
documented dev passphrase `pg-replication-dev` is used.

npm run up / preview / destroy run this on the dev stack (npm run up -- --yes passes --yes on).

examples:
  bash scripts/pulumi.sh dev up
  bash scripts/pulumi.sh dev stack output primaryConnectionString --show-secrets
  bash scripts/pulumi.sh dev config set replicas 3

Without internet the CLI cannot be downloaded; use the local image and the live harness instead
(docs/harness.md): npm run build-image && npm run live -- up --stack local   (npm run live -- --help)
EOF
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    "") usage >&2; echo "usage error: STACK is required" >&2; exit 2 ;;
esac
stack="$1"; shift
if [[ ! "$stack" =~ ^[A-Za-z0-9_.-]+$ ]]; then
    echo "usage error: invalid STACK \"$stack\": letters, digits, _ . - only (bash scripts/pulumi.sh --help)" >&2
    exit 2
fi

# The live-harness command that does what `pulumi ARGS` would, for the explanation below.
offline_command() {
    local live="npm run live --"
    local image=""
    if ! grep -Eqs '^\s*pg-replication:pullImage:\s*"?false' "Pulumi.$stack.yaml"; then
        image=" --config image=pg-replication/postgres:17-local --config pullImage=false"
    fi
    case "${1:-}" in
        up | preview | update) echo "npm run build-image && $live up --stack $stack$image" ;;
        destroy | down) echo "$live down --stack $stack" ;;
        stack)
            if [ "${2:-}" = output ]; then
                shift 2
                echo "$live output $* --stack $stack" | tr -s ' '
            else
                echo "$live output --stack $stack"
            fi
            ;;
        config)
            case "${2:-}" in
                set) echo "$live config set ${3:-KEY} ${4:-VALUE} --stack $stack" ;;
                rm) echo "$live config rm ${3:-KEY} --stack $stack" ;;
                *) echo "$live config --stack $stack" ;;
            esac
            ;;
        *) echo "$live --help   (the harness has up, down, output and config)" ;;
    esac
}

created_state_dir=0
if [ ! -d .pulumi-state ]; then
    mkdir -p .pulumi-state
    created_state_dir=1
fi
# The dev stack's documented default passphrase; set your own for anything you care about.
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    export PULUMI_CONFIG_PASSPHRASE="pg-replication-dev"
fi
err_file="$(mktemp)"
trap 'rm -f "$err_file"' EXIT
if ! npx --no-install pulumi stack select --create "$stack" >/dev/null 2>"$err_file"; then
    # Leave no empty state folder behind.
    if [ "$created_state_dir" = 1 ]; then rmdir .pulumi-state 2>/dev/null || true; fi
    if grep -Eq 'Downloading pulumi|fetch failed|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT' "$err_file"; then
        {
            sed 's/^/  /' "$err_file"
            echo "error: the Pulumi CLI is not installed and could not be downloaded (the \`pulumi\` npm package"
            echo "fetches it on first use; this machine has no internet access). Nothing was deployed or changed."
            echo "Offline, the live harness does the same with the local image (docs/harness.md). Run instead:"
            echo "  $(offline_command "$@")"
            if [ -f ".live-state/$stack.json" ]; then
                echo "Stack $stack is a live-harness stack (.live-state/$stack.json): day-2 commands need --live,"
                echo "  e.g. npm run failover -- --to pg2 --stack $stack --live"
            else
                echo "(failover, switchover, rejoin and lag work on a live-harness stack with --live.)"
            fi
        } >&2
        case " $* " in *" --help "* | *" -h "*) usage; exit 0 ;; esac
        exit 1
    fi
    cat "$err_file" >&2
    exit 1
fi
exec npx --no-install pulumi "$@" --stack "$stack"
