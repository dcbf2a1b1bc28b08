// Fault suite, scaling a failover=patroni stack (issue 22 items 4 and 5): `replicas` 2 → 3 → 1 in one
// `up` each. Scale-down used to fail (`check patroni-one-leader failed: 4 of 2 members registered`: the
// checks ran before the deletions) and left the removed members' slots on the leader for 30 min (pg4's
// held 241 MB); every
// change of `replicas` re-created HAProxy, dropping the read-write sessions.
// Now: both directions complete, the removed members leave /cluster, HAProxy is
// the same container throughout and a session held open through the read-write endpoint keeps
// writing, with every row it wrote still there.
// Own stack, subnet 172.29.104.0/24, ports 24732+.
import { Client } from "pg";
import { patroniCluster, patroniRest } from "../../ops/patroni";
import { containerIdentity, live, LiveResult, localSuperuser } from "../support/live-client";
import {
    containerOf,
    deploy,
    eventually,
    faultCluster,
    psqlIn,
    teardown,
    upArgs,
    withDeadline,
} from "../support/faults";

jest.setTimeout(300_000);

const C = faultCluster({
    stack: `fk${process.pid}`,
    subnet: "172.29.104.0/24",
    base: 24732,
    password: `fk-super-${process.pid}-Vn3`,
    replPassword: `fk-repl-${process.pid}-Gs8`,
    replicas: 2,
    config: ["failover=patroni", "etcdMembers=1", "syncMode=async", "pooler=true", "metrics=false"],
});
const RW = C.base + 10;

function up(replicas: number): Promise<LiveResult> {
    return withDeadline(`live up ${C.stack}`, 280_000, live(upArgs({ ...C, replicas })));
}

/** Nodes streaming from the leader (pg1), by name. */
function streaming(): Promise<string> {
    return psqlIn(
        containerOf(C, "pg1"),
        "SELECT coalesce(string_agg(application_name, ',' ORDER BY application_name), '') FROM pg_stat_replication",
    );
}

/** Physical slots on the leader (pg1), by name. */
function slots(): Promise<string> {
    return psqlIn(
        containerOf(C, "pg1"),
        "SELECT coalesce(string_agg(slot_name, ',' ORDER BY slot_name), '') FROM pg_replication_slots",
    );
}

/** member_slots_ttl in Patroni's dynamic configuration (undefined: not set, Patroni's 30 min default). */
async function memberSlotsTtl(): Promise<unknown> {
    const res = await patroniRest<Record<string, unknown>>(containerOf(C, "pg1"), { method: "GET", path: "/config" });
    return res.body.member_slots_ttl;
}

/** Member names in Patroni's /cluster. */
async function members(): Promise<string> {
    const { cluster } = await patroniCluster(C.stack);
    return cluster.members
        .map((m) => m.name)
        .sort()
        .join(",");
}

describe(`fault: scaling a Patroni stack (stack ${C.stack})`, () => {
    let session: Client;
    let written = 0;
    const write = async () => {
        await session.query("INSERT INTO scale_rows VALUES ($1)", [++written]);
    };

    beforeAll(async () => {
        await teardown(C);
        await deploy(C, [], 280_000);
        session = new Client(localSuperuser(RW, C.password, { query_timeout: 10_000 }));
        await session.connect();
        await session.query("CREATE TABLE scale_rows (id int PRIMARY KEY)");
        await write();
    }, 300_000);
    afterAll(async () => {
        await session?.end().catch(() => undefined);
        await teardown(C);
    }, 180_000);

    test("2 → 3: the new member streams; HAProxy and the session through it are untouched", async () => {
        const haproxy = await containerIdentity(`${C.stack}-haproxy`);
        const res = await up(3);
        expect(res.code).toBe(0);
        expect(await containerIdentity(`${C.stack}-haproxy`)).toBe(haproxy);
        await write();
        await eventually("pg2, pg3 and pg4 streaming", 60_000, async () =>
            (await streaming()) === "pg2,pg3,pg4" ? true : await streaming(),
        );
        expect(await members()).toBe("pg1,pg2,pg3,pg4");
    });

    test("3 → 1: completes in one up; the removed members leave /cluster; the session kept writing", async () => {
        const haproxy = await containerIdentity(`${C.stack}-haproxy`);
        const res = await up(1);
        expect(res.stderr).not.toContain("members registered");
        expect(res.code).toBe(0);
        expect(await containerIdentity(`${C.stack}-haproxy`)).toBe(haproxy);
        await write();
        // The up itself took pg3 and pg4 out: their member keys deleted, their slots dropped on the
        // leader (Patroni 4 kept them for member_slots_ttl, 30 min), the default retention back.
        expect(await members()).toBe("pg1,pg2");
        expect(await slots()).toBe("pg2");
        expect(await memberSlotsTtl()).toBeUndefined();
        await eventually("only pg2 streaming", 30_000, async () =>
            (await streaming()) === "pg2" ? true : await streaming(),
        );
        const [{ count }] = (await session.query<{ count: number }>("SELECT count(*)::int AS count FROM scale_rows"))
            .rows;
        expect(count).toBe(written);
        expect(Number(await psqlIn(containerOf(C, "pg2"), "SELECT count(*) FROM scale_rows"))).toBe(written);
    });
});
