// The one poll with a deadline (ops/ops.ts pollUntil) and its throwing forms: waitFor (ops) and
// eventually (tests/support/live-client.ts).
import { OpsError, pollUntil, waitFor } from "../../ops/ops";
import { eventually } from "../support/live-client";

describe("pollUntil", () => {
    test("asks until the probe says true", async () => {
        let asked = 0;
        const r = await pollUntil(Date.now() + 5000, () => ++asked === 3 || `asked ${asked}`, 1);
        expect(r).toBe(true);
        expect(asked).toBe(3);
    });

    test("at the deadline returns what the probe last said; a thrown error is what it said", async () => {
        let asked = 0;
        const started = Date.now();
        const r = await pollUntil(
            started + 30,
            () => {
                asked++;
                if (asked % 2 === 0) throw new Error(`failed at ${asked}`);
                return `saw ${asked}`;
            },
            5,
        );
        expect(Date.now() - started).toBeGreaterThanOrEqual(30);
        expect(asked).toBeGreaterThan(1);
        expect(r).toBe(asked % 2 === 0 ? `failed at ${asked}` : `saw ${asked}`);
    });

    test("asks at least once, even with the deadline past; false is said as 'false'", async () => {
        let asked = 0;
        expect(await pollUntil(Date.now() - 1, () => (asked++, false))).toBe("false");
        expect(asked).toBe(1);
        expect(await pollUntil(Date.now() - 1, () => Promise.resolve(true))).toBe(true);
    });

    test('with onError "throw" a probe\'s error ends the poll at once and is thrown', async () => {
        let asked = 0;
        const started = Date.now();
        const probe = () => {
            if (++asked === 2) throw new Error(`failed at ${asked}`);
            return false;
        };
        await expect(pollUntil(started + 5000, probe, 5, "throw")).rejects.toThrow("failed at 2");
        expect(asked).toBe(2);
        expect(Date.now() - started).toBeLessThan(5000);
    });
});

describe("waitFor and eventually word the timeout", () => {
    test("waitFor: an OpsError naming what, the time and the last answer", async () => {
        const err = await waitFor("the thing", 20, () => "not yet", 5).catch((e: Error) => e);
        expect(err).toBeInstanceOf(OpsError);
        expect((err as Error).message).toBe("the thing: not done within 0.02s (not yet)");
        await expect(waitFor("done", 20, () => true, 5)).resolves.toBeUndefined();
    });

    test("eventually: an Error naming what, the time and the last answer", async () => {
        await expect(eventually("the thing", 20, () => false)).rejects.toThrow(
            "the thing did not happen within 20 ms (last: false)",
        );
        await expect(eventually("done", 20, () => Promise.resolve(true))).resolves.toBeUndefined();
    });
});
