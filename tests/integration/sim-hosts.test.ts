// The simulated Docker hosts (scripts/sim-hosts.sh, issue 19's test bed): two hosts, each a network
// namespace with its own containerd and dockerd, the local image loaded into each. A server published
// on host 1's address answers host 2's containers and the machine itself; cutting host 1's link stops
// that and healing it brings it back; stopping host 1's engine stops its containers; `delay` adds
// measured latency to each host's outgoing packets (netem, or the NFQUEUE delayer where the kernel has
// no netem) and `delay 0` removes it; `down` leaves no namespace, bridge, firewall rule or directory.
// Addresses: 10.99.0.0/24 (the script's own bridge), port 18080.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { eventually, exec, IMAGE } from "../support/faults";

jest.setTimeout(300_000);

const SCRIPT = path.resolve(__dirname, "..", "..", "scripts", "sim-hosts.sh");
const PORT = 18080;
const H2 = "10.99.0.12";
/** A port nothing listens on in the hosts' namespaces (discard). */
const CLOSED_PORT = 9;

function sim(...args: string[]): { code: number; stdout: string; stderr: string } {
    const r = spawnSync("bash", [SCRIPT, ...args], { encoding: "utf8", timeout: 240_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function dockerOn(host: number, args: string[], timeoutMs = 60_000) {
    return exec(["docker", "-H", `unix:///run/pgr-sim-hosts/h${host}/docker.sock`, ...args], timeoutMs);
}

/**
 * The median time, in ms, of `tries` TCP connection attempts from host `from`'s namespace (0: this
 * machine) to a port nobody listens on at `address`: the host's kernel answers each SYN with a reset,
 * so one attempt is one round trip. Infinity when most attempts time out (500 ms each).
 */
function roundTripMs(from: number, address: string, tries = 15): number {
    const script = `
const net = require("net");
const once = () => new Promise((done) => {
    const t = process.hrtime.bigint();
    const s = net.connect({ host: ${JSON.stringify(address)}, port: ${CLOSED_PORT} });
    const end = (ms) => { s.destroy(); done(ms); };
    s.setTimeout(500, () => end(Infinity));
    const answered = () => end(Number(process.hrtime.bigint() - t) / 1e6);
    s.on("connect", answered);
    s.on("error", answered);
});
(async () => {
    const times = [];
    for (let i = 0; i < ${tries}; i++) times.push(await once());
    times.sort((a, b) => a - b);
    console.log(times[${Math.floor(tries / 2)}]);
})();`;
    const argv = from === 0 ? [process.execPath] : ["nsenter", `--net=/run/netns/pgr-sim-h${from}`, process.execPath];
    const r = spawnSync(argv[0], [...argv.slice(1), "-e", script], { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`round trip from host ${from} failed: ${r.stderr}`);
    return Number(r.stdout.trim());
}

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

/** An HTTP GET of host 1's published server from a throw-away container on host 2. */
async function fetchFromHost2(): Promise<string> {
    const r = await dockerOn(2, [
        "run",
        "--rm",
        "--entrypoint",
        "python3",
        IMAGE,
        "-c",
        `import urllib.request\ntry:\n  print(urllib.request.urlopen('http://10.99.0.11:${PORT}', timeout=2).status)\nexcept Exception as e:\n  print(type(e).__name__)`,
    ]);
    return r.stdout.trim();
}

describe("simulated Docker hosts", () => {
    beforeAll(() => {
        sim("down");
        const up = sim("up", "2");
        expect(up.stderr).toContain("host 2: 10.99.0.12");
        expect(up.code).toBe(0);
    }, 240_000);
    afterAll(() => {
        sim("down");
    });

    test("each host runs its own engine holding the image, on its own address", async () => {
        expect(sim("status").stdout.trim().split("\n")).toEqual([
            "h1 10.99.0.11 unix:///run/pgr-sim-hosts/h1/docker.sock engine=up link=up delay=none",
            "h2 10.99.0.12 unix:///run/pgr-sim-hosts/h2/docker.sock engine=up link=up delay=none",
        ]);
        const engines = await Promise.all(
            [1, 2].map((h) => dockerOn(h, ["info", "--format", "{{.DockerRootDir}} {{.Labels}}"])),
        );
        expect(engines.map((r) => r.stdout.trim())).toEqual([
            "/var/cache/pgr-sim-hosts/h1/docker [pg-replication.sim-host=h1]",
            "/var/cache/pgr-sim-hosts/h2/docker [pg-replication.sim-host=h2]",
        ]);
        const images = await dockerOn(2, ["image", "inspect", "--format", "{{.Id}}", IMAGE]);
        expect(images.code).toBe(0);
    });

    test("a port published on host 1 answers host 2 and this machine; a cut link stops that, heal restores it", async () => {
        const run = await dockerOn(1, [
            "run",
            "-d",
            "--name",
            "sim-web",
            "-p",
            `10.99.0.11:${PORT}:${PORT}`,
            "--entrypoint",
            "python3",
            IMAGE,
            "-m",
            "http.server",
            String(PORT),
        ]);
        expect(run.code).toBe(0);
        await eventually("host 2 reaches host 1's server", 30_000, async () => {
            const got = await fetchFromHost2();
            return got === "200" ? true : got;
        });
        const local = await exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", `http://10.99.0.11:${PORT}/`]);
        expect(local.stdout).toBe("200");

        expect(sim("cut", "1").code).toBe(0);
        expect(sim("status").stdout).toContain(
            "h1 10.99.0.11 unix:///run/pgr-sim-hosts/h1/docker.sock engine=up link=down delay=none",
        );
        expect(await fetchFromHost2()).not.toBe("200");

        expect(sim("heal", "1").code).toBe(0);
        await eventually("host 2 reaches host 1 again", 30_000, async () => {
            const got = await fetchFromHost2();
            return got === "200" ? true : got;
        });
    });

    test("stopping host 1's engine stops its containers; starting it brings the engine back", async () => {
        expect(sim("engine-stop", "1").code).toBe(0);
        expect(sim("status").stdout).toContain("h1 10.99.0.11 unix:///run/pgr-sim-hosts/h1/docker.sock engine=down");
        expect(sim("engine-start", "1").code).toBe(0);
        const state = await dockerOn(1, ["inspect", "--format", "{{.State.Running}}", "sim-web"]);
        expect(state.stdout.trim()).toBe("false");
    });

    test("delay MS holds each host's outgoing packets MS ms: a round trip between two hosts grows by 2*MS, one from this machine by MS; delay 0 removes it", () => {
        const before = roundTripMs(1, H2);
        const beforeMachine = roundTripMs(0, H2);
        expect(before).toBeLessThan(5);

        const on = sim("delay", "10");
        expect(on.stderr).toBe("");
        expect(on.code).toBe(0);
        const lines = sim("status").stdout.trim().split("\n");
        expect(lines).toHaveLength(2);
        for (const line of lines) expect(line).toMatch(/ delay=10ms\((netem|nfqueue)\)$/);
        // Both hosts' egress: 20 ms more between them (a user-space delayer wakes a little late: some
        // tenths of a millisecond per packet on top), 10 ms more from this machine (only the reply waits).
        const between = roundTripMs(1, H2) - before;
        expect(between).toBeGreaterThanOrEqual(19.5);
        expect(between).toBeLessThan(30);
        const fromMachine = roundTripMs(0, H2) - beforeMachine;
        expect(fromMachine).toBeGreaterThanOrEqual(9.5);
        expect(fromMachine).toBeLessThan(20);

        const delayers = [1, 2]
            .map((h) => `/run/pgr-sim-hosts/h${h}/delay.pid`)
            .filter((f) => fs.existsSync(f))
            .map((f) => Number(fs.readFileSync(f, "utf8")));
        expect(sim("delay", "0").code).toBe(0);
        expect(delayers.filter(alive)).toEqual([]);
        expect(
            sim("status")
                .stdout.trim()
                .split("\n")
                .map((l) => l.split(" ").pop()),
        ).toEqual(["delay=none", "delay=none"]);
        expect(roundTripMs(1, H2)).toBeLessThan(before + 2);
    });

    test("without netem, a delayer that dies drops its host's outgoing packets (never undelayed) and status says so; delay 0 clears it", () => {
        expect(sim("delay", "2").code).toBe(0);
        const line2 = () => sim("status").stdout.split("\n")[1];
        if (line2().endsWith("delay=2ms(netem)")) {
            // The kernel delays the packets itself: there is no delayer to lose.
            expect(sim("delay", "0").code).toBe(0);
            return;
        }
        expect(line2()).toMatch(/ delay=2ms\(nfqueue\)$/);
        const pid = Number(fs.readFileSync("/run/pgr-sim-hosts/h2/delay.pid", "utf8"));
        process.kill(pid, "SIGKILL");
        expect(line2()).toMatch(/ delay=2ms\(nfqueue,delayer-dead\)$/);
        // Host 1's packets still reach host 2, but host 2's answers are dropped: no round trip completes.
        expect(roundTripMs(1, H2, 3)).toBe(Infinity);
        expect(sim("delay", "0").code).toBe(0);
        expect(line2()).toMatch(/ delay=none$/);
        expect(roundTripMs(1, H2)).toBeLessThan(5);
    });

    test("usage errors name the fix", () => {
        expect(sim("cut", "7").stderr).toContain(
            "host 7 does not exist; start it with: bash scripts/sim-hosts.sh up 7",
        );
        expect(sim("up", "0").stderr).toContain("up needs a host count 1..9");
        expect(sim("--help").stdout).toContain("Usage: bash scripts/sim-hosts.sh COMMAND");
    });

    test("down leaves no namespace, bridge, firewall rule or directory but the image stores; down --purge removes those", async () => {
        // What a failed test may leave on an engine: a named volume and a network.
        expect((await dockerOn(1, ["volume", "create", "sim-left-volume"])).code).toBe(0);
        expect((await dockerOn(1, ["network", "create", "sim-left-network"])).code).toBe(0);
        expect(sim("down").code).toBe(0);
        const left = spawnSync(
            "sh",
            [
                "-c",
                "ip netns list | grep pgr-sim; ip link show pgr-sim0 2>/dev/null; iptables -S FORWARD | grep pgr-sim0; true",
            ],
            { encoding: "utf8" },
        );
        expect(left.stdout.trim()).toBe("");
        expect(fs.existsSync("/var/lib/pgr-sim-hosts")).toBe(false);
        expect(fs.existsSync("/run/pgr-sim-hosts")).toBe(false);
        // Both hosts' stores stay (a store of a host another run started, h3 say, may be there too).
        expect(fs.readdirSync("/var/cache/pgr-sim-hosts")).toEqual(expect.arrayContaining(["h1", "h2"]));

        // The next up finds the image in the store and loads nothing; the store held nothing else.
        const again = sim("up", "1");
        expect(again.code).toBe(0);
        expect(again.stderr).not.toContain("loading");
        expect((await dockerOn(1, ["image", "inspect", "--format", "{{.Id}}", IMAGE])).code).toBe(0);
        expect((await dockerOn(1, ["volume", "ls", "-q"])).stdout.trim()).toBe("");
        expect(
            (await dockerOn(1, ["network", "ls", "--format", "{{.Name}}"])).stdout.trim().split("\n").sort(),
        ).toEqual(["bridge", "host", "none"]);

        expect(sim("down", "--purge").code).toBe(0);
        expect(fs.existsSync("/var/cache/pgr-sim-hosts")).toBe(false);
        expect(fs.existsSync("/run/pgr-sim-hosts")).toBe(false);
    }, 120_000);
});
