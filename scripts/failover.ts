// npm run failover -- --to pgN [--stack S] [--live] [--force] [--json]
// The primary is gone or must be abandoned: fence it, promote pgN, re-point the other replicas,
// record primaryNode in the stack's config, and verify with the deployment's checks.
import { runCommand } from "./lib/cli";
import { roleOperations } from "./lib/role-operations";
import { openCommand } from "./lib/topology-change";
import { FAILOVER } from "./lib/topology-commands";

runCommand(FAILOVER, async () => {
    // direct: SQL over the published ports, not docker exec (scripts/lib/node-sessions.ts).
    const opened = await openCommand(FAILOVER, "to", true);
    await roleOperations(opened.cfg).failover(opened);
});
