// The `settings` validation agrees with the image's PostgreSQL (issue 21 item 3): each value below
// is given to the real server (`postgres -C NAME -c NAME=VALUE` on a throwaway data directory, one
// container, no network), and model/parameters.ts must accept exactly the values the server
// accepts. A value the validation let through and the server refused kept the primary from
// starting for six minutes.
import { spawnSync } from "child_process";
import { parameterValueProblem } from "../../model/parameters";

const IMAGE = "pg-replication/postgres:17-local";

const CASES: Array<[string, string]> = [
    ["shared_buffers", "lots"],
    ["shared_buffers", "128MB"],
    ["shared_buffers", "8kB"],
    ["shared_buffers", "1.5GB"],
    ["shared_buffers", "16384"],
    ["shared_buffers", "128mb"],
    ["work_mem", "4MB"],
    ["work_mem", "4 MB"],
    ["work_mem", "63kB"],
    ["work_mem", "0x100"],
    ["maintenance_work_mem", "1TB"],
    ["checkpoint_timeout", "5min"],
    ["checkpoint_timeout", "10"],
    ["checkpoint_timeout", "1d"],
    ["checkpoint_timeout", "2d"],
    ["checkpoint_timeout", "30s"],
    ["log_min_duration_statement", "-1"],
    ["log_min_duration_statement", "250ms"],
    ["log_min_duration_statement", "-2"],
    ["vacuum_cost_delay", "2ms"],
    ["vacuum_cost_delay", "1s"],
    ["vacuum_cost_delay", "500us"],
    ["random_page_cost", "1.1"],
    ["random_page_cost", "-1"],
    ["random_page_cost", "1e2"],
    ["random_page_cost", "cheap"],
    ["max_connections", "100"],
    ["max_connections", "0"],
    ["max_connections", "100.4"],
    ["jit", "on"],
    ["jit", "OFF"],
    ["jit", "of"],
    ["jit", "tru"],
    ["jit", "maybe"],
    ["jit", "o"],
    ["log_min_messages", "warning"],
    ["log_min_messages", "WARNING"],
    ["log_min_messages", "loud"],
    ["huge_pages", "try"],
    ["huge_pages", "true"],
    ["huge_pages", "sometimes"],
    ["default_transaction_isolation", "serializable"],
    ["default_transaction_isolation", "strict"],
    ["effective_io_concurrency", "1001"],
    ["statement_timeout", "1h"],
    ["statement_timeout", "1 hour"],
];

/** What the server says of each case: true when it starts far enough to print the value. */
function serverVerdicts(): boolean[] {
    const lines = CASES.map(
        ([name, value]) =>
            `if postgres -D /tmp/d -c ${name}=${JSON.stringify(value).replace(/\$/g, "\\$")} -C ${name} >/dev/null 2>&1; then echo ok; else echo refused; fi`,
    );
    const script = ["set -e", "initdb -D /tmp/d -U postgres -A trust >/dev/null 2>&1", "set +e", ...lines].join("\n");
    const res = spawnSync(
        "docker",
        [
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "--entrypoint",
            "setpriv",
            IMAGE,
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "sh",
        ],
        { input: script, encoding: "utf8", timeout: 120_000 },
    );
    if (res.status !== 0) throw new Error(`docker run exited ${res.status}: ${res.stderr}`);
    return res.stdout
        .trim()
        .split("\n")
        .map((l) => l === "ok");
}

describe("settings validation agrees with the image's PostgreSQL", () => {
    test("every case: accepted by the validation exactly when the server accepts it", () => {
        const server = serverVerdicts();
        expect(server).toHaveLength(CASES.length);
        const disagreements = CASES.map(([name, value], i) => ({
            setting: `${name}=${value}`,
            server: server[i] ? "accepts" : "refuses",
            validation: parameterValueProblem(name, value) === undefined ? "accepts" : "refuses",
        })).filter((c) => c.server !== c.validation);
        expect(disagreements).toEqual([]);
        // Both verdicts occur: the cases test something.
        expect(server.filter(Boolean).length).toBeGreaterThan(10);
        expect(server.filter((ok) => !ok).length).toBeGreaterThan(10);
    }, 150_000);
});
