// settings applied online (issue 21 item 3): what changes between two settings, the ALTER SYSTEM
// statements, the undo, and what one node is asked, against a fake SQL runner.
import { NodeRef, SqlRunner } from "../../ops/cluster-discovery";
import { alterSystemStatements, applyOnNode, inversePlan, needsRestart, settingsPlan } from "../../ops/settings-online";

describe("settings plans", () => {
    test("changed and new names are set, removed ones reset, unchanged ones left alone", () => {
        const previous = { work_mem: "8MB", jit: "off", max_connections: "100" };
        const desired = { work_mem: "16MB", jit: "off", shared_buffers: "256MB" };
        const plan = settingsPlan(previous, desired);
        expect(plan).toEqual({ set: { shared_buffers: "256MB", work_mem: "16MB" }, reset: ["max_connections"] });
        expect(inversePlan(plan, previous)).toEqual({
            set: { work_mem: "8MB", max_connections: "100" },
            reset: ["shared_buffers"],
        });
        expect(settingsPlan(desired, desired)).toEqual({ set: {}, reset: [] });
    });

    test("statements: literals quoted, list parameters one literal per element, custom names keep their dot", () => {
        expect(
            alterSystemStatements({
                set: {
                    application_name: "it's",
                    search_path: '"$user", public',
                    "pg_stat_statements.max": "1000",
                },
                reset: ["work_mem"],
            }),
        ).toEqual([
            "ALTER SYSTEM SET application_name = 'it''s'",
            "ALTER SYSTEM SET search_path = '$user', 'public'",
            "ALTER SYSTEM SET pg_stat_statements.max = '1000'",
            "ALTER SYSTEM RESET work_mem",
        ]);
    });

    test("restart-only parameters are told from the image's pg_settings context", () => {
        expect(needsRestart("shared_buffers")).toBe(true);
        expect(needsRestart("max_connections")).toBe(true);
        expect(needsRestart("work_mem")).toBe(false);
        expect(needsRestart("log_min_duration_statement")).toBe(false);
    });
});

/** A runner that records what it is asked and answers from a script. */
function fakeRunner(answers: { loadTimes: string[]; errors?: unknown[]; pending?: string[] }) {
    const asked: string[] = [];
    const loads = [...answers.loadTimes];
    const runner: SqlRunner = {
        rows: <T>(_n: NodeRef, select: string) => {
            asked.push(select);
            if (select.includes("pg_conf_load_time()::text")) return Promise.resolve([{ loaded: loads[0] }] as T[]);
            if (select.includes("pg_conf_load_time() >")) {
                loads.shift();
                return Promise.resolve([{ newer: loads.length === 0 }] as T[]);
            }
            if (select.includes("pg_file_settings")) return Promise.resolve((answers.errors ?? []) as T[]);
            if (select.includes("pending_restart"))
                return Promise.resolve((answers.pending ?? []).map((name) => ({ name })) as T[]);
            return Promise.reject(new Error(`unexpected ${select}`));
        },
        exec: (_n, statements) => {
            asked.push(...statements);
            return Promise.resolve("");
        },
    };
    return { runner, asked };
}

describe("applyOnNode", () => {
    const n = { node: "pg2", container: "s-pg2" };

    test("ALTER SYSTEM and a reload, then waits until the reload is processed before reading what is pending", async () => {
        const { runner, asked } = fakeRunner({ loadTimes: ["t0", "t0", "t1"], pending: ["shared_buffers"] });
        const out = await applyOnNode(runner, n, { set: { shared_buffers: "256MB" }, reset: [] });
        expect(out).toEqual({ node: "pg2", errors: [], pendingRestart: ["shared_buffers"] });
        expect(asked.filter((q) => q.startsWith("ALTER") || q.includes("pg_reload_conf"))).toEqual([
            "ALTER SYSTEM SET shared_buffers = '256MB'",
            "SELECT pg_reload_conf()",
        ]);
        // Polled until a new session saw the reload (the third poll), and only then asked for pending restarts.
        const polls = asked.map((q, i) => (q.includes("pg_conf_load_time() >") ? i : -1)).filter((i) => i >= 0);
        expect(polls).toHaveLength(3);
        expect(asked.findIndex((q) => q.includes("pending_restart"))).toBeGreaterThan(polls[polls.length - 1]);
    });

    test("a value the server refuses on reload is reported, by name", async () => {
        const { runner } = fakeRunner({
            loadTimes: ["t0", "t1"],
            errors: [{ name: "work_mem", error: 'invalid value for parameter "work_mem"' }],
        });
        const out = await applyOnNode(runner, n, { set: { work_mem: "1PB" }, reset: [] });
        expect(out.errors).toEqual(['work_mem: invalid value for parameter "work_mem"']);
    });

    test("an empty plan asks nothing of the server but what is pending", async () => {
        const { runner, asked } = fakeRunner({ loadTimes: ["t0"], pending: [] });
        await applyOnNode(runner, n, { set: {}, reset: [] });
        expect(asked.some((q) => q.startsWith("ALTER") || q.includes("pg_reload_conf"))).toBe(false);
    });

    test("a reload never processed is an error within the deadline, naming the node", async () => {
        const { runner } = fakeRunner({ loadTimes: ["t0", ...Array<string>(1000).fill("t0")] });
        const out = await applyOnNode(runner, n, { set: { work_mem: "8MB" }, reset: [] }, 300);
        expect(out.errors).toEqual(["pg2 did not reload its configuration within 300 ms"]);
    });

    test("a restart-only parameter the reload could not apply is pending, not an error", async () => {
        const { runner } = fakeRunner({
            loadTimes: ["t0", "t1"],
            errors: [{ name: "max_connections", error: "setting could not be applied" }],
            pending: ["max_connections"],
        });
        const out = await applyOnNode(runner, n, { set: { max_connections: "120" }, reset: [] });
        expect(out).toEqual({ node: "pg2", errors: [], pendingRestart: ["max_connections"] });
    });
});
