#!/usr/bin/env bash
# Runs the Pulumi CLI (from the `pulumi` npm package) on a stack of this project, creating the
# stack on first use. State lives in ./.pulumi-state (see Pulumi.yaml), so no login is needed.
# Usage: scripts/pulumi.sh STACK pulumi-args...
set -euo pipefail
cd "$(dirname "$0")/.."
stack="$1"; shift
mkdir -p .pulumi-state
# The dev stack's documented default passphrase; set your own for anything you care about.
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    export PULUMI_CONFIG_PASSPHRASE="pg-replication-dev"
fi
npx --no-install pulumi stack select --create "$stack" >/dev/null
exec npx --no-install pulumi "$@" --stack "$stack"
