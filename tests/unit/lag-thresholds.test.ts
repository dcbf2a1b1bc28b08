// evaluateThresholds' order of breaches: replica by replica, and within a replica the reply age first
// (a replica that stopped answering may still have positions), then position-unknown or the lag limits.
import { evaluateThresholds, ReplicaLag } from "../../ops/lag";

const replica = (over: Partial<ReplicaLag>): ReplicaLag => ({
    node: "pg2",
    container: "s-pg2",
    running: true,
    state: "streaming",
    clientAddr: "172.29.81.3",
    syncState: "async",
    syncPriority: 0,
    sentLsn: "0/5000000",
    writeLsn: "0/5000000",
    flushLsn: "0/5000000",
    replayLsn: "0/5000000",
    lagBytes: 0,
    sentToReplayBytes: 0,
    writeLagSeconds: 0,
    flushLagSeconds: 0,
    replayLagSeconds: 0,
    replyAgeSeconds: 0.1,
    slot: null,
    ...over,
});

const all = { maxLagBytes: 1, maxLagSeconds: 1, maxReplyAgeSeconds: 5 };

describe("evaluateThresholds: which breaches, in which order", () => {
    test("a silent replica without a position: reply age, then position-unknown (no lag limits checked)", () => {
        const breaches = evaluateThresholds(
            [replica({ state: "startup", lagBytes: null, replayLagSeconds: 9, replyAgeSeconds: 6 })],
            all,
        );
        expect(breaches.map((b) => [b.node, b.reason, b.severity, b.value, b.limit])).toEqual([
            ["pg2", "reply-age", "critical", 6, 5],
            ["pg2", "position-unknown", "critical", null, null],
        ]);
    });

    test("a silent replica behind both limits: reply age, bytes, seconds; replicas in the order given", () => {
        const breaches = evaluateThresholds(
            [
                replica({ node: "pg3", lagBytes: 10, replayLagSeconds: 10, replyAgeSeconds: 60 }),
                replica({ node: "pg2", state: "disconnected", running: false, lagBytes: null }),
            ],
            all,
        );
        expect(breaches.map((b) => `${b.node} ${b.reason}`)).toEqual([
            "pg3 reply-age",
            "pg3 lag-bytes",
            "pg3 lag-seconds",
            "pg2 disconnected",
        ]);
        expect(breaches[0].message).toBe("pg3 has not replied for 1m00s, over --max-reply-age 5");
        // Every breach carries the same six fields, severity third (JSON output keeps this order).
        expect(breaches.map((b) => Object.keys(b))).toEqual(
            Array(4).fill(["node", "reason", "severity", "value", "limit", "message"]),
        );
    });
});
