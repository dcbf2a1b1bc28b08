/**
 * The program's own steps that run as processes (command resources): each is a file in ops/hooks/, the
 * operations layer, so the program never depends on the commands in scripts/ (a unit test holds this).
 */
export type Hook =
    | "guard-primary"
    | "check-restore-source"
    | "check-cluster"
    | "apply-settings"
    | "remove-patroni-members"
    | "repoint-pooler";

/**
 * The command line a deployment's command resource runs a hook with (from the project root): through
 * scripts/register-ts.js, which keeps each file transpiled, so the process starts in a fraction of ts-node's
 * time (the checks and the primary guard are on the path of every `up`).
 */
export function nodeScript(hook: Hook): string {
    return `node -r ./scripts/register-ts.js ops/hooks/${hook}.ts`;
}
