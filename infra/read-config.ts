// Reads the running Pulumi program's stack configuration. Kept apart from config.ts, which only
// validates: the day-2 commands validate config too, and loading the Pulumi SDK costs them about a
// second of start-up (measured with a require trace: @pulumi/pulumi pulls in @npmcli/arborist & co).
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, RawConfig, validateConfig } from "../model/config";
import { ENGINE_TLS_KEY, EngineTls, parseEngineTls } from "../model/engine-tls";

/** Passwords from stack config; undefined means "generate one". */
export interface ClusterSecrets {
    superuserPassword?: pulumi.Output<string>;
    replicationPassword?: pulumi.Output<string>;
    /** restoreFrom: the source repository's cipher passphrase. */
    restoreCipherPass?: pulumi.Output<string>;
    /**
     * The client TLS material of the tcp:// Docker engines, by host name. Plain, not an Output: the
     * docker CLI needs it in files before the deployment guard (an invoke) runs, in the preview too;
     * the component makes it a secret wherever it becomes a resource input (infra/engines.ts).
     */
    engineTls?: EngineTls;
}

/**
 * Whether the stack holds a key as a secret: the SDK's `pulumi.runtime.isConfigSecret` (runtime/config.js,
 * marked internal so absent from its typings), which reads the keys the language host lists in
 * PULUMI_CONFIG_SECRET_KEYS (`pulumi config set --secret`). The same SDK answers `getSecret`.
 */
const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret: (fullKey: string) => boolean }).isConfigSecret;

/** The configuration's secret keys among `keys`, without the namespace `prefix`. */
function secretKeys(prefix: string, keys: string[]): Set<string> {
    return new Set(keys.filter((k) => isConfigSecret(`${prefix}${k}`)));
}

/** Reads the stack configuration of the current Pulumi program and validates it. */
export function readConfig(): { config: ClusterConfig; secrets: ClusterSecrets } {
    const prefix = "pg-replication:";
    const raw: RawConfig = {};
    // allConfig, not Config.get per key, so that a misspelt key is reported instead of ignored.
    for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
        if (fullKey.startsWith(prefix)) raw[fullKey.slice(prefix.length)] = value;
    }
    const config = validateConfig(raw, { secretKeys: secretKeys(prefix, Object.keys(raw)) });
    // getSecret: the value is a secret from the moment it is read, whether or not the stack marked it
    // one (`pulumi config set --secret`); validateConfig has already checked it without showing it.
    const stackConfig = new pulumi.Config("pg-replication");
    return {
        config,
        secrets: {
            superuserPassword: stackConfig.getSecret("superuserPassword"),
            replicationPassword: stackConfig.getSecret("replicationPassword"),
            restoreCipherPass: stackConfig.getSecret("restoreCipherPass"),
            engineTls: raw[ENGINE_TLS_KEY] ? parseEngineTls(raw[ENGINE_TLS_KEY], config.hosts) : undefined,
        },
    };
}
