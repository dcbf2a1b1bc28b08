// The one acknowledged-commit writer (ops/ack-writer.ts) against a fake server: what counts as
// acknowledged, its bounds on rows and time, reconnects, following a new endpoint, and the first
// write after a kill. No Docker.
import { AckClient, AckWriter, CommitWriter } from "../../ops/ack-writer";

const tick = () => new Promise<void>((r) => setImmediate(r));

/** A server behind several endpoints: inserts kept in `rows`, failures on demand. */
class FakeServer {
    readonly rows: number[] = [];
    readonly statements: Array<{ text: string; values: unknown[] }> = [];
    /** Endpoints each session connected to, in order. */
    readonly connects: string[] = [];
    /** Endpoint -> how many more connects it refuses. */
    readonly refuse = new Map<string, number>();
    /** Ids whose insert fails (the connection is lost before the answer). */
    readonly failIds = new Set<number>();
    /** Called after an insert is kept, before it is answered. */
    onInsert: (id: number) => void | Promise<void> = () => undefined;
    created = 0;
    ended = 0;

    client(endpoint: string): AckClient {
        this.created++;
        let open = false;
        return {
            connect: async () => {
                await tick();
                const left = this.refuse.get(endpoint) ?? 0;
                if (left > 0) {
                    this.refuse.set(endpoint, left - 1);
                    throw new Error(`${endpoint}: connection refused`);
                }
                open = true;
                this.connects.push(endpoint);
            },
            query: async (text, values) => {
                await tick();
                if (!open) throw new Error("not connected");
                this.statements.push({ text, values });
                const id = values[0] as number;
                if (this.failIds.has(id)) {
                    open = false;
                    throw new Error(`${endpoint}: connection lost`);
                }
                this.rows.push(id);
                await this.onInsert(id);
            },
            end: () => {
                open = false;
                this.ended++;
                return Promise.resolve();
            },
        };
    }
}

/** Waits (at most 5 s) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!cond()) {
        if (Date.now() > deadline) throw new Error("condition not reached");
        await new Promise((r) => setTimeout(r, 1));
    }
}

describe("CommitWriter", () => {
    test("only an insert that returned is acknowledged; a failed one is not, and the session reconnects with the next id", async () => {
        const server = new FakeServer();
        server.failIds.add(3);
        const w = new CommitWriter({
            endpoint: () => "a",
            client: (e) => server.client(e),
            table: "t",
            columns: { round: 7 },
            maxRows: 5,
            retryMs: 1,
        });
        w.start();
        await w.finished();
        expect(w.acked).toEqual([1, 2, 4, 5, 6]);
        expect(w.acks.map((a) => a.id)).toEqual(w.acked);
        expect(w.acked.every((id) => server.rows.includes(id))).toBe(true);
        expect(server.statements[0]).toEqual({ text: "INSERT INTO t (id, round) VALUES ($1, $2)", values: [1, 7] });
        expect({ errors: w.errors, lastError: w.lastError }).toEqual({ errors: 1, lastError: "a: connection lost" });
        expect(server.connects).toEqual(["a", "a"]);
        expect(server.ended).toBe(server.created);
        expect(w.next).toBe(7);
    });

    test("stops by itself at maxRows: exactly with one session, at most one more per other session", async () => {
        const one = new FakeServer();
        const w1 = new CommitWriter({ endpoint: () => "a", client: (e) => one.client(e), table: "t", maxRows: 10 });
        w1.start();
        await w1.finished();
        expect(w1.acked).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect(one.statements).toHaveLength(10);

        const three = new FakeServer();
        const w3 = new CommitWriter({
            endpoint: () => "a",
            client: (e) => three.client(e),
            table: "t",
            maxRows: 10,
            sessions: 3,
        });
        w3.start();
        await w3.finished();
        expect(w3.acked.length).toBeGreaterThanOrEqual(10);
        expect(w3.acked.length).toBeLessThanOrEqual(12);
        expect(new Set(w3.acked).size).toBe(w3.acked.length); // ids shared by the sessions, never reused
        expect(three.connects).toEqual(["a", "a", "a"]);
    });

    test("stops by itself at maxMs on its clock: no insert begins after the deadline", async () => {
        const server = new FakeServer();
        let t = 1000;
        server.onInsert = () => void (t += 10); // each insert takes 10 ms
        const w = new CommitWriter({
            endpoint: () => "a",
            client: (e) => server.client(e),
            table: "t",
            maxMs: 95,
            now: () => t,
        });
        w.start();
        await w.finished();
        // Inserts begin at 1000, 1010, ..., 1090; the one at 1090 returns at 1100, past the deadline (1095).
        expect(w.acks.map((a) => a.begunAt)).toEqual([1000, 1010, 1020, 1030, 1040, 1050, 1060, 1070, 1080, 1090]);
        expect(w.acks[9].at).toBe(1100);
    });

    test("a refused connect is retried; a session leaves its connection when the endpoint changes", async () => {
        const server = new FakeServer();
        let endpoint = "a";
        server.refuse.set("b", 2);
        server.onInsert = (id) => {
            if (id === 3) endpoint = "b"; // a failover: the caller names the new primary
        };
        const w = new CommitWriter({
            endpoint: () => endpoint,
            client: (e) => server.client(e),
            table: "t",
            maxRows: 6,
            retryMs: 1,
        });
        w.start();
        await w.finished();
        expect(w.acks.map((a) => [a.id, a.endpoint])).toEqual([
            [1, "a"],
            [2, "a"],
            [3, "a"],
            [4, "b"],
            [5, "b"],
            [6, "b"],
        ]);
        expect(server.connects).toEqual(["a", "b"]);
        // Leaving "a" was no error; the two refusals of "b" were.
        expect({ errors: w.errors, lastError: w.lastError }).toEqual({ errors: 2, lastError: "b: connection refused" });
        expect(server.ended).toBe(server.created);
    });

    test("stop() ends an unbounded writer after its insert in flight", async () => {
        const server = new FakeServer();
        const w = new CommitWriter({ endpoint: () => "a", client: (e) => server.client(e), table: "t" });
        w.start();
        await until(() => w.acked.length >= 20);
        await w.stop();
        const sent = server.statements.length;
        await new Promise((r) => setTimeout(r, 20));
        expect(server.statements.length).toBe(sent);
        expect(w.acked.length).toBe(sent);
        expect(server.ended).toBe(server.created);
    });
});

describe("AckWriter (one fixed endpoint, times the first write after a kill)", () => {
    test("only an insert begun after the kill completed counts as the first write after it", async () => {
        const server = new FakeServer();
        let hold: Promise<void> | undefined;
        let release = () => undefined as void;
        let held: number | undefined;
        server.onInsert = (id) => {
            // The first insert after the held one answers a few ms later, so that the two acks' times differ.
            if (held !== undefined && id === held + 1) return new Promise<void>((r) => setTimeout(r, 5));
            if (!hold) return;
            held = id;
            return hold;
        };
        const target = { host: "h", port: 5432, password: "pw", table: "t" };
        const w = new AckWriter(target, 100, () => server.client("rw"));
        w.start();
        await until(() => w.acked.length >= 5);
        // The old leader stops answering: one insert hangs, begun before the kill.
        hold = new Promise<void>((r) => (release = r));
        await until(() => held !== undefined);
        const startedAt = Date.now();
        await new Promise((r) => setTimeout(r, 5));
        const doneAt = Date.now();
        w.markKill(startedAt, doneAt);
        await new Promise((r) => setTimeout(r, 5));
        expect(w.firstAckAfter).toBeUndefined();
        hold = undefined;
        release();
        await until(() => w.firstAckAfter !== undefined);
        await w.stop();

        const heldAck = w.acks.find((a) => a.id === held)!;
        expect(heldAck.begunAt).toBeLessThan(doneAt);
        expect(heldAck.at).toBeGreaterThan(doneAt); // acknowledged after the kill, yet not the proof
        const first = w.acks.find((a) => a.id === (held as number) + 1)!;
        expect(first.begunAt).toBeGreaterThan(doneAt);
        expect(first.at).toBeGreaterThan(heldAck.at);
        expect(w.firstAckAfter).toBe(first.at - startedAt);
        expect(w.acked[0]).toBe(100);
        expect(server.statements[0].text).toBe("INSERT INTO t (id) VALUES ($1)");
    });

    test("no kill marked: no first write after one", async () => {
        const server = new FakeServer();
        const w = new AckWriter({ host: "h", port: 1, password: "pw", table: "t" }, 1, () => server.client("rw"));
        w.start();
        await until(() => w.acked.length >= 3);
        await w.stop();
        expect(w.firstAckAfter).toBeUndefined();
    });
});
