// The read-scaling library's pure parts: LSNs, round-robin, lag and health decisions, error
// classification; plus option validation and closed/no-replica behaviour (no server needed:
// the nodes point at a refused local port).
import { classifyError, NoHealthyReplicaError, ReplicaRouter, RouterClosedError } from "../../client/index";
import { decideReplicaHealth, LsnSample, recordPrimaryLsn, replicaLag } from "../../client/health";
import { compareLsn, formatLsn, isLsn, lsnDiff, maxLsn, parseLsn } from "../../client/lsn";
import { rotation } from "../../client/select";

describe("LSN", () => {
    test("parses both halves as hex into one 64-bit position", () => {
        expect(parseLsn("0/0")).toBe(0n);
        expect(parseLsn("0/3000148")).toBe(0x3000148n);
        expect(parseLsn("1/0")).toBe(1n << 32n);
        expect(parseLsn("16/B374D848")).toBe((0x16n << 32n) + 0xb374d848n);
        expect(parseLsn("FFFFFFFF/FFFFFFFF")).toBe(0xffffffffffffffffn);
        expect(parseLsn("a/b")).toBe((10n << 32n) + 11n);
    });

    test("refuses what is not an LSN", () => {
        for (const bad of ["", "0", "0/", "/0", "0/1/2", "G/0", "123456789/0", "0x1/0", "-1/0"]) {
            expect(() => parseLsn(bad)).toThrow(/invalid LSN/);
            expect(isLsn(bad)).toBe(false);
        }
        expect(isLsn(42)).toBe(false);
        expect(isLsn("0/3000148")).toBe(true);
    });

    test("formats like PostgreSQL and round-trips", () => {
        expect(formatLsn(0x3000148n)).toBe("0/3000148");
        expect(formatLsn((0x16n << 32n) + 0xb374d848n)).toBe("16/B374D848");
        expect(formatLsn(parseLsn("16/b374d848"))).toBe("16/B374D848");
        expect(() => formatLsn(-1n)).toThrow(RangeError);
    });

    test("compares numerically, not as text", () => {
        expect(compareLsn("0/A", "0/10")).toBe(-1); // as text "0/A" > "0/10"
        expect(compareLsn("1/0", "0/FFFFFFFF")).toBe(1);
        expect(compareLsn("0/3000148", "0/3000148")).toBe(0);
        expect(compareLsn("0/3000148", "0/3000149")).toBe(-1);
        expect(compareLsn("0/abc", "0/ABC")).toBe(0);
    });

    test("distance in bytes, across the 4 GB boundary", () => {
        expect(lsnDiff("1/0", "0/FFFFFFFF")).toBe(1n);
        expect(lsnDiff("0/1000000", "0/0")).toBe(16777216n);
        expect(lsnDiff("0/0", "0/10")).toBe(-16n);
    });

    test("maxLsn treats null as nothing yet", () => {
        expect(maxLsn(null, undefined)).toBeNull();
        expect(maxLsn(null, "0/5")).toBe("0/5");
        expect(maxLsn("0/5", null)).toBe("0/5");
        expect(maxLsn("0/A", "0/10")).toBe("0/10");
        expect(maxLsn("1/0", "0/10")).toBe("1/0");
    });
});

describe("round-robin", () => {
    test("starts at cursor mod n and keeps the rest in order for retries", () => {
        const r = ["a", "b", "c"];
        expect(rotation(r, 0)).toEqual(["a", "b", "c"]);
        expect(rotation(r, 1)).toEqual(["b", "c", "a"]);
        expect(rotation(r, 2)).toEqual(["c", "a", "b"]);
        expect(rotation(r, 3)).toEqual(["a", "b", "c"]);
        expect(rotation(r, 3001)).toEqual(["b", "c", "a"]);
        expect(rotation([], 5)).toEqual([]);
        expect(r).toEqual(["a", "b", "c"]); // not mutated
    });

    test("spreads consecutive reads evenly", () => {
        const counts: Record<string, number> = {};
        for (let cursor = 0; cursor < 300; cursor++) {
            const first = rotation(["pg2", "pg3", "pg4"], cursor)[0];
            counts[first] = (counts[first] ?? 0) + 1;
        }
        expect(counts).toEqual({ pg2: 100, pg3: 100, pg4: 100 });
    });

    test("refuses a bad cursor", () => {
        expect(() => rotation(["a"], -1)).toThrow(RangeError);
        expect(() => rotation(["a"], 1.5)).toThrow(RangeError);
    });
});

describe("primary LSN history", () => {
    const RET = 60_000;

    test("records only advances, with the time first seen", () => {
        let h = recordPrimaryLsn([], "0/100", 1000, RET);
        h = recordPrimaryLsn(h, "0/100", 2000, RET);
        h = recordPrimaryLsn(h, "0/200", 3000, RET);
        h = recordPrimaryLsn(h, "0/200", 4000, RET);
        expect(h).toEqual([
            { lsn: "0/100", at: 1000 },
            { lsn: "0/200", at: 3000 },
        ]);
    });

    test("a primary that went backwards is a different primary: history restarts", () => {
        const h = recordPrimaryLsn([{ lsn: "0/900", at: 1000 }], "0/100", 2000, RET);
        expect(h).toEqual([{ lsn: "0/100", at: 2000 }]);
    });

    test("drops old samples but keeps the newest one before the cutoff", () => {
        let h: LsnSample[] = [];
        for (let i = 1; i <= 100; i++) h = recordPrimaryLsn(h, formatLsn(BigInt(i * 100)), i * 1000, 10_000);
        // now = 100 s, cutoff = 90 s: samples at 90 … 100 s stay, and so does nothing older.
        expect(h[0]).toEqual({ lsn: formatLsn(9000n), at: 90_000 });
        expect(h).toHaveLength(11);
        // An idle primary's single sample is never dropped, however old.
        expect(recordPrimaryLsn([{ lsn: "0/100", at: 0 }], "0/100", 10_000_000, 10_000)).toEqual([
            { lsn: "0/100", at: 0 },
        ]);
    });

    test("does not mutate its input", () => {
        const h: LsnSample[] = [{ lsn: "0/100", at: 1000 }];
        recordPrimaryLsn(h, "0/200", 2000, RET);
        expect(h).toEqual([{ lsn: "0/100", at: 1000 }]);
    });
});

describe("replica lag", () => {
    test("an idle cluster is not lagging, however old the last transaction", () => {
        // Primary idle at 0/5000 since t=0; one hour later the replica has replayed all of it.
        const h = [{ lsn: "0/5000", at: 0 }];
        expect(replicaLag(h, "0/5000", 3_600_000)).toEqual({ lagBytes: 0, lagSeconds: 0 });
    });

    test("one write after a long idle time counts from when the primary had it, not from the last replayed commit", () => {
        let h = recordPrimaryLsn([], "0/5000", 0, 60_000);
        h = recordPrimaryLsn(h, "0/5100", 3_600_000, 60_000);
        expect(replicaLag(h, "0/5000", 3_600_050)).toEqual({ lagBytes: 0x100, lagSeconds: 0.05 });
    });

    test("a stuck replica's lag grows with time, in bytes and seconds", () => {
        const h = [
            { lsn: "0/1000", at: 0 },
            { lsn: "0/2000", at: 1000 },
            { lsn: "0/3000", at: 2000 },
        ];
        // Replayed up to 0/1800: it misses WAL the primary had at t = 1 s.
        expect(replicaLag(h, "0/1800", 5000)).toEqual({ lagBytes: 0x1800, lagSeconds: 4 });
        expect(replicaLag(h, "0/1800", 9000)).toEqual({ lagBytes: 0x1800, lagSeconds: 8 });
    });

    test("a replica probed after the primary may be ahead of the sample: zero, not negative", () => {
        expect(replicaLag([{ lsn: "0/1000", at: 0 }], "0/1100", 10)).toEqual({ lagBytes: 0, lagSeconds: 0 });
    });

    test("unknown before the primary has been seen", () => {
        expect(replicaLag([], "0/1000", 10)).toEqual({ lagBytes: null, lagSeconds: null });
    });
});

describe("replica health decision", () => {
    const h = [
        { lsn: "0/1000000", at: 0 },
        { lsn: "0/3000000", at: 10_000 },
    ];
    const bounds = { maxLagBytes: 16 * 1024 * 1024 };
    const ok = (replayLsn: string) => ({ ok: true as const, inRecovery: true, replayLsn });

    test("in rotation when reachable, in recovery and within bounds", () => {
        expect(decideReplicaHealth(ok("0/3000000"), h, bounds, 12_000)).toEqual({
            healthy: true,
            reason: "ok",
            lagBytes: 0,
            lagSeconds: 0,
        });
    });

    test("out when unreachable", () => {
        const d = decideReplicaHealth({ ok: false, error: "connect ECONNREFUSED 127.0.0.1:29433" }, h, bounds, 0);
        expect(d).toEqual({
            healthy: false,
            reason: "unreachable: connect ECONNREFUSED 127.0.0.1:29433",
            lagBytes: null,
            lagSeconds: null,
        });
    });

    test("out when not in recovery (promoted)", () => {
        const d = decideReplicaHealth({ ok: true, inRecovery: false, replayLsn: "0/3000000" }, h, bounds, 0);
        expect(d.healthy).toBe(false);
        expect(d.reason).toMatch(/not in recovery/);
    });

    test("out when in recovery without anything replayed", () => {
        expect(decideReplicaHealth({ ok: true, inRecovery: true, replayLsn: null }, h, bounds, 0).healthy).toBe(false);
    });

    test("out beyond maxLagBytes, in at exactly the bound", () => {
        const behind = decideReplicaHealth(ok("0/1000000"), h, bounds, 12_000); // 32 MiB behind
        expect(behind).toMatchObject({ healthy: false, lagBytes: 32 * 1024 * 1024 });
        expect(behind.reason).toBe("behind by 33554432 bytes (maxLagBytes 16777216)");
        expect(decideReplicaHealth(ok("0/2000000"), h, bounds, 12_000)).toMatchObject({
            healthy: true,
            lagBytes: 16 * 1024 * 1024,
        });
    });

    test("the seconds bound only counts while the replica is behind", () => {
        const strict = { maxLagBytes: 1 << 30, maxLagSeconds: 5 };
        // Behind since t = 10 s (the sample it misses); at 12 s that is 2 s, at 16 s it is 6 s.
        expect(decideReplicaHealth(ok("0/2000000"), h, strict, 12_000)).toMatchObject({ healthy: true, lagSeconds: 2 });
        const late = decideReplicaHealth(ok("0/2000000"), h, strict, 16_000);
        expect(late).toMatchObject({ healthy: false, lagSeconds: 6 });
        expect(late.reason).toBe("behind for 6.0 s (maxLagSeconds 5)");
        // Caught up: an hour of idleness is no lag.
        expect(decideReplicaHealth(ok("0/3000000"), h, strict, 3_600_000)).toMatchObject({
            healthy: true,
            lagBytes: 0,
            lagSeconds: 0,
        });
    });

    test("lag unknown (primary never reached) keeps the replica usable, and says so", () => {
        const d = decideReplicaHealth(ok("0/3000000"), [], bounds, 0);
        expect(d).toMatchObject({ healthy: true, lagBytes: null, lagSeconds: null });
        expect(d.reason).toMatch(/lag unknown/);
    });
});

describe("error classification", () => {
    const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code });

    test("socket failures and lost sessions are connection errors", () => {
        for (const code of ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTFOUND"]) {
            expect(classifyError(withCode(code))).toBe("connection");
        }
        // 08006 connection_failure, 57P01 admin_shutdown (fast shutdown), 57P03 cannot_connect_now.
        for (const code of ["08000", "08006", "08P01", "57P01", "57P02", "57P03"])
            expect(classifyError(withCode(code))).toBe("connection");
        expect(classifyError(new Error("Connection terminated unexpectedly"))).toBe("connection");
        expect(classifyError(new Error("Connection terminated due to connection timeout"))).toBe("connection");
        expect(classifyError(new Error("Client has encountered a connection error and is not queryable"))).toBe(
            "connection",
        );
    });

    test("nested causes and happy-eyeballs AggregateErrors are looked into", () => {
        expect(classifyError(new Error("wrapped", { cause: withCode("ECONNREFUSED") }))).toBe("connection");
        expect(classifyError(new AggregateError([withCode("ECONNREFUSED"), withCode("ECONNREFUSED")], "connect"))).toBe(
            "connection",
        );
        expect(classifyError(new AggregateError([], "empty"))).toBe("other");
    });

    test("a saturated pool or server is busy, not down", () => {
        expect(classifyError(new Error("timeout exceeded when trying to connect"))).toBe("busy");
        expect(classifyError(withCode("53300", "sorry, too many clients already"))).toBe("busy");
    });

    test("query errors are thrown to the caller", () => {
        for (const code of ["42601", "42P01", "23505", "25006", "40001", "57014"])
            expect(classifyError(withCode(code))).toBe("other");
        expect(classifyError("a string")).toBe("other");
        expect(classifyError(null)).toBe("other");
    });
});

describe("ReplicaRouter without servers", () => {
    // Port 1 on loopback refuses at once: every probe fails fast.
    const nowhere = "postgresql://app:s3cret-pw@127.0.0.1:1/app";

    test("validates its options", () => {
        expect(() => new ReplicaRouter({ primary: nowhere, replicas: [], healthIntervalMs: 0 })).toThrow(
            /healthIntervalMs must be a positive number/,
        );
        expect(() => new ReplicaRouter({ primary: nowhere, replicas: [], maxLagBytes: -1 })).toThrow(/maxLagBytes/);
        expect(() => new ReplicaRouter({ primary: nowhere, replicas: [], maxLagSeconds: Number.NaN })).toThrow(
            /maxLagSeconds/,
        );
        expect(() => new ReplicaRouter({ primary: nowhere, replicas: "x" as unknown as string[] })).toThrow(
            /replicas must be an array/,
        );
    });

    test("status names nodes by host:port (never the password) and explains failures", async () => {
        const router = new ReplicaRouter({
            primary: nowhere,
            replicas: [nowhere, { host: "127.0.0.1", port: 1, name: "pg9" }],
        });
        try {
            await router.ready();
            const s = router.status();
            expect(s.primary).toMatchObject({ name: "127.0.0.1:1", healthy: false });
            expect(s.primary.reason).toMatch(/^unreachable: .*ECONNREFUSED/);
            expect(s.replicas.map((r) => r.name)).toEqual(["127.0.0.1:1#2", "pg9"]);
            expect(s.replicas[0]).toMatchObject({ healthy: false, lagBytes: null });
            expect(s.replicas[0].lastCheckedAt).toBeInstanceOf(Date);
            expect(JSON.stringify(s)).not.toContain("s3cret-pw");
        } finally {
            await router.close();
        }
    });

    test("with fallbackToPrimary false and no healthy replica, a read throws a clear error", async () => {
        const router = new ReplicaRouter({ primary: nowhere, replicas: [nowhere], fallbackToPrimary: false });
        try {
            const err = await router.read("SELECT 1").catch((e: unknown) => e);
            expect(err).toBeInstanceOf(NoHealthyReplicaError);
            expect((err as Error).message).toMatch(
                /^no healthy replica to read from, and fallbackToPrimary is false \(127\.0\.0\.1:1#2: unreachable: /,
            );
        } finally {
            await router.close();
        }
    });

    test("after close() every call fails with RouterClosedError, and close is idempotent", async () => {
        const router = new ReplicaRouter({ primary: nowhere, replicas: [] });
        await router.close();
        await router.close();
        await expect(router.read("SELECT 1")).rejects.toBeInstanceOf(RouterClosedError);
        await expect(router.write("SELECT 1")).rejects.toBeInstanceOf(RouterClosedError);
    });
});
