// The Pulumi SDK's wire form of secrets, as mock mode hands resource inputs over.

/** The SDK's wire marker for a secret value. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any -- serialized resource properties

function isSecretWrapper(v: Json): boolean {
    return v !== null && typeof v === "object" && v[SIG_KEY] === SECRET_SIG;
}

/** Removes the SDK's secret wrappers, keeping the values. */
export function unwrapSecrets(v: Json): Json {
    if (isSecretWrapper(v)) return unwrapSecrets(v.value);
    if (Array.isArray(v)) return v.map(unwrapSecrets);
    if (v !== null && typeof v === "object") {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
    }
    return v;
}

/** Whether a value holds a secret anywhere. */
export function containsSecret(v: Json): boolean {
    if (isSecretWrapper(v)) return true;
    if (Array.isArray(v)) return v.some(containsSecret);
    if (v !== null && typeof v === "object") return Object.values(v).some(containsSecret);
    return false;
}

export const secretWrap = (value: Json) => ({ [SIG_KEY]: SECRET_SIG, value });
