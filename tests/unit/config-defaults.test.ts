// DEFAULTS in model/config.ts repeat the defaults Pulumi.yaml declares (the CLI hands those to the
// program); they must agree, or the harness, the scripts and `pulumi up` would see different values.
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { DEFAULTS, validateConfig } from "../../model/config";

const project = parse(fs.readFileSync(path.resolve(__dirname, "..", "..", "Pulumi.yaml"), "utf8")) as {
    config: Record<string, { type?: string; default?: unknown }>;
};

describe("config defaults", () => {
    const declared = Object.entries(project.config);

    test("every key Pulumi.yaml declares has the same default in model/config.ts", () => {
        expect(declared.length).toBeGreaterThan(10);
        for (const [key, decl] of declared) {
            expect(`${key} = ${JSON.stringify((DEFAULTS as unknown as Record<string, unknown>)[key])}`).toBe(
                `${key} = ${JSON.stringify(decl.default)}`,
            );
        }
    });

    test("every default of model/config.ts that Pulumi.yaml can declare is declared (objects cannot be)", () => {
        const undeclared = Object.keys(DEFAULTS).filter((k) => !(k in project.config));
        expect(undeclared).toEqual(["settings", "hosts", "placement"]);
    });

    test("an empty stack config validates to the declared defaults (settings: none)", () => {
        const documented = {
            ...Object.fromEntries(declared.map(([k, d]) => [k, d.default])),
            settings: {},
            hosts: [],
            placement: {},
        };
        expect(validateConfig({})).toEqual(documented);
    });

    test("the declared defaults, passed as the CLI passes them (strings), validate to DEFAULTS", () => {
        const raw = Object.fromEntries(declared.map(([k, d]) => [k, String(d.default)]));
        expect(validateConfig(raw)).toEqual(DEFAULTS);
    });
});
