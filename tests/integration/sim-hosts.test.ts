// The simulated Docker hosts (scripts/sim-hosts.sh, issue 19's test bed): two hosts, each a network
// namespace with its own containerd and dockerd, the local image loaded into each. A server published
// on host 1's address answers host 2's containers and the machine itself; cutting host 1's link stops
// that and healing it brings it back; stopping host 1's engine stops its containers; `delay` adds
// latency or says why it cannot; `down` leaves no namespace, bridge, firewall rule or directory.
// Addresses: 10.99.0.0/24 (the script's own bridge), port 18080.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { eventually, exec, IMAGE } from "../support/faults";

jest.setTimeout(300_000);

const SCRIPT = path.resolve(__dirname, "..", "..", "scripts", "sim-hosts.sh");
const PORT = 18080;

function sim(...args: string[]): { code: number; stdout: string; stderr: string } {
    const r = spawnSync("bash", [SCRIPT, ...args], { encoding: "utf8", timeout: 240_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function dockerOn(host: number, args: string[], timeoutMs = 60_000) {
    return exec(["docker", "-H", `unix:///run/pgr-sim-hosts/h${host}/docker.sock`, ...args], timeoutMs);
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
            "h1 10.99.0.11 unix:///run/pgr-sim-hosts/h1/docker.sock engine=up link=up",
            "h2 10.99.0.12 unix:///run/pgr-sim-hosts/h2/docker.sock engine=up link=up",
        ]);
        const engines = await Promise.all(
            [1, 2].map((h) => dockerOn(h, ["info", "--format", "{{.DockerRootDir}} {{.Labels}}"])),
        );
        expect(engines.map((r) => r.stdout.trim())).toEqual([
            "/var/lib/pgr-sim-hosts/h1/docker [pg-replication.sim-host=h1]",
            "/var/lib/pgr-sim-hosts/h2/docker [pg-replication.sim-host=h2]",
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
            "h1 10.99.0.11 unix:///run/pgr-sim-hosts/h1/docker.sock engine=up link=down",
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

    test("delay adds latency where the kernel has netem, and says why not where it has none", () => {
        const r = sim("delay", "2");
        const kernel = fs.existsSync("/proc/config.gz")
            ? spawnSync("sh", ["-c", "zcat /proc/config.gz"], { encoding: "utf8", maxBuffer: 1 << 24 }).stdout
            : "";
        if (/^CONFIG_NET_SCH_NETEM=[ym]$/m.test(kernel)) {
            expect(r.code).toBe(0);
            expect(sim("delay", "0").code).toBe(0);
        } else {
            expect(r.code).toBe(1);
            expect(r.stderr).toContain("has no netem queueing discipline (CONFIG_NET_SCH_NETEM)");
        }
    });

    test("usage errors name the fix", () => {
        expect(sim("cut", "7").stderr).toContain(
            "host 7 does not exist; start it with: bash scripts/sim-hosts.sh up 7",
        );
        expect(sim("up", "0").stderr).toContain("up needs a host count 1..9");
        expect(sim("--help").stdout).toContain("Usage: bash scripts/sim-hosts.sh COMMAND");
    });

    test("down leaves no namespace, bridge, firewall rule or directory", () => {
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
    });
});
