// Issue 8 item 2: a moved image tag restarts nothing; changing the image is a rolling operation
// (replicas one by one, a switchover, then the old primary) with no acknowledged commit lost.
// Two locally built tags of the local image; own stack name, subnet and ports.
import { Client } from "pg";
import { run } from "../../harness/docker-api";
import { CommitWriter } from "../../ops/ack-writer";
import {
    containerIdentity,
    eventually,
    forceCleanup,
    liveOk,
    localSuperuser,
    runScript,
    sql,
    testStackArgs,
} from "../support/live-client";

jest.setTimeout(600_000);

const STACK = `ri${process.pid}`;
const PORT = 21432;
const PW = "ri-super-pw-1";
const BASE_IMAGE = "pg-replication/postgres:17-local";
const TAG_A = `pg-replication/postgres:17-ri-a-${process.pid}`;
const TAG_B = `pg-replication/postgres:17-ri-b-${process.pid}`;
const ARGS = testStackArgs({
    stack: STACK,
    subnet: "172.29.87.0/24",
    port: PORT,
    password: PW,
    extra: ["pooler=false", `image=${TAG_A}`, "pullImage=true"],
});
const nodes = [1, 2, 3];
const port = (n: number) => PORT + n - 1;

async function docker(...args: string[]): Promise<string> {
    const res = await run(["docker", ...args]);
    if (res.code !== 0) throw new Error(`docker ${args.join(" ")}: ${res.stderr}`);
    return res.stdout.trim();
}

function rollImage(image: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return runScript("roll-image", ["--image", image, "--stack", STACK, "--live", "--json"]);
}

/**
 * Autocommit inserts through whichever node accepts writes, recording acknowledged ids. pg has no
 * libpq-style host list: the session stays on a node while its inserts succeed, and every failure (an
 * insert a standby refuses, a node being stopped or switched over) moves it on to the next node.
 */
function writerToPrimary(): CommitWriter<number> {
    const writer: CommitWriter<number> = new CommitWriter({
        endpoint: () => nodes[writer.errors % nodes.length],
        client: (n) => new Client(localSuperuser(port(n), PW, { connectionTimeoutMillis: 2000 })),
        table: "ri_data",
        maxMs: 240_000,
        retryMs: 50,
    });
    return writer;
}

describe(`rolling image changes (stack ${STACK})`, () => {
    beforeAll(async () => {
        await forceCleanup(STACK);
        await docker("tag", BASE_IMAGE, TAG_A);
        await docker("tag", BASE_IMAGE, TAG_B);
        await liveOk(["up", ...ARGS]);
        await sql(port(1), PW, "CREATE TABLE ri_data (id int PRIMARY KEY)");
    });
    afterAll(async () => {
        await forceCleanup(STACK);
        await run(["docker", "rm", "-f", `${STACK}-retag`]);
        await run(["docker", "rmi", TAG_A, TAG_B]);
    });

    // pullImage true: a RemoteImage, which the refresh before each deployment reads again by name
    // (a local tag is found without pulling anything).
    test("a tag that moved to another image restarts nothing", async () => {
        const before = await Promise.all(nodes.map((n) => containerIdentity(`${STACK}-pg${n}`)));
        // Move TAG_A to a different image id (the same files with one more label).
        await docker("create", "--name", `${STACK}-retag`, TAG_A, "true");
        await docker("commit", "--change", "LABEL pg-replication.test=moved", `${STACK}-retag`, TAG_A);
        expect(await docker("image", "inspect", "-f", "{{.Id}}", TAG_A)).not.toBe(
            await docker("image", "inspect", "-f", "{{.Id}}", BASE_IMAGE),
        );
        const res = await liveOk(["up", "--stack", STACK]);
        expect(res.stderr).toMatch(/refreshed docker:index\/remoteImage:RemoteImage\s+\S+ \(now sha256:/);
        expect(res.actions.filter(([a, type]) => a !== "unchanged" && type.includes("Container"))).toEqual([]);
        expect(await Promise.all(nodes.map((n) => containerIdentity(`${STACK}-pg${n}`)))).toEqual(before);
    });

    test("changing the image in config restarts nothing until roll-image moves the nodes one by one, losing no commit", async () => {
        const before = await Promise.all(nodes.map((n) => containerIdentity(`${STACK}-pg${n}`)));
        const res = await liveOk(["up", "--stack", STACK, "--config", `image=${TAG_B}`]);
        expect(res.actions.filter(([a, type]) => a !== "unchanged" && type.includes("Container"))).toEqual([]);
        expect(await Promise.all(nodes.map((n) => containerIdentity(`${STACK}-pg${n}`)))).toEqual(before);

        const writer = writerToPrimary();
        writer.start();
        await eventually("the writer commits", 30_000, () => writer.acked.length > 50);
        const roll = await rollImage(TAG_B);
        await new Promise((r) => setTimeout(r, 500));
        await writer.stop();
        expect(roll.stderr).toContain(`rolling image of stack ${STACK}`);
        expect(roll.code).toBe(0);
        const summary = JSON.parse(roll.stdout);
        expect(summary.rolled).toEqual(["pg2", "pg3", "pg1"]);
        // Replicas first, one at a time (each streamed before the next went), then the old primary.
        const steps: string[] = summary.timings.map((s: { step: string }) => s.step);
        expect(steps.findIndex((s) => s.startsWith("pg2 re-created"))).toBeLessThan(
            steps.findIndex((s) => s.startsWith("pg3 re-created")),
        );
        expect(steps.findIndex((s) => s.startsWith("switched over"))).toBeLessThan(
            steps.findIndex((s) => s.startsWith("pg1 re-created")),
        );
        for (const n of nodes)
            expect(await docker("inspect", "-f", "{{.Config.Image}}", `${STACK}-pg${n}`)).toBe(TAG_B);
        // The backup repository last, on the same image (one pgBackRest version on both sides).
        expect(steps.at(-1)).toBe(`backup repository re-created on ${TAG_B}`);
        expect(await docker("inspect", "-f", "{{.Config.Image}}", `${STACK}-backup`)).toBe(TAG_B);

        const primaryPort = port(2);
        expect((await sql(primaryPort, PW, "SELECT pg_is_in_recovery() AS r"))[0].r).toBe(false);
        const present = new Set(
            (await sql<{ id: number }>(primaryPort, PW, "SELECT id FROM ri_data")).map((r) => r.id),
        );
        expect(writer.acked.length).toBeGreaterThan(50);
        expect(writer.acked.filter((id) => !present.has(id))).toEqual([]);
        // A deployment afterwards agrees with the cluster: nothing to change.
        const again = await liveOk(["up", "--stack", STACK]);
        expect(again.actions.filter(([a, type]) => a !== "unchanged" && type.includes("Container"))).toEqual([]);
    });
});
