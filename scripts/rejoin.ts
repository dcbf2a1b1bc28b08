// npm run rejoin -- --node pgN [--stack S] [--live] [--json]
// Brings an old primary (or a diverged or stranded node) back as a replica of the current primary:
// pg_rewind, or a fresh pg_basebackup when rewinding is impossible or the WAL it needs is gone.
// Its entrypoint does the work on start; this repairs its slot, asks for the rejoin, restarts the
// node, waits until it streams and says what happened, including what pg_rewind discarded.
import { runCommand } from "../ops/cli";
import { roleOperations } from "../ops/role-operations";
import { openCommand } from "../ops/topology-change";
import { REJOIN } from "../ops/topology-commands";

runCommand(REJOIN, async () => {
    const opened = await openCommand(REJOIN, "node");
    await roleOperations(opened.cfg).rejoin(opened);
});
