// A writer that records every acknowledged commit, to measure failovers: autocommit inserts of
// increasing ids through one endpoint, one at a time. A failed or timed-out insert is not
// acknowledged; the writer reconnects and goes on with the next id. Used by
// ops/patroni-leader-loss.ts (npm run bench-patroni-failover, npm run bench -- failover --mode
// patroni) and tests/integration/patroni.test.ts.
import { Client } from "pg";
import { superuserClient, SuperuserLogin } from "./login";

/** Where and how the writer connects. */
export interface AckWriterTarget extends SuperuserLogin {
    host: string;
    port: number;
    /** Table with an `id bigint PRIMARY KEY` column. */
    table: string;
}

export class AckWriter {
    /** Ids the server acknowledged, in order. */
    readonly acked: number[] = [];
    /** Milliseconds from the kill's start to the first acknowledged insert begun after the kill completed. */
    firstAckAfter?: number;
    private stopped = false;
    private next: number;
    private done?: Promise<void>;
    private killedAt?: number;
    private killDone?: number;

    constructor(
        private readonly target: AckWriterTarget,
        firstId = 1,
    ) {
        this.next = firstId;
    }

    start(): void {
        this.done = this.loop();
    }

    /** The leader was killed between `startedAt` and `doneAt`. */
    markKill(startedAt: number, doneAt: number): void {
        this.killedAt = startedAt;
        this.killDone = doneAt;
        this.firstAckAfter = undefined;
    }

    async stop(): Promise<void> {
        this.stopped = true;
        await this.done;
    }

    private async loop(): Promise<void> {
        while (!this.stopped) {
            const c = new Client({
                ...superuserClient(this.target, this.target.host, this.target.port),
                connectionTimeoutMillis: 2000,
                // A killed node sends no RST: give up on its socket instead of hanging (patroni-notes).
                query_timeout: 3000,
            });
            // A dying server ends the socket: that surfaces as a failed query, not as an unhandled event.
            c.on("error", () => undefined);
            try {
                await c.connect();
                while (!this.stopped) {
                    const id = this.next++;
                    const begun = Date.now();
                    await c.query(`INSERT INTO ${this.target.table} (id) VALUES ($1)`, [id]);
                    this.acked.push(id);
                    // Only a write begun after the kill proves a new leader (an earlier one may have reached the old).
                    if (
                        this.killDone !== undefined &&
                        this.killedAt !== undefined &&
                        begun > this.killDone &&
                        this.firstAckAfter === undefined
                    ) {
                        this.firstAckAfter = Date.now() - this.killedAt;
                    }
                }
            } catch {
                await new Promise((r) => setTimeout(r, 100));
            } finally {
                await c.end().catch(() => undefined);
            }
        }
    }
}
