// npm run failover -- --to pgN [--stack S] [--live] [--force] [--json]
// The primary is gone or must be abandoned: fence it, promote pgN, re-point the other replicas,
// record primaryNode in the stack's config, and verify with the deployment's checks.
import { runCommand } from "../ops/cli";
import { failoverOverPorts, roleOperations } from "../ops/role-operations";
import { openCommand } from "../ops/topology-change";
import { FAILOVER } from "../ops/topology-commands";

runCommand(FAILOVER, async () => {
    // In manual mode, SQL over the published ports rather than docker exec (ops/node-sessions.ts).
    const opened = await openCommand(FAILOVER, "to", failoverOverPorts);
    await roleOperations(opened.cfg).failover(opened);
});
