// Runs shellcheck (Debian's package) on every shell program the project ships: the scripts users run,
// CI's entry point, the containers' entrypoints as the deployment renders them (templates with their
// placeholders filled by the same renderers), and the scripts the command resources run with /bin/sh.
// Part of `npm run lint`; exits with shellcheck's status.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CONTAINER_READY } from "../infra/container-ready";
import { haproxyReloadCommand, renderHaproxyEntrypoint } from "../infra/haproxy";
import { tlsFilesScript, tlsInstallScript } from "../infra/tls-files";
import { renderExporterEntrypoint } from "../infra/metrics";
import { patroniRestCommand } from "../model/patroni-rest";
import { renderPatroniRestoreScript } from "../model/patroni-config";
import { validateConfig } from "../model/config";
import { renderPoolerEntrypoint } from "../model/pooler-config";
import { PSQL_FROM_STDIN, PSQL_ON_CURRENT_PRIMARY, psqlOnDelete } from "../infra/psql";
import { renderTlsSetup } from "../model/render";
import { command, runCommand } from "../ops/cli";

const LINT_SHELL = command({
    name: "lint-shell",
    invocation: "node -r ./scripts/register-ts.js scripts/lint-shell.ts",
    synopsis: "",
    description:
        "shellcheck on scripts/*.sh, .ci/run, templates/*.sh, the rendered entrypoint templates and the\n" +
        "shell scripts of the command resources (infra/psql.ts, model/patroni-rest.ts, infra/container-ready.ts).",
    options: {},
    examples: ["node -r ./scripts/register-ts.js scripts/lint-shell.ts"],
});

const ROOT = path.resolve(__dirname, "..");

/** Files checked as they are in the repository. */
function sourceFiles(): string[] {
    const inDir = (dir: string) =>
        fs
            .readdirSync(path.join(ROOT, dir))
            .filter((f) => f.endsWith(".sh"))
            .map((f) => path.join(dir, f));
    return [...inDir("scripts"), ...inDir("templates"), ".ci/run"];
}

/** Shell the deployment renders or runs: name → script (with its shebang). */
function renderedScripts(): Record<string, string> {
    const sh = (body: string) => `#!/bin/sh\n${body}\n`;
    return {
        "exporter-entrypoint.sh": renderExporterEntrypoint(),
        "pgbouncer-entrypoint.sh": renderPoolerEntrypoint(),
        "tls-setup.sh": sh(renderTlsSetup()),
        "haproxy-entrypoint.sh": renderHaproxyEntrypoint(),
        "tls-files.sh": sh(tlsFilesScript(true)),
        "tls-install.sh": sh(tlsInstallScript(haproxyReloadCommand())),
        "psql-from-stdin.sh": sh(PSQL_FROM_STDIN),
        "psql-on-current-primary.sh": sh(PSQL_ON_CURRENT_PRIMARY),
        "psql-on-delete.sh": sh(psqlOnDelete("SELECT 1;")),
        "patroni-rest.sh": sh(patroniRestCommand()),
        "container-ready.sh": sh(CONTAINER_READY),
        "patroni-restore.sh": renderPatroniRestoreScript(
            validateConfig({ failover: "patroni", restoreFrom: "source" }),
        ),
    };
}

function main(): number {
    LINT_SHELL.parse(process.argv.slice(2));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgr-shellcheck-"));
    try {
        const rendered = Object.entries(renderedScripts()).map(([name, text]) => {
            const file = path.join(dir, name);
            fs.writeFileSync(file, text);
            return file;
        });
        const res = spawnSync("shellcheck", ["--format=gcc", ...sourceFiles(), ...rendered], {
            cwd: ROOT,
            encoding: "utf8",
        });
        if (res.error)
            throw new Error(
                `shellcheck could not run (${res.error.message}); install it: apt-get install -y shellcheck`,
            );
        process.stdout.write(res.stdout.split(dir + path.sep).join("rendered:"));
        process.stderr.write(res.stderr);
        return res.status ?? 1;
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

runCommand(LINT_SHELL, () => Promise.resolve(main()));
