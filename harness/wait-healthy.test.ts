// The docker double's `wait` (waitHealthy) against a scripted Engine API on a unix socket: it polls
// every second until healthy, and a missing healthcheck or an Engine error ends the wait at once.
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { DockerEngine } from "./docker-api";
import { waitHealthy } from "./docker-double";

/**
 * Runs `use` against an Engine whose inspect of container `c1` answers each of `answers` in turn (the
 * last one repeats); `inspections` counts the inspects so far.
 */
async function withEngine(
    answers: Array<{ status: number; body: unknown }>,
    use: (engine: DockerEngine, inspections: () => number) => Promise<void>,
): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgr-engine-"));
    const socketPath = path.join(dir, "docker.sock");
    let inspected = 0;
    const server = http.createServer((req, res) => {
        const answer =
            req.url === "/containers/c1/json"
                ? answers[Math.min(inspected++, answers.length - 1)]
                : { status: 404, body: { message: "not scripted" } };
        res.writeHead(answer.status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(answer.body));
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
        await use({ host: `unix://${socketPath}`, socketPath }, () => inspected);
    } finally {
        await new Promise((resolve) => server.close(resolve));
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const health = (status: string) => ({ status: 200, body: { State: { Health: { Status: status } } } });

describe("waitHealthy (the container's wait)", () => {
    test("polls until healthy, whatever the status meanwhile", async () => {
        await withEngine([health("starting"), health("unhealthy"), health("healthy")], async (engine, inspections) => {
            await expect(waitHealthy(engine, "c1", "pg1", 10_000)).resolves.toBeUndefined();
            expect(inspections()).toBe(3);
        });
    });

    test("a container without a healthcheck fails at once", async () => {
        await withEngine([{ status: 200, body: { State: {} } }], async (engine, inspections) => {
            await expect(waitHealthy(engine, "c1", "pg1", 10_000)).rejects.toThrow(
                "container pg1: you have supplied a 'wait' argument, but the container does not have a healthcheck defined",
            );
            expect(inspections()).toBe(1);
        });
    });

    test("an Engine error fails at once with the Engine's message, not at the deadline", async () => {
        await withEngine(
            [health("starting"), { status: 404, body: { message: "No such container: c1" } }],
            async (engine, inspections) => {
                await expect(waitHealthy(engine, "c1", "pg1", 10_000)).rejects.toThrow(
                    "GET /containers/c1/json: 404 No such container: c1",
                );
                expect(inspections()).toBe(2);
            },
        );
    });

    test("past the wait timeout fails naming the time and the last status", async () => {
        await withEngine([health("starting")], async (engine, inspections) => {
            await expect(waitHealthy(engine, "c1", "pg1", 0)).rejects.toThrow(
                "container pg1 failed to be in healthy state in time (0s, last starting); last log lines:",
            );
            expect(inspections()).toBe(1);
        });
    });
});
