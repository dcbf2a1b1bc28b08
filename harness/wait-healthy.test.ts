// The docker double's `wait` (waitHealthy) against a scripted Engine API on a unix socket: it polls
// every second until healthy, and a missing healthcheck or an Engine error ends the wait at once.
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { DockerEngine } from "./docker-api";
import { waitHealthy } from "./docker-double";

/** An Engine whose inspect of container `c1` answers each of `answers` in turn (the last one repeats). */
async function scriptedEngine(answers: Array<{ status: number; body: unknown }>) {
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
    const engine: DockerEngine = { host: `unix://${socketPath}`, socketPath };
    const close = async () => {
        await new Promise((resolve) => server.close(resolve));
        fs.rmSync(dir, { recursive: true, force: true });
    };
    return { engine, inspections: () => inspected, close };
}

const health = (status: string) => ({ status: 200, body: { State: { Health: { Status: status } } } });

describe("waitHealthy (the container's wait)", () => {
    test("polls until healthy, whatever the status meanwhile", async () => {
        const e = await scriptedEngine([health("starting"), health("unhealthy"), health("healthy")]);
        try {
            await expect(waitHealthy(e.engine, "c1", "pg1", 10_000)).resolves.toBeUndefined();
            expect(e.inspections()).toBe(3);
        } finally {
            await e.close();
        }
    });

    test("a container without a healthcheck fails at once", async () => {
        const e = await scriptedEngine([{ status: 200, body: { State: {} } }]);
        try {
            await expect(waitHealthy(e.engine, "c1", "pg1", 10_000)).rejects.toThrow(
                "container pg1: you have supplied a 'wait' argument, but the container does not have a healthcheck defined",
            );
            expect(e.inspections()).toBe(1);
        } finally {
            await e.close();
        }
    });

    test("an Engine error fails at once with the Engine's message, not at the deadline", async () => {
        const e = await scriptedEngine([
            health("starting"),
            { status: 404, body: { message: "No such container: c1" } },
        ]);
        try {
            await expect(waitHealthy(e.engine, "c1", "pg1", 10_000)).rejects.toThrow(
                "GET /containers/c1/json: 404 No such container: c1",
            );
            expect(e.inspections()).toBe(2);
        } finally {
            await e.close();
        }
    });

    test("past the wait timeout fails naming the time and the last status", async () => {
        const e = await scriptedEngine([health("starting")]);
        try {
            await expect(waitHealthy(e.engine, "c1", "pg1", 0)).rejects.toThrow(
                "container pg1 failed to be in healthy state in time (0s, last starting); last log lines:",
            );
            expect(e.inspections()).toBe(1);
        } finally {
            await e.close();
        }
    });
});
