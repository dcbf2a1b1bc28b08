// The @pulumi/tls provider's resources, performed locally as terraform-provider-tls performs them
// (@pulumi/tls 5.6.1 bridges it; read at internal/provider/*.go): keys, self-signed and locally
// signed certificates and certificate requests. Names of inputs and outputs follow @pulumi/tls's
// SDK (camelCase); each function cites the provider function it follows. Nothing leaves the
// process: node:crypto generates and signs, tls-x509.ts writes the DER Go's crypto/x509 writes, so
// no key material reaches a command line, an environment or a temporary file (the stack's state
// file, 0600, holds the keys as Pulumi's state holds them).
import * as crypto from "node:crypto";
import * as net from "node:net";
import { promisify } from "node:util";
import { Props } from "./docker-double";
import {
    Algorithm,
    CURVES,
    Curve,
    hashForState,
    opensshPrivateKey,
    parsePrivateKeyPem,
    PEM,
    pemDecode,
    pemEncode,
    privateKeyPem,
    privateKeyPkcs8Pem,
    publicOf,
    spkiOf,
    sshPublicAttributes,
    subjectKeyId,
} from "./tls-keys";
import {
    AltNames,
    CertificateTemplate,
    createCertificate,
    createCertificateRequest,
    emptyName,
    EXT_KEY_USAGE_OIDS,
    isEmptyName,
    Issuer,
    KEY_USAGE_BITS,
    Name,
    parseCertificate,
    parseCertificateRequest,
} from "./tls-x509";

export const TLS_PRIVATE_KEY = "tls:index/privateKey:PrivateKey";
export const TLS_SELF_SIGNED_CERT = "tls:index/selfSignedCert:SelfSignedCert";
export const TLS_CERT_REQUEST = "tls:index/certRequest:CertRequest";
export const TLS_LOCALLY_SIGNED_CERT = "tls:index/locallySignedCert:LocallySignedCert";

const CERT_TYPES = new Set([TLS_SELF_SIGNED_CERT, TLS_LOCALLY_SIGNED_CERT]);

/**
 * "Now" for certificates, renewal plans and refreshes: common.go overridableTimeFunc, which the
 * provider's own tests override the same way; tests here move it to see a certificate age.
 */
export const tlsClock = { now: (): Date => new Date() };

// ---- inputs ----

/** Schema defaults (Default: … in each resource's Schema), which the provider's plan fills in. */
const DEFAULTS: Record<string, Props> = {
    // resource_private_key.go: rsa_bits 2048, ecdsa_curve P224 (whatever the algorithm).
    [TLS_PRIVATE_KEY]: { rsaBits: 2048, ecdsaCurve: "P224" },
    [TLS_SELF_SIGNED_CERT]: {
        earlyRenewalHours: 0,
        isCaCertificate: false,
        setSubjectKeyId: false,
        setAuthorityKeyId: false,
    },
    [TLS_LOCALLY_SIGNED_CERT]: { earlyRenewalHours: 0, isCaCertificate: false, setSubjectKeyId: false },
    [TLS_CERT_REQUEST]: {},
};

/** The inputs with the schema's defaults filled in where unset, as the provider plans them. */
export function withTlsDefaults(type: string, inputs: Props): Props {
    const out: Props = { ...inputs };
    for (const [k, v] of Object.entries(DEFAULTS[type] ?? {})) if (out[k] === undefined || out[k] === null) out[k] = v;
    return out;
}

export const isTlsType = (type: string): boolean => type in DEFAULTS;

function optString(p: Props, key: string): string | undefined {
    const v: unknown = p[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") throw new Error(`${key}: expected a string, got ${JSON.stringify(v)}`);
    return v;
}

function requireString(p: Props, key: string): string {
    const v = optString(p, key);
    if (v === undefined) throw new Error(`Missing required argument: ${key}`);
    return v;
}

function optInteger(p: Props, key: string): number | undefined {
    const v: unknown = p[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v))
        throw new Error(`${key}: expected a whole number, got ${JSON.stringify(v)}`);
    return v;
}

/** int64validator.AtLeast(min), with the framework's words. */
function integerAtLeast(p: Props, key: string, min: number): number | undefined {
    const v = optInteger(p, key);
    if (v !== undefined && v < min) throw new Error(`Attribute ${key} value must be at least ${min}, got: ${v}`);
    return v;
}

const optBoolean = (p: Props, key: string): boolean => p[key] === true;

function optStringList(p: Props, key: string): string[] | undefined {
    const v: unknown = p[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
        throw new Error(`${key}: expected a list of strings`);
    return v as string[];
}

/** stringvalidator.OneOf, with the framework's words. */
function oneOf<T extends string>(key: string, value: string, allowed: readonly T[]): T {
    if (!(allowed as readonly string[]).includes(value)) {
        const list = allowed.map((a) => JSON.stringify(a)).join(" ");
        throw new Error(`Attribute ${key} value must be one of: [${list}], got: ${JSON.stringify(value)}`);
    }
    return value as T;
}

/** The write-only private keys of @pulumi/tls 5.6.1 (provider v4.3.0), which this double does not model. */
const WRITE_ONLY = ["privateKeyPemWo", "privateKeyPemWoVersion", "caPrivateKeyPemWo", "caPrivateKeyPemWoVersion"];

function refuseWriteOnly(p: Props): void {
    const used = WRITE_ONLY.filter((k) => p[k] !== undefined && p[k] !== null);
    if (used.length > 0) throw new Error(`${used.join(", ")}: not implemented by the live harness (write-only keys)`);
}

/** A synchronous create as a promise: a throw becomes a rejection, as the engine and callers expect. */
function settled<T>(make: () => T): Promise<T> {
    return new Promise((resolve) => resolve(make()));
}

/** A provider diagnostic as Pulumi shows it: summary, then detail. */
function diagnostic(summary: string, err: unknown): Error {
    return new Error(`${summary}: ${(err as Error).message}`, { cause: err });
}

// ---- names ----

/** common_cert.go createSubjectDistinguishedNames, from the SDK's `subject` object. */
export function nameFromSubject(subject: unknown): Name {
    const n = emptyName();
    if (subject === undefined || subject === null) return n;
    if (typeof subject !== "object") throw new Error("subject: expected an object");
    const s = subject as Props;
    // Each single-valued field the provider sets becomes a one-element list (even when ""), as in Go.
    const one = (key: string): string[] => {
        const v = optString(s, key);
        return v === undefined ? [] : [v];
    };
    n.organization = one("organization");
    n.organizationalUnit = one("organizationalUnit");
    n.locality = one("locality");
    n.province = one("province");
    n.country = one("country");
    n.postalCode = one("postalCode");
    n.streetAddress = optStringList(s, "streetAddresses") ?? [];
    n.commonName = optString(s, "commonName") ?? "";
    n.serialNumber = optString(s, "serialNumber") ?? "";
    n.emailAddress = optString(s, "emailAddress");
    return n;
}

const IPV4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/** IPv4 dotted quad to 4 bytes (Go's parser: no leading zeros since Go 1.17). */
function ipv4Bytes(s: string): Buffer | undefined {
    const m = IPV4.exec(s);
    if (!m) return undefined;
    const parts = m.slice(1).map(Number);
    return parts.every((x) => x <= 255) ? Buffer.from(parts) : undefined;
}

/** An IPv6 address (zones refused, as net.ParseIP refuses them) to 16 bytes. */
function ipv6Bytes(s: string): Buffer | undefined {
    if (s.includes("%") || !net.isIPv6(s)) return undefined;
    let text = s;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (v4) {
        const b = ipv4Bytes(v4[1]);
        if (!b) return undefined;
        text = text.slice(0, -v4[1].length) + `${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
    }
    const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
    const h = head ? head.split(":") : [];
    const t = tail === undefined ? [] : tail ? tail.split(":") : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
    const out = Buffer.alloc(16);
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
    return out;
}

/**
 * net.ParseIP then marshalSANs' To4: IPv4, and IPv6 of the ::ffff:a.b.c.d form, as 4 bytes;
 * other IPv6 as 16. Unparsable: the provider's "Invalid IP address" diagnostic.
 */
export function ipAddressBytes(s: string): Buffer {
    const v4 = ipv4Bytes(s);
    if (v4) return v4;
    const v6 = ipv6Bytes(s);
    if (!v6) throw new Error(`Invalid IP address: Failed to parse ${JSON.stringify(s)}`);
    const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
    return mapped ? Buffer.from(v6.subarray(12)) : v6;
}

/** url.Parse's refusals that matter here: control characters and bad percent escapes. */
function checkUri(s: string): string {
    if (Array.from(s).some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
        throw new Error(`Invalid URI: Failed to parse ${JSON.stringify(s)}: net/url: invalid control character in URL`);
    const bad = /%(?![0-9A-Fa-f]{2})(.{0,2})/.exec(s);
    if (bad) throw new Error(`Invalid URI: Failed to parse ${JSON.stringify(s)}: invalid URL escape "%${bad[1]}"`);
    return s;
}

/** dns_names, ip_addresses, uris (each element at least 1 character: stringvalidator.LengthAtLeast(1)). */
function altNamesFrom(p: Props): AltNames {
    const list = (key: string, atLeastOne: boolean): string[] => {
        const values = optStringList(p, key) ?? [];
        const empty = values.findIndex((v) => v.length < 1);
        if (atLeastOne && empty >= 0)
            throw new Error(`Attribute ${key}[${empty}] string length must be at least 1, got: 0`);
        return values;
    };
    return {
        dnsNames: list("dnsNames", false),
        ipAddresses: list("ipAddresses", true).map(ipAddressBytes),
        uris: list("uris", true).map(checkUri),
    };
}

// ---- keys ----

const generateKeyPair = promisify(crypto.generateKeyPair);

/**
 * common_key.go keyGenerators. RSA below 1024 bits fails as the provider's Go (1.24 and later,
 * crypto/rsa checkKeySize) fails it; the exponent is Go's 65537.
 */
async function generateKey(algorithm: Algorithm, rsaBits: number, curve: Curve): Promise<crypto.KeyObject> {
    if (algorithm === "RSA") {
        if (rsaBits < 1024)
            throw new Error(
                `crypto/rsa: ${rsaBits}-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)`,
            );
        return (await generateKeyPair("rsa", { modulusLength: rsaBits, publicExponent: 65537 })).privateKey;
    }
    if (algorithm === "ECDSA") return (await generateKeyPair("ec", { namedCurve: CURVES[curve].node })).privateKey;
    return (await generateKeyPair("ed25519")).privateKey;
}

/**
 * resource_private_key.go Create: private_key_pem in the key's own PEM form ("RSA PRIVATE KEY",
 * "EC PRIVATE KEY", or "PRIVATE KEY" for ED25519), its PKCS #8 form, the OpenSSH forms (empty for
 * P224), and as id hashForState of the public key's PKIX DER (common_key.go setPublicKeyAttributes).
 */
export async function createPrivateKey(p: Props): Promise<{ id: string; state: Props }> {
    const inputs = withTlsDefaults(TLS_PRIVATE_KEY, p);
    const algorithm = oneOf<Algorithm>("algorithm", requireString(inputs, "algorithm"), ["RSA", "ECDSA", "ED25519"]);
    const curve = oneOf<Curve>("ecdsa_curve", requireString(inputs, "ecdsaCurve"), Object.keys(CURVES) as Curve[]);
    const bits = optInteger(inputs, "rsaBits") ?? 2048;
    let key: crypto.KeyObject;
    try {
        key = await generateKey(algorithm, bits, curve);
    } catch (err) {
        throw diagnostic("Unable to generate Key from configuration", err);
    }
    const spki = spkiOf(key);
    const ssh = sshPublicAttributes(key);
    return {
        id: hashForState(spki),
        state: {
            ...inputs,
            privateKeyPem: privateKeyPem(key),
            privateKeyPemPkcs8: privateKeyPkcs8Pem(key),
            privateKeyOpenssh: opensshPrivateKey(key),
            publicKeyPem: pemEncode(PEM.PUBLIC_KEY, spki),
            publicKeyOpenssh: ssh.openssh,
            publicKeyFingerprintMd5: ssh.md5,
            publicKeyFingerprintSha256: ssh.sha256,
        },
    };
}

// ---- certificates ----

/** Go's time.Time.MarshalText (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC. */
export function goTimeText(t: Date): string {
    return t.toISOString().replace(/\.(\d*?)0*Z$/, (_, frac: string) => (frac ? `.${frac}Z` : "Z"));
}

/** The certificate inputs common_cert.go createCertificate reads from the plan. */
interface CertPlan {
    validityPeriodHours: number;
    allowedUses: string[];
    isCaCertificate: boolean;
    maxPathLength?: number;
    setSubjectKeyId: boolean;
    /** Only tls_self_signed_cert has set_authority_key_id. */
    setAuthorityKeyId?: boolean;
}

/** Go's time.Duration holds at most 2562047 hours; beyond, the provider's NotAfter would wrap. */
const MAX_DURATION_HOURS = 2562047;

function certPlanFrom(p: Props, type: string): CertPlan {
    const validityPeriodHours = integerAtLeast(p, "validityPeriodHours", 0);
    if (validityPeriodHours === undefined) throw new Error("Missing required argument: validityPeriodHours");
    if (validityPeriodHours > MAX_DURATION_HOURS)
        throw new Error(
            `validityPeriodHours ${validityPeriodHours}: not implemented by the live harness (Go's time.Duration overflows beyond ${MAX_DURATION_HOURS} hours)`,
        );
    integerAtLeast(p, "earlyRenewalHours", 0);
    const allowedUses = optStringList(p, "allowedUses");
    if (allowedUses === undefined) throw new Error("Missing required argument: allowedUses");
    const supported = [...Object.keys(KEY_USAGE_BITS), ...Object.keys(EXT_KEY_USAGE_OIDS)].sort();
    allowedUses.forEach((u, i) => oneOf(`allowed_uses[${i}]`, u, supported));
    return {
        validityPeriodHours,
        allowedUses,
        isCaCertificate: optBoolean(p, "isCaCertificate"),
        maxPathLength: integerAtLeast(p, "maxPathLength", -1),
        setSubjectKeyId: optBoolean(p, "setSubjectKeyId"),
        setAuthorityKeyId: type === TLS_SELF_SIGNED_CERT ? optBoolean(p, "setAuthorityKeyId") : undefined,
    };
}

/** allowed_uses to x509 KeyUsage bits (OR'd) and ExtKeyUsage OIDs (appended in order). */
function usagesFrom(allowedUses: string[]): { keyUsage: number; extKeyUsage: string[] } {
    let keyUsage = 0;
    const extKeyUsage: string[] = [];
    for (const use of allowedUses) {
        if (use in KEY_USAGE_BITS) keyUsage |= KEY_USAGE_BITS[use];
        if (use in EXT_KEY_USAGE_OIDS) extKeyUsage.push(EXT_KEY_USAGE_OIDS[use]);
    }
    return { keyUsage, extKeyUsage };
}

interface IssuedCertificate {
    id: string;
    certPem: string;
    validityStartTime: string;
    validityEndTime: string;
}

/**
 * common_cert.go createCertificate: NotBefore now, NotAfter validity_period_hours later, a random
 * serial below 2^128 (the id), allowed_uses as KeyUsage/ExtKeyUsage, BasicConstraints always (cA
 * when is_ca_certificate, which needs a subject and sets the subject key id), max_path_length when
 * ≥ 0, the subject key id when set_subject_key_id, the authority key id (self-signed only) from the
 * parent's subject key id. `subjectIsEmpty` is its cmp.Equal(template.Subject, pkix.Name{}).
 */
function issueCertificate(
    plan: CertPlan,
    base: AltNames & { subject: Name; subjectIsEmpty: boolean },
    issuer: Issuer | "self",
    subjectPublicKey: crypto.KeyObject,
    signer: crypto.KeyObject,
): IssuedCertificate {
    const notBefore = tlsClock.now();
    const notAfter = new Date(notBefore.getTime() + plan.validityPeriodHours * 3_600_000);
    const template: CertificateTemplate = {
        ...base,
        ...usagesFrom(plan.allowedUses),
        serialNumber: BigInt(`0x${crypto.randomBytes(16).toString("hex")}`),
        notBefore,
        notAfter,
        isCA: false,
        maxPathLen: 0,
    };
    if (plan.isCaCertificate) {
        if (base.subjectIsEmpty)
            throw new Error(
                "Invalid Certificate Subject: Must contain at least one Distinguished Name when creating Certificate Authority (CA)",
            );
        template.isCA = true;
        template.subjectKeyId = subjectKeyId(subjectPublicKey);
    }
    if (plan.maxPathLength !== undefined && plan.maxPathLength >= 0) template.maxPathLen = plan.maxPathLength;
    if (plan.setSubjectKeyId) template.subjectKeyId = subjectKeyId(subjectPublicKey);
    if (plan.setAuthorityKeyId) {
        // Self-signed: the parent is the template, so its subject key id is the one just set (or none).
        if (!template.subjectKeyId || template.subjectKeyId.length === 0)
            throw new Error("Invalid Certificate Authority: Could not determine Authority Key Identifier");
        template.authorityKeyId = template.subjectKeyId;
    }
    let der: Buffer;
    try {
        der = createCertificate(template, issuer, subjectPublicKey, signer);
    } catch (err) {
        throw diagnostic("Failed to create certificate", err);
    }
    return {
        id: template.serialNumber.toString(),
        certPem: pemEncode(PEM.CERTIFICATE, der),
        validityStartTime: goTimeText(notBefore),
        validityEndTime: goTimeText(notAfter),
    };
}

/**
 * ready_for_renewal as planned at creation (attribute_plan_modifier_bool ReadyForRenewal): true when
 * validity_period_hours is 0 or early_renewal_hours ≥ validity_period_hours, else the default false.
 */
export function plannedReadyForRenewal(validityPeriodHours: number, earlyRenewalHours: number): boolean {
    return validityPeriodHours === 0 || earlyRenewalHours >= validityPeriodHours;
}

function withPrivateKey(pem: string, summary: string): ReturnType<typeof parsePrivateKeyPem> {
    try {
        return parsePrivateKeyPem(pem);
    } catch (err) {
        throw diagnostic(summary, err);
    }
}

/**
 * The inputs with the schema's defaults and the resource's own private key parsed (self-signed
 * certificates and requests): both refuse the write-only key inputs first, as the provider does.
 */
function inputsWithOwnKey(p: Props, schema: Parameters<typeof withTlsDefaults>[0]) {
    refuseWriteOnly(p);
    const inputs = withTlsDefaults(schema, p);
    return { inputs, ...withPrivateKey(requireString(inputs, "privateKeyPem"), "Failed to parse private key PEM") };
}

/** resource_self_signed_cert.go Create: the key's own certificate, issuer = subject. */
export function createSelfSignedCert(p: Props): Promise<{ id: string; state: Props }> {
    return settled(() => selfSignedCert(p));
}

function selfSignedCert(p: Props): { id: string; state: Props } {
    const { inputs, key, algorithm } = inputsWithOwnKey(p, TLS_SELF_SIGNED_CERT);
    const plan = certPlanFrom(inputs, TLS_SELF_SIGNED_CERT);
    const subject = nameFromSubject(inputs.subject);
    const base = { subject, subjectIsEmpty: isEmptyName(subject), ...altNamesFrom(inputs) };
    const cert = issueCertificate(plan, base, "self", publicOf(key), key);
    return certificateState(cert, inputs, plan, { keyAlgorithm: algorithm });
}

/** resource_locally_signed_cert.go decodePEM: the first block, of the expected type. */
function decodePem(text: string, type: string): Buffer {
    const block = pemDecode(text);
    if (!block) throw new Error(`failed to decode PEM of expected type ${JSON.stringify(type)} from bytes`);
    if (block.type !== type)
        throw new Error(`invalid PEM type - expected ${JSON.stringify(type)}, got ${JSON.stringify(block.type)}`);
    return block.der;
}

function parseRequestPem(text: string): ReturnType<typeof parseCertificateRequest> {
    try {
        const der = decodePem(text, PEM.CERTIFICATE_REQUEST);
        try {
            const req = parseCertificateRequest(der);
            if (!["rsa", "ec", "ed25519"].includes(req.publicKey.asymmetricKeyType ?? ""))
                throw new Error(`${req.publicKey.asymmetricKeyType} keys: not implemented by the live harness`);
            return req;
        } catch (err) {
            throw new Error(`failed to parse certificate request: ${(err as Error).message}`, { cause: err });
        }
    } catch (err) {
        throw diagnostic("Failed to parse certificate request PEM", err);
    }
}

function parseCaCertPem(text: string): ReturnType<typeof parseCertificate> {
    try {
        const der = decodePem(text, PEM.CERTIFICATE);
        try {
            return parseCertificate(der);
        } catch (err) {
            throw new Error(`failed to parse certificate: ${(err as Error).message}`, { cause: err });
        }
    } catch (err) {
        throw diagnostic("Failed to parse CA certificate PEM", err);
    }
}

/**
 * resource_locally_signed_cert.go Create: the request's Subject (as Go parsed it: only the fields
 * pkix.Name has, so an emailAddress in the request's subject is not carried over), DNS names, IPs,
 * URIs and public key, signed by the CA key under the CA certificate's subject. Go's x509 takes the
 * authority key id from the CA certificate's subject key id and refuses a CA key that does not match
 * the CA certificate. The "does not appear to be a valid Certificate Authority" warning the provider
 * gives for a non-CA certificate has no channel here; the certificate is made all the same, as there.
 */
export function createLocallySignedCert(p: Props): Promise<{ id: string; state: Props }> {
    return settled(() => locallySignedCert(p));
}

function locallySignedCert(p: Props): { id: string; state: Props } {
    refuseWriteOnly(p);
    const inputs = withTlsDefaults(TLS_LOCALLY_SIGNED_CERT, p);
    const request = parseRequestPem(requireString(inputs, "certRequestPem"));
    const { key: caKey, algorithm } = withPrivateKey(
        requireString(inputs, "caPrivateKeyPem"),
        "Failed to parse CA private key PEM",
    );
    const ca = parseCaCertPem(requireString(inputs, "caCertPem"));
    const plan = certPlanFrom(inputs, TLS_LOCALLY_SIGNED_CERT);
    const base = {
        subject: request.subject,
        subjectIsEmpty: request.subjectAttributes === 0,
        dnsNames: request.dnsNames,
        ipAddresses: request.ipAddresses,
        uris: request.uris,
    };
    const issuer: Issuer = { subjectDer: ca.subjectDer, subjectKeyId: ca.subjectKeyId, publicKey: ca.publicKey };
    const cert = issueCertificate(plan, base, issuer, request.publicKey, caKey);
    return certificateState(cert, inputs, plan, { caKeyAlgorithm: algorithm });
}

/** A certificate resource's state: its inputs, the key algorithm field, the PEM, validity and renewal plan. */
function certificateState(
    cert: ReturnType<typeof issueCertificate>,
    inputs: Props,
    plan: ReturnType<typeof certPlanFrom>,
    algorithmField: Props,
): { id: string; state: Props } {
    return {
        id: cert.id,
        state: {
            ...inputs,
            ...algorithmField,
            certPem: cert.certPem,
            validityStartTime: cert.validityStartTime,
            validityEndTime: cert.validityEndTime,
            readyForRenewal: plannedReadyForRenewal(
                plan.validityPeriodHours,
                optInteger(inputs, "earlyRenewalHours") ?? 0,
            ),
        },
    };
}

/** resource_cert_request.go Create: x509.CreateCertificateRequest; id = hashForState of its DER. */
export function createCertRequest(p: Props): Promise<{ id: string; state: Props }> {
    return settled(() => certRequest(p));
}

function certRequest(p: Props): { id: string; state: Props } {
    const { inputs, key, algorithm } = inputsWithOwnKey(p, TLS_CERT_REQUEST);
    let der: Buffer;
    try {
        der = createCertificateRequest(nameFromSubject(inputs.subject), altNamesFrom(inputs), key);
    } catch (err) {
        throw diagnostic("Error creating certificate request", err);
    }
    return {
        id: hashForState(der),
        state: { ...inputs, keyAlgorithm: algorithm, certRequestPem: pemEncode(PEM.CERTIFICATE_REQUEST, der) },
    };
}

// ---- plan, update, refresh ----

/**
 * How a change of each input is planned, from the attributes' plan modifiers: "replace"
 * (RequiresReplace), "pem" (common.go requireReplaceIfStateContainsPEMString: replace only if the
 * value in state is a PEM), "keep-if-unset" (max_path_length: UseStateForUnknown then
 * RequiresReplace, so removing it keeps the state's value), "in-place" (early_renewal_hours has no
 * RequiresReplace: Update copies the plan into state, updatedUsingPlan). An input not listed replaces.
 */
type ChangeRule = "replace" | "pem" | "keep-if-unset" | "in-place";

const CERT_RULES: Record<string, ChangeRule> = {
    validityPeriodHours: "replace",
    allowedUses: "replace",
    isCaCertificate: "replace",
    maxPathLength: "keep-if-unset",
    setSubjectKeyId: "replace",
    earlyRenewalHours: "in-place",
};

const RULES: Record<string, Record<string, ChangeRule>> = {
    [TLS_PRIVATE_KEY]: { algorithm: "replace", rsaBits: "replace", ecdsaCurve: "replace" },
    [TLS_CERT_REQUEST]: {
        privateKeyPem: "pem",
        subject: "replace",
        dnsNames: "replace",
        ipAddresses: "replace",
        uris: "replace",
    },
    [TLS_SELF_SIGNED_CERT]: {
        ...CERT_RULES,
        privateKeyPem: "pem",
        setAuthorityKeyId: "replace",
        subject: "replace",
        dnsNames: "replace",
        ipAddresses: "replace",
        uris: "replace",
    },
    [TLS_LOCALLY_SIGNED_CERT]: { ...CERT_RULES, certRequestPem: "pem", caPrivateKeyPem: "pem", caCertPem: "pem" },
};

// common.go requireReplaceIfStateContainsPEMString's regexp (Go's `.|\s` is any character; `$` is the end).
const PEM_STRING = /^-----BEGIN [A-Za-z ]+-----\n[\s\S]+\n-----END [A-Za-z ]+-----\n?$/;

/** JSON with sorted keys, so that equal objects compare equal. */
function stable(v: unknown): string {
    if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
    if (v !== null && typeof v === "object") {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o).filter((k) => o[k] !== undefined && o[k] !== null);
        return `{${keys
            .sort()
            .map((k) => `${JSON.stringify(k)}:${stable(o[k])}`)
            .join(",")}}`;
    }
    return JSON.stringify(v ?? null);
}

/** Whether a change from `oldInputs` to `newInputs` (defaults filled in) replaces the resource. */
export function tlsNeedsReplace(type: string, oldInputs: Props, newInputs: Props): boolean {
    const rules = RULES[type] ?? {};
    const keys = new Set([...Object.keys(oldInputs), ...Object.keys(newInputs)]);
    for (const key of keys) {
        const before: unknown = oldInputs[key];
        const after: unknown = newInputs[key];
        if (stable(before) === stable(after)) continue;
        const rule = rules[key] ?? "replace";
        if (rule === "replace") return true;
        if (rule === "pem" && typeof before === "string" && PEM_STRING.test(before)) return true;
        if (rule === "keep-if-unset" && after !== undefined && after !== null) return true;
    }
    return false;
}

/**
 * Update (updatedUsingPlan): the state becomes the plan — the prior outputs with the new inputs,
 * max_path_length kept when unset (UseStateForUnknown), ready_for_renewal as its plan modifier plans it.
 */
export function updateTls(
    type: string,
    id: string,
    inputs: Props,
    previous: Props,
): Promise<{ id: string; state: Props }> {
    integerAtLeast(inputs, "earlyRenewalHours", 0);
    const state: Props = { ...previous, ...inputs };
    if (inputs.maxPathLength === undefined && previous.maxPathLength !== undefined)
        state.maxPathLength = previous.maxPathLength;
    if (CERT_TYPES.has(type))
        state.readyForRenewal = plannedReadyForRenewal(
            Number(state.validityPeriodHours),
            Number(state.earlyRenewalHours ?? 0),
        );
    return Promise.resolve({ id, state });
}

/** Whether `now` is at or past validity_end_time minus early_renewal_hours (both certificate resources). */
function renewalDue(validityEndTime: unknown, earlyRenewalHours: number, now: Date): boolean {
    if (typeof validityEndTime !== "string") return false;
    const end = Date.parse(validityEndTime);
    if (Number.isNaN(end)) throw new Error(`Failed to parse data from string: ${validityEndTime}`);
    return end - earlyRenewalHours * 3_600_000 - now.getTime() <= 0;
}

/**
 * common_cert.go modifyPlanIfCertificateReadyForRenewal (both certificates' ModifyPlan, on every
 * plan with a prior state): when now ≥ validity_end_time − early_renewal_hours (the planned value),
 * ready_for_renewal becomes unknown and RequiresReplace: the certificate is replaced even though no
 * input changed.
 */
export function tlsPlanReplaces(type: string, previousOutputs: Props, inputs: Props): boolean {
    if (!CERT_TYPES.has(type)) return false;
    const early = optInteger(withTlsDefaults(type, inputs), "earlyRenewalHours") ?? 0;
    return renewalDue(previousOutputs.validityEndTime, early, tlsClock.now());
}

/**
 * Refresh (Read). Keys and requests: a no-op, all is in state. Certificates:
 * modifyStateIfCertificateReadyForRenewal sets ready_for_renewal true when now ≥ validity_end_time −
 * early_renewal_hours (the state's); it never sets it back to false. Returns the new outputs and
 * what changed, or undefined when nothing did.
 */
export function refreshTls(type: string, outputs: Props): { outputs: Props; note: string } | undefined {
    if (!CERT_TYPES.has(type) || outputs.readyForRenewal === true) return undefined;
    const early = optInteger(outputs, "earlyRenewalHours") ?? 0;
    if (!renewalDue(outputs.validityEndTime, early, tlsClock.now())) return undefined;
    return { outputs: { ...outputs, readyForRenewal: true }, note: "ready for renewal: the deployment replaces it" };
}
