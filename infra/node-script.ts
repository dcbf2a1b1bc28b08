/**
 * The command line a deployment's command resource runs one of this project's TypeScript scripts
 * with (from the project root): through scripts/register-ts.js, which keeps each file transpiled, so the
 * process starts in a fraction of ts-node's time (the checks and the primary guard are on the path of
 * every `up`).
 */
export function nodeScript(script: string): string {
    return `node -r ./scripts/register-ts.js ${script}`;
}
