// The live harness's one entry for code outside it: the commands (ops/stack-backends.ts) and
// the benchmarks (bench/clusters.ts) start it through these, never through a path of their own.
// It is the offline route users take (`npm run live`) and what the Docker tests deploy with: the real
// Pulumi SDK runs infra/ in mock mode while doubles of the docker and command providers perform every
// resource against the local engine (README.md in this folder: what it models, each behaviour's source).
import * as path from "path";

/** The project root: where Pulumi.yaml, infra/ and .live-state/ are. */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** The harness's command line program (`npm run live -- …` runs it). */
export const HARNESS_CLI = path.join(__dirname, "cli.ts");

/**
 * The argv that runs the harness with `args` (`["up", "--stack", "dev"]`), as `npm run live -- …`
 * does but without npm's own start-up: node with the project's TypeScript hook.
 */
export function harnessArgv(args: string[]): string[] {
    return [process.execPath, "-r", path.join(PROJECT_ROOT, "scripts", "register-ts.js"), HARNESS_CLI, ...args];
}
