// What the TLS tests share: the TLS socket under a node-postgres client, and a writer that counts
// every failed insert and connection while certificates are rotated.
import { spawnSync } from "child_process";
import { Client, ClientConfig } from "pg";
import { TLSSocket } from "tls";

/** A self-signed certificate (P-256, 1 day) and its key, made with openssl into `certFile` and `keyFile`. */
export function selfSignedCert(cn: string, certFile: string, keyFile: string): void {
    const res = spawnSync(
        "openssl",
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            `/CN=${cn}`,
            "-days",
            "1",
            "-keyout",
            keyFile,
            "-out",
            certFile,
        ],
        { encoding: "utf8" },
    );
    if (res.status !== 0) throw new Error(`openssl: ${res.stderr}`);
}

/** The TLS socket under a connected node-postgres client. */
export function tlsSocket(c: Client): TLSSocket {
    const stream = (c as unknown as { connection: { stream: unknown } }).connection.stream;
    if (!(stream instanceof TLSSocket)) throw new Error("the connection is not TLS");
    return stream;
}

/**
 * Inserts through one held session and, in parallel, through a new connection each time (a new
 * TLS handshake), until stopped; records every failure with its time.
 */
export class RotationWriter {
    failures: string[] = [];
    sessionWrites = 0;
    private readonly connected: number[] = [];
    private stopped = false;
    private loops: Promise<void>[] = [];
    private session?: Client;

    constructor(private readonly config: ClientConfig) {}

    async start(): Promise<void> {
        this.session = new Client(this.config);
        this.session.on("error", (e) => this.failures.push(`session: ${e.message}`));
        await this.session.connect();
        await this.session.query("CREATE TABLE IF NOT EXISTS rotation_writes (at timestamptz, via text)");
        this.loops = [this.sessionLoop(), this.connectLoop()];
    }

    /** New-connection writes that began after `t` (ms since the epoch). */
    writesAfter(t: number): number {
        return this.connected.filter((at) => at > t).length;
    }

    async stop(): Promise<void> {
        this.stopped = true;
        await Promise.all(this.loops);
        await this.session?.end().catch(() => undefined);
    }

    private async sessionLoop(): Promise<void> {
        for (let i = 0; !this.stopped && i < 100_000; i++) {
            try {
                await this.session?.query("INSERT INTO rotation_writes VALUES (now(), 'session')");
                this.sessionWrites++;
            } catch (err) {
                this.failures.push(`session insert: ${(err as Error).message}`);
            }
            await new Promise((r) => setTimeout(r, 50));
        }
    }

    private async connectLoop(): Promise<void> {
        for (let i = 0; !this.stopped && i < 100_000; i++) {
            const begun = Date.now();
            const c = new Client(this.config);
            c.on("error", () => undefined);
            try {
                await c.connect();
                await c.query("INSERT INTO rotation_writes VALUES (now(), 'new connection')");
                this.connected.push(begun);
            } catch (err) {
                this.failures.push(`new connection at ${new Date(begun).toISOString()}: ${(err as Error).message}`);
            } finally {
                await c.end().catch(() => undefined);
            }
            await new Promise((r) => setTimeout(r, 50));
        }
    }
}
