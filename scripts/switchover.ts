// npm run switchover -- --to pgN [--stack S] [--live] [--json]
// Planned role change with no lost transaction: the primary shuts down cleanly (its walsenders
// send everything first), pgN is promoted only once it has replayed the primary's shutdown
// checkpoint, and the old primary rejoins as a replica of pgN.
import { runCommand } from "../ops/cli";
import { roleOperations } from "../ops/role-operations";
import { openCommand } from "../ops/topology-change";
import { SWITCHOVER } from "../ops/topology-commands";

runCommand(SWITCHOVER, async () => {
    const opened = await openCommand(SWITCHOVER, "to");
    await roleOperations(opened.cfg).switchover(opened);
});
