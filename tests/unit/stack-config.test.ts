// loadStackConfig: the layers `pulumi up` hands the program, each checked on a project of its own
// (a temporary root with its own Pulumi.yaml and Pulumi.<stack>.yaml).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadStackConfig } from "../../ops/stack-config";

let root: string;

beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "stack-config-"));
    fs.writeFileSync(
        path.join(root, "Pulumi.yaml"),
        [
            "name: proj",
            "config:",
            "  replicas:",
            "    type: integer",
            "    default: 2",
            "  mode: async",
            "  tags:",
            "    type: array",
            "    default: [a, b]",
            "",
        ].join("\n"),
    );
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const stackFile = (text: string) => fs.writeFileSync(path.join(root, "Pulumi.s.yaml"), text);

describe("loadStackConfig", () => {
    test("Pulumi.yaml's defaults (declared or bare), qualified with the project", () => {
        expect(loadStackConfig(root, "s", [])).toEqual({
            project: "proj",
            config: { "proj:replicas": "2", "proj:mode": "async", "proj:tags": '["a","b"]' },
        });
    });

    test("the stack file replaces defaults in place, then overrides replace both; foreign namespaces stay as given", () => {
        stackFile("config:\n  proj:replicas: 3\n  mode: sync\n  other:key: x\n");
        const { config } = loadStackConfig(root, "s", ["replicas=4", "proj:extra=a=b"]);
        expect(config).toEqual({
            "proj:replicas": "4",
            "proj:mode": "sync",
            "proj:tags": '["a","b"]',
            "other:key": "x",
            "proj:extra": "a=b",
        });
        // Later layers keep a key's first place, as the SDK's config map does.
        expect(Object.keys(config)).toEqual(["proj:replicas", "proj:mode", "proj:tags", "other:key", "proj:extra"]);
    });

    test("an empty stack file is no values", () => {
        stackFile("");
        expect(loadStackConfig(root, "s", []).config["proj:replicas"]).toBe("2");
    });

    test("an encrypted stack value is refused, naming the file and key", () => {
        stackFile("config:\n  proj:password:\n    secure: AAABAxyz\n");
        expect(() => loadStackConfig(root, "s", [])).toThrow(
            `${path.join(root, "Pulumi.s.yaml")}: proj:password is an encrypted secret, which the live harness cannot decrypt`,
        );
    });

    test("an override without KEY= is refused", () => {
        expect(() => loadStackConfig(root, "s", ["=3"])).toThrow('--config expects key=value, got "=3"');
        expect(() => loadStackConfig(root, "s", ["replicas"])).toThrow('--config expects key=value, got "replicas"');
    });

    test("declared types are checked after every layer", () => {
        stackFile("config:\n  proj:replicas: two\n");
        expect(() => loadStackConfig(root, "s", [])).toThrow("must be of type 'integer'");
        expect(loadStackConfig(root, "s", ["replicas=5"]).config["proj:replicas"]).toBe("5");
    });
});
