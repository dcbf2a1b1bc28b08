// Stack configuration as `pulumi up` would hand it to the program: Pulumi.yaml defaults, then
// Pulumi.<stack>.yaml, then --config overrides.
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

/** Fully qualified key (`project:key`) → string value, as the SDK reads config. */
export type ConfigMap = Record<string, string>;

const asConfigString = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

function qualify(project: string, key: string): string {
    return key.includes(":") ? key : `${project}:${key}`;
}

/** Stack configuration as `pulumi up` hands it to the program, and the project's name. */
export function loadStackConfig(
    root: string,
    stack: string,
    overrides: string[],
): { project: string; config: ConfigMap } {
    const projectFile = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as {
        name: string;
        config?: Record<string, unknown>;
    };
    const project = projectFile.name;
    const config: ConfigMap = {};
    addDefaults(config, project, projectFile.config ?? {});
    addStackFile(config, project, path.join(root, `Pulumi.${stack}.yaml`));
    addOverrides(config, project, overrides);
    checkDeclaredTypes(stack, project, projectFile.config ?? {}, config);
    return { project, config };
}

/** Pulumi.yaml's defaults: a declaration's `default`, or a bare value. */
function addDefaults(config: ConfigMap, project: string, declared: Record<string, unknown>): void {
    for (const [key, decl] of Object.entries(declared)) {
        const value = decl !== null && typeof decl === "object" && "default" in decl ? decl.default : decl;
        if (value !== undefined) config[qualify(project, key)] = asConfigString(value);
    }
}

/** Pulumi.<stack>.yaml's values, when the file exists; refuses encrypted ones, which the harness cannot read. */
function addStackFile(config: ConfigMap, project: string, stackFile: string): void {
    if (!fs.existsSync(stackFile)) return;
    const parsed = (parse(fs.readFileSync(stackFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    for (const [key, value] of Object.entries(parsed.config ?? {})) {
        if (value !== null && typeof value === "object" && "secure" in value) {
            throw new Error(
                `${stackFile}: ${key} is an encrypted secret, which the live harness cannot decrypt; ` +
                    "pass it with --config instead",
            );
        }
        config[qualify(project, key)] = asConfigString(value);
    }
}

/** `key=value` overrides (--config), last. */
function addOverrides(config: ConfigMap, project: string, overrides: string[]): void {
    for (const pair of overrides) {
        const eq = pair.indexOf("=");
        if (eq <= 0) throw new Error(`--config expects key=value, got ${JSON.stringify(pair)}`);
        config[qualify(project, pair.slice(0, eq))] = pair.slice(eq + 1);
    }
}

/**
 * The CLI checks every value of a key that Pulumi.yaml declares with a type before the program runs
 * (`pulumi config set replicas two` then fails at `up`): so does the harness.
 */
export function checkDeclaredTypes(
    stack: string,
    project: string,
    declared: Record<string, unknown>,
    config: ConfigMap,
): void {
    const valid: Record<string, (v: string) => boolean> = {
        integer: (v) => /^-?\d+$/.test(v.trim()),
        boolean: (v) => v === "true" || v === "false",
        string: () => true,
        array: (v) => v.trim().startsWith("["),
    };
    for (const [key, decl] of Object.entries(declared)) {
        const type = decl !== null && typeof decl === "object" ? (decl as { type?: string }).type : undefined;
        const value = config[qualify(project, key)];
        if (type === undefined || value === undefined || !(type in valid)) continue;
        if (!valid[type](value)) {
            throw new Error(
                `Stack '${stack}' with configuration key '${qualify(project, key)}' must be of type '${type}' (got ${JSON.stringify(value)})`,
            );
        }
    }
}
