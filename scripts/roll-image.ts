// npm run roll-image -- --image REF [--stack S] [--live] [--json]
// Moves every node of the cluster to a new image, one at a time (the work: ops/roll-image.ts).
import { command, runCommand, UsageError } from "../ops/cli";
import { rollImage } from "../ops/roll-image";
import { COMMON_OPTIONS, parseArgs } from "../ops/topology-change";

const ROLL_IMAGE = command({
    name: "roll-image",
    synopsis: "--image REF [--stack S] [--live] [--json]",
    description:
        "Moves every node of the cluster to image REF one at a time: records pg-replication:image, deploys\n" +
        "(no node restarts: running nodes keep their image), then re-creates each replica on its data volume\n" +
        "and waits until it streams, switches over to an upgraded replica, and re-creates the old primary,\n" +
        "which rejoins as a replica. Only for images of the same PostgreSQL major version (17).",
    options: {
        image: { type: "string", value: "REF", help: "the new image reference, e.g. postgres:17.13 (required)" },
        ...COMMON_OPTIONS,
    },
    examples: ["npm run roll-image -- --image pg-replication/postgres:17-local-b --stack local --live"],
});

runCommand(ROLL_IMAGE, async () => {
    const args = parseArgs(ROLL_IMAGE, process.argv.slice(2));
    const image = args.values.image;
    if (!image) throw new UsageError("--image is required");
    const result = await rollImage(args, image, (line) => process.stderr.write(line + "\n"));
    if (args.json) process.stdout.write(JSON.stringify(result) + "\n");
});
