// One named Docker volume for a container's data (a node's PGDATA, an etcd member's data, the backup
// repository), declared the same way for all three so that `pulumi destroy` removes them together.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { dockerLabels } from "../model/labels";
import { Engine, onEngine } from "./engines";

/** What a data volume needs. */
export interface DataVolumeArgs {
    /** The Docker volume's name (fixed: the day-2 commands and `keepBackups` find it by name). */
    volumeName: pulumi.Input<string>;
    /**
     * The image the volume's container runs. The volume waits for it, so that every data volume has the
     * same dependency and `pulumi destroy` deletes them all in one step (see below).
     */
    image: pulumi.Input<string>;
    /** Docker labels. */
    labels: ReturnType<typeof dockerLabels>;
    /** The host's engine (`hosts`); undefined on the default engine. @default the default engine */
    engine?: Engine;
    /** Leave the volume (and its data) behind on `pulumi destroy` (`keepBackups`). @default false */
    retainOnDelete?: boolean;
}

/**
 * Declares a data volume. Why it depends on the image: the Pulumi engine deletes in antichains that it
 * layers from the resources without dependencies upwards and runs top layer first, each layer only once
 * the previous one is done (pulumi/pulumi `step_generator.go` ScheduleDeletes, `deployment_executor.go`);
 * and terraform-provider-docker waits 2 s before its first attempt at each volume delete
 * (`resourceDockerVolumeDelete`: StateChangeConf `Delay: volumeReadRefreshDelay`). A volume without a
 * dependency lands in the bottom layer, a volume waiting for the image one layer above it, so volumes
 * declared both ways cost two 2-second waits in turn; declared one way, they cost one.
 */
export function dataVolume(resourceName: string, args: DataVolumeArgs, parent: pulumi.Resource): docker.Volume {
    return new docker.Volume(
        resourceName,
        { name: pulumi.all([args.image, args.volumeName]).apply(([, volumeName]) => volumeName), labels: args.labels },
        // Keep the data when the container goes; fixed names need delete-before-replace.
        {
            parent,
            ...onEngine(args.engine),
            deleteBeforeReplace: true,
            retainOnDelete: args.retainOnDelete ?? false,
        },
    );
}
