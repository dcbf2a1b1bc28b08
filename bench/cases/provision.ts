// provision: nothing -> verified cluster, ours (`npm run live -- up`, checks on) against docker run +
// pg_basebackup with trust auth and no checks; then the teardown of each.
import { alternate, CaseContext, PORT_BARE, PORT_OURS, SUBNET_BARE, SUBNET_OURS } from "../context";
import { bareDown, bareUp, oursDown, oursUp } from "../clusters";
import { removeByPrefix } from "../host";

export async function provision(ctx: CaseContext): Promise<void> {
    const up = { ours: [] as number[], bare: [] as number[] };
    const down = { ours: [] as number[], bare: [] as number[] };
    const patroni = ctx.args.mode === "patroni";
    for (let run = 1; run <= ctx.args.runs; run++) {
        const stack = `${ctx.prefix}o${run}`;
        const bare = `${ctx.prefix}b${run}`;
        const sides = alternate(run, "ours", "bare");
        for (const side of sides) {
            if (side === "ours") {
                const opts = {
                    stack,
                    subnet: SUBNET_OURS,
                    portBase: PORT_OURS,
                    pooler: false,
                    extra: patroni ? ["failover=patroni"] : [],
                };
                up.ours.push((await ctx.phases.time(`ours: live up (run ${run})`, () => oursUp(opts, ctx.log))) / 1000);
                if (ctx.args.keep && run === ctx.args.runs) continue;
                down.ours.push(
                    (await ctx.phases.time(`ours: live down (run ${run})`, () => oursDown(stack, ctx.log))) / 1000,
                );
                await removeByPrefix(`${stack}-`);
            } else {
                up.bare.push(
                    (await ctx.phases.time(`bare: docker run + pg_basebackup (run ${run})`, () =>
                        bareUp({ prefix: bare, subnet: SUBNET_BARE, portBase: PORT_BARE }, ctx.log),
                    )) / 1000,
                );
                if (ctx.args.keep && run === ctx.args.runs) continue;
                down.bare.push((await ctx.phases.time(`bare: docker rm (run ${run})`, () => bareDown(bare))) / 1000);
            }
        }
    }
    const boundIs = "docker run primary (trust) + 2 replicas by pg_basebackup, 2 streaming rows, no checks";
    const mode = patroni ? "patroni" : "manual";
    ctx.figures.push({
        figure: `provision (${mode}): nothing -> verified cluster`,
        unit: "s",
        better: "lower",
        ours: up.ours,
        bound: up.bare,
        boundIs,
        note: `ours: live up, primary + 2 replicas, checks on, pooler off${patroni ? ", failover=patroni" : ""}`,
    });
    if (down.ours.length && down.bare.length) {
        ctx.figures.push({
            figure: `provision (${mode}): teardown`,
            unit: "s",
            better: "lower",
            ours: down.ours,
            bound: down.bare,
            boundIs: "docker rm -f -v of the 3 containers + network rm",
            note: "ours: live down",
        });
    }
}
