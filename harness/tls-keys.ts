// Keys as terraform-provider-tls handles them (internal/provider/common_key.go,
// resource_private_key.go): generation, the PEM forms it writes and the ones it reads, its OpenSSH
// encodings (golang.org/x/crypto/ssh) and its ids (common.go hashForState). node:crypto does the
// cryptography; only the encodings Go has and node lacks are written here.
import * as crypto from "node:crypto";
import { childrenOf, expectTag, readSingle, TAG } from "./der";

export type Algorithm = "RSA" | "ECDSA" | "ED25519";

/** ecdsa_curve values, with node's name of the curve, OpenSSH's name (none for P-224) and the point size. */
export const CURVES = {
    P224: { node: "P-224", openssl: "secp224r1", ssh: undefined, size: 28 },
    P256: { node: "P-256", openssl: "prime256v1", ssh: "nistp256", size: 32 },
    P384: { node: "P-384", openssl: "secp384r1", ssh: "nistp384", size: 48 },
    P521: { node: "P-521", openssl: "secp521r1", ssh: "nistp521", size: 66 },
} as const;
export type Curve = keyof typeof CURVES;

/** PEM block types (types.go PEMPreamble). */
export const PEM = {
    PUBLIC_KEY: "PUBLIC KEY",
    PRIVATE_KEY_PKCS8: "PRIVATE KEY",
    PRIVATE_KEY_RSA: "RSA PRIVATE KEY",
    PRIVATE_KEY_EC: "EC PRIVATE KEY",
    PRIVATE_KEY_OPENSSH: "OPENSSH PRIVATE KEY",
    CERTIFICATE: "CERTIFICATE",
    CERTIFICATE_REQUEST: "CERTIFICATE REQUEST",
} as const;

/** Go's pem.EncodeToMemory: 64-character base64 lines, a final newline. */
export function pemEncode(type: string, der: Buffer): string {
    const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${type}-----\n`;
}

/** The first PEM block in `text`, as Go's pem.Decode finds it (leading text skipped, headers not supported). */
export function pemDecode(text: string): { type: string; der: Buffer } | undefined {
    const m = /-----BEGIN ([^\n-]+)-----\r?\n([A-Za-z0-9+/=\r\n\t ]*?)-----END \1-----/.exec(text);
    return m ? { type: m[1], der: Buffer.from(m[2].replace(/\s+/g, ""), "base64") } : undefined;
}

// Go's unicode.IsSpace beyond ASCII (U+0085, U+00A0 and the Unicode White_Space separators), UTF-8 encoded.
const WIDE_SPACES = [0x85, 0xa0, 0x1680, ...Array.from({ length: 11 }, (_, i) => 0x2000 + i), 0x2028, 0x2029, 0x202f]
    .concat([0x205f, 0x3000])
    .map((cp) => Buffer.from(String.fromCodePoint(cp), "utf8"));
const ASCII_SPACES = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]);

/** Go's strings.TrimSpace over raw bytes: hashForState applies it to DER, so the id depends on it. */
export function goTrimSpace(bytes: Buffer): Buffer {
    let b = bytes;
    for (;;) {
        if (b.length > 0 && ASCII_SPACES.has(b[0])) b = b.subarray(1);
        else {
            const wide = WIDE_SPACES.find((s) => b.subarray(0, s.length).equals(s));
            if (!wide) break;
            b = b.subarray(wide.length);
        }
    }
    for (;;) {
        if (b.length > 0 && ASCII_SPACES.has(b[b.length - 1])) b = b.subarray(0, b.length - 1);
        else {
            const wide = WIDE_SPACES.find((s) => b.length >= s.length && b.subarray(b.length - s.length).equals(s));
            if (!wide) break;
            b = b.subarray(0, b.length - wide.length);
        }
    }
    return b;
}

/**
 * common.go hashForState: the hex SHA-1 of strings.TrimSpace(value), "" for "". The provider feeds it
 * DER (the public key's PKIX bytes for tls_private_key, the request's for tls_cert_request).
 */
export function hashForState(value: Buffer): string {
    if (value.length === 0) return "";
    return crypto.createHash("sha1").update(goTrimSpace(value)).digest("hex");
}

/** The algorithm of a key as privateKeyToAlgorithm names it; curves Go's x509 cannot parse are refused. */
export function algorithmOf(key: crypto.KeyObject): Algorithm {
    if (key.asymmetricKeyType === "rsa") return "RSA";
    if (key.asymmetricKeyType === "ed25519") return "ED25519";
    if (key.asymmetricKeyType === "ec") {
        const curve = key.asymmetricKeyDetails?.namedCurve;
        if (Object.values(CURVES).some((c) => c.openssl === curve)) return "ECDSA";
        throw new Error("x509: unknown elliptic curve");
    }
    throw new Error(`unsupported private key type: ${key.asymmetricKeyType ?? "unknown"}`);
}

/** The ecdsa_curve name of an EC key. */
export function curveOf(key: crypto.KeyObject): Curve {
    const name = key.asymmetricKeyDetails?.namedCurve;
    const found = (Object.keys(CURVES) as Curve[]).find((c) => CURVES[c].openssl === name);
    if (!found) throw new Error("x509: unknown elliptic curve");
    return found;
}

const PARSE_AS: Record<string, "pkcs1" | "sec1" | "pkcs8"> = {
    [PEM.PRIVATE_KEY_RSA]: "pkcs1",
    [PEM.PRIVATE_KEY_EC]: "sec1",
    [PEM.PRIVATE_KEY_PKCS8]: "pkcs8",
};

/**
 * common_key.go parsePrivateKeyPEM: the first PEM block; "RSA PRIVATE KEY" (PKCS #1), "EC PRIVATE
 * KEY" (SEC 1) or "PRIVATE KEY" (PKCS #8); any other type is refused with the provider's words.
 */
export function parsePrivateKeyPem(text: string): { key: crypto.KeyObject; algorithm: Algorithm } {
    const block = pemDecode(text);
    if (!block) throw new Error(`failed to decode PEM block: decoded bytes 0, undecoded ${text.length}`);
    const known = [PEM.PUBLIC_KEY, ...Object.keys(PARSE_AS), PEM.CERTIFICATE, PEM.CERTIFICATE_REQUEST];
    if (!known.includes(block.type)) throw new Error(`unsupported PEM preamble/type: ${block.type}`);
    const as = PARSE_AS[block.type];
    if (!as) throw new Error(`unable to determine parser for PEM preamble: ${block.type}`);
    let key: crypto.KeyObject;
    try {
        key = crypto.createPrivateKey({ key: block.der, format: "der", type: as });
    } catch (err) {
        throw new Error(`failed to parse private key given PEM preamble '${block.type}': ${(err as Error).message}`, {
            cause: err,
        });
    }
    return { key, algorithm: algorithmOf(key) };
}

/** The public half of a key (a public key as it is: node refuses to derive one from it). */
export const publicOf = (key: crypto.KeyObject): crypto.KeyObject =>
    key.type === "public" ? key : crypto.createPublicKey(key);

/** x509.MarshalPKIXPublicKey of the key's public half. */
export const spkiOf = (key: crypto.KeyObject): Buffer => publicOf(key).export({ type: "spki", format: "der" });

const b64url = (s: string | undefined): Buffer => Buffer.from(s ?? "", "base64url");

/**
 * The uncompressed point (0x04 ‖ X ‖ Y) of an EC key, as elliptic.Marshal writes it: the SPKI's BIT
 * STRING (read from DER: node's JWK export has no P-224).
 */
export function ecPoint(key: crypto.KeyObject): Buffer {
    const [, point] = childrenOf(readSingle(spkiOf(key)));
    return Buffer.from(expectTag(point, TAG.BIT_STRING, "public key").content.subarray(1));
}

/** An Ed25519 public key's 32 bytes. */
export const ed25519Public = (key: crypto.KeyObject): Buffer => b64url(publicOf(key).export({ format: "jwk" }).x);

/**
 * common_cert.go generateSubjectKeyID: SHA-1 of the RSA key's PKCS #1 encoding, of the EC point,
 * or of asn1.Marshal(ed25519.PublicKey), which Go writes as an OCTET STRING (04 20 ‖ key).
 */
export function subjectKeyId(publicKey: crypto.KeyObject): Buffer {
    const type = publicKey.asymmetricKeyType;
    let bytes: Buffer;
    if (type === "rsa") bytes = publicOf(publicKey).export({ type: "pkcs1", format: "der" });
    else if (type === "ec") bytes = ecPoint(publicKey);
    else if (type === "ed25519") bytes = Buffer.concat([Buffer.from([0x04, 0x20]), ed25519Public(publicKey)]);
    else throw new Error(`failed to marshal public key of type ${type ?? "unknown"}: unsupported public key type`);
    return crypto.createHash("sha1").update(bytes).digest();
}

// ---- OpenSSH encodings (golang.org/x/crypto/ssh: Marshal, MarshalAuthorizedKey, MarshalPrivateKey) ----

function sshUint32(n: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
}
const sshString = (b: Buffer | string): Buffer => {
    const bytes = typeof b === "string" ? Buffer.from(b, "utf8") : b;
    return Buffer.concat([sshUint32(bytes.length), bytes]);
};
/** RFC 4251 mpint of a non-negative magnitude: no leading zeros, a 0x00 when the top bit is set, empty for 0. */
function sshMpint(magnitude: Buffer): Buffer {
    let i = 0;
    while (i < magnitude.length && magnitude[i] === 0) i++;
    const m = magnitude.subarray(i);
    return sshString(m.length > 0 && m[0] & 0x80 ? Buffer.concat([Buffer.from([0]), m]) : m);
}

/** The SSH key type and wire-format public key (ssh.NewPublicKey(...).Marshal()); none for P-224. */
export function sshPublicKey(key: crypto.KeyObject): { type: string; blob: Buffer } | undefined {
    if (key.asymmetricKeyType === "rsa") {
        const jwk = publicOf(key).export({ format: "jwk" });
        return {
            type: "ssh-rsa",
            blob: Buffer.concat([sshString("ssh-rsa"), sshMpint(b64url(jwk.e)), sshMpint(b64url(jwk.n))]),
        };
    }
    if (key.asymmetricKeyType === "ed25519") {
        return { type: "ssh-ed25519", blob: Buffer.concat([sshString("ssh-ed25519"), sshString(ed25519Public(key))]) };
    }
    const curve = CURVES[curveOf(key)].ssh;
    // x/crypto/ssh has no P-224: the provider leaves the OpenSSH fields empty (common_key.go setPublicKeyAttributes).
    if (curve === undefined) return undefined;
    const type = `ecdsa-sha2-${curve}`;
    return { type, blob: Buffer.concat([sshString(type), sshString(curve), sshString(ecPoint(key))]) };
}

/** public_key_openssh, public_key_fingerprint_md5 and _sha256 as setPublicKeyAttributes computes them. */
export function sshPublicAttributes(key: crypto.KeyObject): { openssh: string; md5: string; sha256: string } {
    const pub = sshPublicKey(key);
    if (!pub) return { openssh: "", md5: "", sha256: "" };
    const md5 = crypto.createHash("md5").update(pub.blob).digest("hex");
    return {
        openssh: `${pub.type} ${pub.blob.toString("base64")}\n`,
        md5: md5.match(/../g)?.join(":") ?? "",
        sha256: `SHA256:${crypto.createHash("sha256").update(pub.blob).digest("base64").replace(/=+$/, "")}`,
    };
}

/** The type-specific private fields of ssh.MarshalPrivateKey's openSSH*PrivateKey structs. */
function sshPrivateFields(key: crypto.KeyObject): Buffer {
    const jwk = key.export({ format: "jwk" });
    if (key.asymmetricKeyType === "rsa") {
        // openSSHRSAPrivateKey: N, E, D, Iqmp, P, Q.
        return Buffer.concat([jwk.n, jwk.e, jwk.d, jwk.qi, jwk.p, jwk.q].map((v) => sshMpint(b64url(v))));
    }
    if (key.asymmetricKeyType === "ed25519") {
        // openSSHEd25519PrivateKey: Pub, Priv (Go's 64-byte private key: seed ‖ public key).
        const pub = b64url(jwk.x);
        return Buffer.concat([sshString(pub), sshString(Buffer.concat([b64url(jwk.d), pub]))]);
    }
    // openSSHECDSAPrivateKey: Curve, Pub, D.
    const curve = CURVES[curveOf(key)].ssh ?? "";
    return Buffer.concat([sshString(curve), sshString(ecPoint(key)), sshMpint(b64url(jwk.d))]);
}

/**
 * private_key_openssh: ssh.MarshalPrivateKey(key, "") in a PEM block "OPENSSH PRIVATE KEY" —
 * unencrypted ("none" cipher and KDF), one key, random check words, empty comment, padded with
 * 1, 2, 3… to a multiple of 8. Empty for P-224 (prvKeySupportsOpenSSHMarshalling).
 */
export function opensshPrivateKey(key: crypto.KeyObject): string {
    const pub = sshPublicKey(key);
    if (!pub) return "";
    const check = crypto.randomBytes(4);
    let block = Buffer.concat([check, check, sshString(pub.type), sshPrivateFields(key), sshString("")]);
    const padding: number[] = [];
    for (let i = 0; (block.length + i) % 8 !== 0; i++) padding.push(i + 1);
    block = Buffer.concat([block, Buffer.from(padding)]);
    const body = Buffer.concat([
        Buffer.from("openssh-key-v1\0", "binary"),
        sshString("none"),
        sshString("none"),
        sshString(""),
        sshUint32(1),
        sshString(pub.blob),
        sshString(block),
    ]);
    return pemEncode(PEM.PRIVATE_KEY_OPENSSH, body);
}

/** The PEM form resource_private_key.go Create writes as private_key_pem for each key type. */
export function privateKeyPem(key: crypto.KeyObject): string {
    if (key.asymmetricKeyType === "rsa")
        return pemEncode(PEM.PRIVATE_KEY_RSA, key.export({ type: "pkcs1", format: "der" }));
    if (key.asymmetricKeyType === "ec")
        return pemEncode(PEM.PRIVATE_KEY_EC, key.export({ type: "sec1", format: "der" }));
    // ED25519 has no key-specific form: x509.MarshalPKCS8PrivateKey in a "PRIVATE KEY" block.
    return privateKeyPkcs8Pem(key);
}

export const privateKeyPkcs8Pem = (key: crypto.KeyObject): string =>
    pemEncode(PEM.PRIVATE_KEY_PKCS8, key.export({ type: "pkcs8", format: "der" }));
