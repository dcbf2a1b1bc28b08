// A fake PostgreSQL server for unit tests of client/: enough of the wire protocol for pg to connect
// without a password (AuthenticationOk) and run simple queries (no parameters), answering like a
// primary or, with `readOnly`, like a demoted one (a standby). It records every statement it is sent,
// so a test sees which host a query reached. Also: a port that accepts and never answers.
import net from "node:net";

/** A row cell: a boolean is sent as PostgreSQL's bool (t/f), anything else as text. */
type Cell = string | boolean | null;
type Reply = { rows: Record<string, Cell>[]; tag: string } | { error: { code: string; message: string } };

const BOOL_OID = 16;
const TEXT_OID = 25;

function message(type: string, body: Buffer): Buffer {
    const head = Buffer.alloc(5);
    head.write(type, 0, "latin1");
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
}
const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");
const int16 = (n: number) => {
    const b = Buffer.alloc(2);
    b.writeInt16BE(n);
    return b;
};
const int32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
};
const readyForQuery = () => message("Z", Buffer.from("I"));

function rowsReply(rows: Record<string, Cell>[], tag: string): Buffer[] {
    const out: Buffer[] = [];
    if (rows.length > 0) {
        const cols = Object.keys(rows[0]);
        const fields = cols.map((c) =>
            Buffer.concat([
                cstr(c),
                int32(0),
                int16(0),
                int32(typeof rows[0][c] === "boolean" ? BOOL_OID : TEXT_OID),
                int16(-1),
                int32(-1),
                int16(0),
            ]),
        );
        out.push(message("T", Buffer.concat([int16(cols.length), ...fields])));
        for (const row of rows) {
            const cells = cols.map((c) => {
                const v = row[c];
                if (v === null) return int32(-1);
                const text = Buffer.from(typeof v === "boolean" ? (v ? "t" : "f") : v, "utf8");
                return Buffer.concat([int32(text.length), text]);
            });
            out.push(message("D", Buffer.concat([int16(cols.length), ...cells])));
        }
    }
    out.push(message("C", cstr(tag)));
    return out;
}

function errorReply(code: string, text: string): Buffer {
    return message(
        "E",
        Buffer.concat([cstr("SERROR"), cstr("VERROR"), cstr(`C${code}`), cstr(`M${text}`), Buffer.from([0])]),
    );
}

/** One fake server on 127.0.0.1 (a random port). */
export class FakePg {
    /** Answer like a read-only server: transaction_read_only on, in recovery, writes refused. */
    readOnly = false;
    /** Every statement received, in order (health probes included). */
    readonly statements: string[] = [];
    private readonly server = net.createServer((socket) => this.serve(socket));
    private readonly sockets = new Set<net.Socket>();
    private crashing = false;

    get port(): number {
        return (this.server.address() as net.AddressInfo).port;
    }

    /** host:port, as the router labels it. */
    get label(): string {
        return `127.0.0.1:${this.port}`;
    }

    /** The statements that are not the router's own (health probes, checks, LSN reads). */
    get writes(): string[] {
        return this.statements.filter((s) => /^(INSERT|UPDATE|DELETE)/i.test(s));
    }

    async start(): Promise<this> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return this;
    }

    /** Closes every session (as a crash would) and stops listening: the port then refuses. */
    async stop(): Promise<void> {
        for (const s of this.sockets) s.destroy();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    /** The next statement, on any session, ends every session and the listener (a crash). */
    crashOnNextStatement(): void {
        this.crashing = true;
    }

    private answer(sql: string): Reply {
        if (/^SHOW transaction_read_only/i.test(sql))
            return this.one({ transaction_read_only: this.readOnly ? "on" : "off" });
        if (/pg_current_wal_lsn/.test(sql))
            return this.one({ in_recovery: this.readOnly, lsn: this.readOnly ? null : "0/3000148" });
        if (/pg_last_wal_replay_lsn/.test(sql))
            return this.one({ in_recovery: this.readOnly, replay_lsn: "0/3000148" });
        if (/pg_is_in_recovery\(\)::text/.test(sql)) return this.one({ in_recovery: String(this.readOnly) });
        if (/pg_current_wal_insert_lsn/.test(sql)) return this.one({ lsn: "0/3000148" });
        if (/^(INSERT|UPDATE|DELETE)/i.test(sql)) {
            if (this.readOnly) {
                const verb = sql.split(" ")[0].toUpperCase();
                return { error: { code: "25006", message: `cannot execute ${verb} in a read-only transaction` } };
            }
            return { rows: [], tag: "INSERT 0 1" };
        }
        return this.one({ "?column?": "1" });
    }

    private one(row: Record<string, Cell>): Reply {
        return { rows: [row], tag: "SELECT 1" };
    }

    private serve(socket: net.Socket): void {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => undefined);
        let buf = Buffer.alloc(0);
        let started = false;
        socket.on("data", (chunk: Buffer) => {
            buf = Buffer.concat([buf, chunk]);
            for (;;) {
                // The startup message has no type byte; every later one has.
                const offset = started ? 1 : 0;
                if (buf.length < offset + 4) return;
                const len = buf.readInt32BE(offset);
                if (buf.length < offset + len) return;
                const type = started ? buf.toString("latin1", 0, 1) : "";
                const body = buf.subarray(offset + 4, offset + len);
                buf = buf.subarray(offset + len);
                if (!started) {
                    started = true;
                    socket.write(Buffer.concat([message("R", int32(0)), readyForQuery()]));
                } else if (type === "Q") {
                    const sql = body.toString("utf8", 0, body.length - 1);
                    this.statements.push(sql);
                    if (this.crashing) {
                        void this.stop();
                        return;
                    }
                    const reply = this.answer(sql);
                    const parts =
                        "error" in reply
                            ? [errorReply(reply.error.code, reply.error.message)]
                            : rowsReply(reply.rows, reply.tag);
                    socket.write(Buffer.concat([...parts, readyForQuery()]));
                } else if (type === "X") {
                    socket.end();
                    return;
                } else {
                    socket.write(
                        Buffer.concat([
                            errorReply("0A000", `fake server: message ${type} not supported`),
                            readyForQuery(),
                        ]),
                    );
                }
            }
        });
    }
}

/** A port that accepts connections and never answers (a host behind a black hole, seen from pg). */
export async function silentPort(): Promise<{ port: number; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
        sockets.add(s);
        s.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        port: (server.address() as net.AddressInfo).port,
        close: async () => {
            for (const s of sockets) s.destroy();
            await new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}
