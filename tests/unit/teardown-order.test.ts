// How `pulumi destroy` schedules the program's deletes (harness/engine.ts deletionOrder, the engine's
// ScheduleDeletes): every data volume must go in one antichain, because the docker provider waits 2 s
// before its first attempt at each volume delete, and antichains run one after another.
import { deletionOrder } from "../../harness/engine";
import { ResourceRecord } from "../../harness/state";
import { MockRun, runProgramWithMocks } from "../support/mock-program";

const VOLUME = "docker:index/volume:Volume";

/** The program's resources as the state records them, with the dependencies the SDK sent. */
function records(run: MockRun): ResourceRecord[] {
    return run.resources.map((r, seq) => ({
        key: `${r.type}::${r.name}`,
        type: r.type,
        name: r.name,
        id: `${r.name}-id`,
        inputs: {},
        secretInputs: [],
        outputs: {},
        seq,
        secretOutputs: [],
        dependsOn: r.dependencies,
    }));
}

/** For each antichain of the teardown, the names of the volumes it deletes (antichains without one left out). */
function volumeSteps(run: MockRun): string[][] {
    return deletionOrder(records(run))
        .map((chain) => chain.filter((r) => r.type === VOLUME).map((r) => r.name))
        .filter((names) => names.length > 0);
}

const PASSWORDS = { superuserPassword: "pw-123456", replicationPassword: "pw-654321" };

describe("teardown: every data volume is deleted in one step", () => {
    test("manual mode: the nodes' volumes and the backup repository's", async () => {
        const run = await runProgramWithMocks({ replicas: "2", ...PASSWORDS });
        const steps = volumeSteps(run);
        expect(steps.flat().sort()).toEqual(["pg-backup-volume", "pg-pg1-data", "pg-pg2-data", "pg-pg3-data"]);
        expect(steps).toHaveLength(1);
    });

    test("patroni mode: the nodes', the etcd members' and the repository's", async () => {
        const run = await runProgramWithMocks({ replicas: "2", failover: "patroni", ...PASSWORDS });
        const steps = volumeSteps(run);
        expect(steps.flat()).toEqual(
            expect.arrayContaining(["pg-backup-volume", "pg-pg1-data", "pg-etcd-etcd1-data", "pg-etcd-etcd3-data"]),
        );
        expect(steps).toHaveLength(1);
    });

    test("the data volumes still go after every container that mounts them", async () => {
        const run = await runProgramWithMocks({ replicas: "2", failover: "patroni", ...PASSWORDS });
        const order = deletionOrder(records(run)).map((chain) => chain.map((r) => r.type));
        const withContainer = order.map((types, i) => (types.includes("docker:index/container:Container") ? i : -1));
        const lastContainer = Math.max(...withContainer);
        const firstVolume = order.findIndex((types) => types.includes(VOLUME));
        expect(firstVolume).toBeGreaterThan(lastContainer);
    });
});
