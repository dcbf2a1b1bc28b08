// X.509 certificates and PKCS #10 requests written as Go's crypto/x509 writes them for
// terraform-provider-tls (CreateCertificate, CreateCertificateRequest, pkix.Name.ToRDNSequence),
// and the parts of a request and a CA certificate Go reads back (ParseCertificateRequest,
// ParseCertificates, Name.FillFromRDNSequence). node:crypto signs; der.ts encodes.
import * as crypto from "node:crypto";
import {
    bigintBytes,
    bitString,
    booleanValue,
    childrenOf,
    decodeOid,
    Element,
    expectTag,
    explicit,
    implicitPrimitive,
    integer,
    nullValue,
    octetString,
    oid,
    readSingle,
    sequence,
    setOf,
    TAG,
    timeValue,
    tlv,
    unsignedInteger,
} from "./der";
import { curveOf, publicOf, spkiOf } from "./tls-keys";

const OID = {
    commonName: "2.5.4.3",
    serialNumber: "2.5.4.5",
    country: "2.5.4.6",
    locality: "2.5.4.7",
    province: "2.5.4.8",
    streetAddress: "2.5.4.9",
    organization: "2.5.4.10",
    organizationalUnit: "2.5.4.11",
    postalCode: "2.5.4.17",
    emailAddress: "1.2.840.113549.1.9.1",
    extensionRequest: "1.2.840.113549.1.9.14",
    subjectKeyId: "2.5.29.14",
    keyUsage: "2.5.29.15",
    subjectAltName: "2.5.29.17",
    basicConstraints: "2.5.29.19",
    authorityKeyId: "2.5.29.35",
    extKeyUsage: "2.5.29.37",
} as const;

/** pkix.Name, with the fields the provider sets: multi-valued ones are lists, as in Go. */
export interface Name {
    country: string[];
    province: string[];
    locality: string[];
    streetAddress: string[];
    postalCode: string[];
    organization: string[];
    organizationalUnit: string[];
    commonName: string;
    serialNumber: string;
    /** The provider's email_address, which it adds to ExtraNames as an IA5String. */
    emailAddress?: string;
}

export const emptyName = (): Name => ({
    country: [],
    province: [],
    locality: [],
    streetAddress: [],
    postalCode: [],
    organization: [],
    organizationalUnit: [],
    commonName: "",
    serialNumber: "",
});

/** cmp.Equal(name, pkix.Name{}): no field set at all. */
export function isEmptyName(n: Name): boolean {
    const lists = [n.country, n.province, n.locality, n.streetAddress, n.postalCode, n.organization];
    return (
        lists.every((l) => l.length === 0) &&
        n.organizationalUnit.length === 0 &&
        n.commonName === "" &&
        n.serialNumber === "" &&
        n.emailAddress === undefined
    );
}

// encoding/asn1 isPrintable with asterisk and ampersand rejected, as makeField checks a plain string.
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** A Go string in ASN.1: PrintableString when its characters allow, else UTF8String (encoding/asn1 makeField). */
function goString(s: string): Buffer {
    return tlv(PRINTABLE.test(s) ? TAG.PRINTABLE_STRING : TAG.UTF8_STRING, Buffer.from(s, "utf8"));
}

const attribute = (type: string, value: Buffer): Buffer => sequence(oid(type), value);

/**
 * pkix.Name.ToRDNSequence then asn1.Marshal: C, ST, L, STREET, PostalCode, O, OU, CN, SERIALNUMBER,
 * then the extra names; the values of one list form a single multi-valued RDN (appendRDNs).
 */
export function encodeName(n: Name): Buffer {
    const rdns: Buffer[] = [];
    const lists: Array<[string, string[]]> = [
        [OID.country, n.country],
        [OID.province, n.province],
        [OID.locality, n.locality],
        [OID.streetAddress, n.streetAddress],
        [OID.postalCode, n.postalCode],
        [OID.organization, n.organization],
        [OID.organizationalUnit, n.organizationalUnit],
    ];
    for (const [type, values] of lists) {
        if (values.length > 0) rdns.push(setOf(...values.map((v) => attribute(type, goString(v)))));
    }
    if (n.commonName !== "") rdns.push(setOf(attribute(OID.commonName, goString(n.commonName))));
    if (n.serialNumber !== "") rdns.push(setOf(attribute(OID.serialNumber, goString(n.serialNumber))));
    if (n.emailAddress !== undefined) {
        const value = tlv(TAG.IA5_STRING, Buffer.from(n.emailAddress, "utf8"));
        rdns.push(setOf(attribute(OID.emailAddress, value)));
    }
    return sequence(...rdns);
}

const STRING_TAGS = new Set<number>([TAG.UTF8_STRING, TAG.PRINTABLE_STRING, TAG.T61_STRING, TAG.IA5_STRING]);

/**
 * pkix.Name.FillFromRDNSequence over a DER Name: the string values of the 2.5.4.x attributes the
 * struct has fields for; anything else (an emailAddress attribute among them) is only in Names,
 * which ToRDNSequence does not write back. `attributes` counts every value (len(Names)).
 */
export function decodeName(el: Element): { name: Name; attributes: number } {
    const name = emptyName();
    let attributes = 0;
    for (const rdn of childrenOf(expectTag(el, TAG.SEQUENCE, "Name"))) {
        for (const atv of childrenOf(expectTag(rdn, TAG.SET, "RDN"))) {
            const [type, value] = childrenOf(expectTag(atv, TAG.SEQUENCE, "attribute"));
            attributes++;
            if (!value || !STRING_TAGS.has(value.tag)) continue;
            const text = value.content.toString(value.tag === TAG.UTF8_STRING ? "utf8" : "latin1");
            switch (decodeOid(expectTag(type, TAG.OID, "attribute type").content)) {
                case OID.commonName:
                    name.commonName = text;
                    break;
                case OID.serialNumber:
                    name.serialNumber = text;
                    break;
                case OID.country:
                    name.country.push(text);
                    break;
                case OID.locality:
                    name.locality.push(text);
                    break;
                case OID.province:
                    name.province.push(text);
                    break;
                case OID.streetAddress:
                    name.streetAddress.push(text);
                    break;
                case OID.organization:
                    name.organization.push(text);
                    break;
                case OID.organizationalUnit:
                    name.organizationalUnit.push(text);
                    break;
                case OID.postalCode:
                    name.postalCode.push(text);
                    break;
            }
        }
    }
    return { name, attributes };
}

/** The names a certificate or request covers (template.DNSNames, IPAddresses, URIs). */
export interface AltNames {
    dnsNames: string[];
    /** 4 bytes for IPv4 (also IPv4-mapped IPv6, as net.IP.To4 gives), else 16. */
    ipAddresses: Buffer[];
    uris: string[];
}

/** x509 isIA5String, which marshalSANs applies to each name. */
function ia5(s: string): Buffer {
    if (/[\u0080-\u{10ffff}]/u.test(s)) throw new Error(`x509: ${JSON.stringify(s)} cannot be encoded as an IA5String`);
    return Buffer.from(s, "ascii");
}

/** marshalSANs: every DNS name ([2]), then every IP ([7]), then every URI ([6]). */
function subjectAltNames(n: AltNames): Buffer {
    return sequence(
        ...n.dnsNames.map((d) => implicitPrimitive(2, ia5(d))),
        ...n.ipAddresses.map((ip) => implicitPrimitive(7, ip)),
        ...n.uris.map((u) => implicitPrimitive(6, ia5(u))),
    );
}

const hasAltNames = (n: AltNames): boolean => n.dnsNames.length + n.ipAddresses.length + n.uris.length > 0;

/** pkix.Extension: critical omitted when false (asn1 "optional" zero value). */
function extension(type: string, critical: boolean, value: Buffer): Buffer {
    return sequence(oid(type), ...(critical ? [booleanValue(true)] : []), octetString(value));
}

/** x509.KeyUsage bits (KeyUsageDigitalSignature = 1 << 0 … KeyUsageDecipherOnly = 1 << 8). */
export const KEY_USAGE_BITS: Record<string, number> = {
    digital_signature: 1 << 0,
    content_commitment: 1 << 1,
    key_encipherment: 1 << 2,
    data_encipherment: 1 << 3,
    key_agreement: 1 << 4,
    cert_signing: 1 << 5,
    crl_signing: 1 << 6,
    encipher_only: 1 << 7,
    decipher_only: 1 << 8,
};

/** The OIDs Go's x509 writes for each x509.ExtKeyUsage the provider maps allowed_uses to. */
export const EXT_KEY_USAGE_OIDS: Record<string, string> = {
    any_extended: "2.5.29.37.0",
    server_auth: "1.3.6.1.5.5.7.3.1",
    client_auth: "1.3.6.1.5.5.7.3.2",
    code_signing: "1.3.6.1.5.5.7.3.3",
    email_protection: "1.3.6.1.5.5.7.3.4",
    ipsec_end_system: "1.3.6.1.5.5.7.3.5",
    ipsec_tunnel: "1.3.6.1.5.5.7.3.6",
    ipsec_user: "1.3.6.1.5.5.7.3.7",
    timestamping: "1.3.6.1.5.5.7.3.8",
    ocsp_signing: "1.3.6.1.5.5.7.3.9",
    microsoft_server_gated_crypto: "1.3.6.1.4.1.311.10.3.3",
    netscape_server_gated_crypto: "2.16.840.1.113730.4.1",
    microsoft_commercial_code_signing: "1.3.6.1.4.1.311.2.1.22",
    microsoft_kernel_code_signing: "1.3.6.1.4.1.311.61.1.1",
};

function reverseBits(b: number): number {
    let r = 0;
    for (let i = 0; i < 8; i++) if (b & (1 << i)) r |= 1 << (7 - i);
    return r;
}

/** marshalKeyUsage: bit i of the usage is BIT STRING bit i; trailing zero bits are unused bits. */
function keyUsageValue(usage: number): Buffer {
    const bytes = [reverseBits(usage & 0xff), reverseBits((usage >> 8) & 0xff)];
    const used = Buffer.from(bytes[1] !== 0 ? bytes : bytes.slice(0, 1));
    const last = used[used.length - 1];
    let unused = 0;
    while (unused < 8 && !(last & (1 << unused))) unused++;
    return bitString(used, unused);
}

/** What Go's CreateCertificate reads from the template (the fields the provider sets). */
export interface CertificateTemplate extends AltNames {
    serialNumber: bigint;
    subject: Name;
    notBefore: Date;
    notAfter: Date;
    keyUsage: number;
    /** OIDs, in the order of allowed_uses (repeats kept, as the provider appends). */
    extKeyUsage: string[];
    isCA: boolean;
    /** template.MaxPathLen: 0 (with MaxPathLenZero never set) and -1 write no pathLenConstraint. */
    maxPathLen: number;
    subjectKeyId?: Buffer;
    authorityKeyId?: Buffer;
}

/** The issuing side: for a self-signed certificate, the template itself. */
export interface Issuer {
    /** The issuer Name as DER (RawSubject of a parsed CA certificate, kept byte for byte). */
    subjectDer: Buffer;
    subjectKeyId?: Buffer;
    /** The CA certificate's public key; Go checks the signing key matches it. */
    publicKey?: crypto.KeyObject;
}

/** signingParamsForKey defaults: SHA-256 with RSA; ECDSA with SHA-256 (P-224, P-256), -384, -512; Ed25519. */
function signatureAlgorithm(signer: crypto.KeyObject): { id: Buffer; digest: string | null } {
    if (signer.asymmetricKeyType === "rsa")
        return { id: sequence(oid("1.2.840.113549.1.1.11"), nullValue()), digest: "sha256" };
    if (signer.asymmetricKeyType === "ed25519") return { id: sequence(oid("1.3.101.112")), digest: null };
    const curve = curveOf(signer);
    const [digest, suffix] = curve === "P384" ? ["sha384", "3"] : curve === "P521" ? ["sha512", "4"] : ["sha256", "2"];
    return { id: sequence(oid(`1.2.840.10045.4.3.${suffix}`)), digest };
}

/** The signed structure: SEQUENCE { tbs, algorithm, BIT STRING signature }. */
function signed(tbs: Buffer, signer: crypto.KeyObject): Buffer {
    const alg = signatureAlgorithm(signer);
    const signature = crypto.sign(alg.digest, tbs, signer);
    return sequence(tbs, alg.id, bitString(signature));
}

/** buildCertExtensions order: KeyUsage, ExtKeyUsage, BasicConstraints, SKI, AKI, SAN. */
function certificateExtensions(t: CertificateTemplate, subjectIsEmpty: boolean, authorityKeyId?: Buffer): Buffer[] {
    const exts: Buffer[] = [];
    if (t.keyUsage !== 0) exts.push(extension(OID.keyUsage, true, keyUsageValue(t.keyUsage)));
    if (t.extKeyUsage.length > 0) exts.push(extension(OID.extKeyUsage, false, sequence(...t.extKeyUsage.map(oid))));
    // BasicConstraintsValid is always true in the provider; cA omitted when false, pathLen when none.
    const constraints = [...(t.isCA ? [booleanValue(true)] : []), ...(t.maxPathLen > 0 ? [integer(t.maxPathLen)] : [])];
    exts.push(extension(OID.basicConstraints, true, sequence(...constraints)));
    if (t.subjectKeyId && t.subjectKeyId.length > 0)
        exts.push(extension(OID.subjectKeyId, false, octetString(t.subjectKeyId)));
    if (authorityKeyId && authorityKeyId.length > 0)
        exts.push(extension(OID.authorityKeyId, false, sequence(implicitPrimitive(0, authorityKeyId))));
    // RFC 5280 4.2.1.6, as Go applies it: the SAN is critical when the subject is an empty sequence.
    if (hasAltNames(t)) exts.push(extension(OID.subjectAltName, subjectIsEmpty, subjectAltNames(t)));
    return exts;
}

const EMPTY_NAME_DER = Buffer.from([0x30, 0x00]);

/**
 * x509.CreateCertificate: version 3, the template's serial and validity (whole seconds, UTC), the
 * issuer's Name, the AuthorityKeyId taken from the issuer's SubjectKeyId unless issuer and subject
 * Names are equal (then the template's own), signed by `signer`.
 */
export function createCertificate(
    t: CertificateTemplate,
    issuer: Issuer | "self",
    subjectPublicKey: crypto.KeyObject,
    signer: crypto.KeyObject,
): Buffer {
    if (!t.isCA && t.maxPathLen !== -1 && t.maxPathLen !== 0)
        throw new Error("x509: only CAs are allowed to specify MaxPathLen");
    const subjectDer = encodeName(t.subject);
    const parent: Issuer = issuer === "self" ? { subjectDer, subjectKeyId: t.subjectKeyId } : issuer;
    if (parent.publicKey && !parent.publicKey.equals(publicOf(signer)))
        throw new Error("x509: provided PrivateKey doesn't match parent's PublicKey");
    const authorityKeyId =
        !parent.subjectDer.equals(subjectDer) && parent.subjectKeyId && parent.subjectKeyId.length > 0
            ? parent.subjectKeyId
            : t.authorityKeyId;
    const exts = certificateExtensions(t, subjectDer.equals(EMPTY_NAME_DER), authorityKeyId);
    const tbs = sequence(
        explicit(0, integer(2)),
        unsignedInteger(bigintBytes(t.serialNumber)),
        signatureAlgorithm(signer).id,
        parent.subjectDer,
        sequence(timeValue(t.notBefore), timeValue(t.notAfter)),
        subjectDer,
        spkiOf(subjectPublicKey),
        explicit(3, sequence(...exts)),
    );
    return signed(tbs, signer);
}

/**
 * x509.CreateCertificateRequest: version 0, the subject, the key, and the SAN (non-critical) as an
 * extensionRequest attribute when there are names; an empty attribute set otherwise.
 */
export function createCertificateRequest(subject: Name, names: AltNames, key: crypto.KeyObject): Buffer {
    const attributes = hasAltNames(names)
        ? [
              sequence(
                  oid(OID.extensionRequest),
                  setOf(sequence(extension(OID.subjectAltName, false, subjectAltNames(names)))),
              ),
          ]
        : [];
    const info = sequence(integer(0), encodeName(subject), spkiOf(key), tlv(0xa0, Buffer.concat(attributes)));
    return signed(info, key);
}

/** parseSANExtension: DNS names, IP addresses (4 or 16 bytes), URIs; e-mail names are skipped here. */
function parseAltNames(value: Buffer): AltNames {
    const names: AltNames = { dnsNames: [], ipAddresses: [], uris: [] };
    for (const gn of childrenOf(expectTag(readSingle(value), TAG.SEQUENCE, "SubjectAltName"))) {
        if (gn.tag === 0x82) names.dnsNames.push(gn.content.toString("latin1"));
        if (gn.tag === 0x86) names.uris.push(gn.content.toString("latin1"));
        if (gn.tag === 0x87) {
            if (gn.content.length !== 4 && gn.content.length !== 16)
                throw new Error(`x509: cannot parse IP address of length ${gn.content.length}`);
            names.ipAddresses.push(Buffer.from(gn.content));
        }
    }
    return names;
}

/** The extensions of a DER `SEQUENCE OF Extension` as id, critical, value. */
function readExtensions(el: Element): Array<{ id: string; value: Buffer }> {
    return childrenOf(expectTag(el, TAG.SEQUENCE, "extensions")).map((ext) => {
        const parts = childrenOf(expectTag(ext, TAG.SEQUENCE, "extension"));
        const value = parts[parts.length - 1];
        return {
            id: decodeOid(expectTag(parts[0], TAG.OID, "extension id").content),
            value: expectTag(value, TAG.OCTET_STRING, "extension value").content,
        };
    });
}

/** What resource_locally_signed_cert.go takes from a parsed request: Subject, names, public key. */
export interface ParsedRequest extends AltNames {
    subject: Name;
    /** len(Subject.Names): the CA check compares the parsed Name, Names included, with pkix.Name{}. */
    subjectAttributes: number;
    publicKey: crypto.KeyObject;
}

/** x509.ParseCertificateRequest (its signature is not checked, as Go's parser does not check it). */
export function parseCertificateRequest(der: Buffer): ParsedRequest {
    const [info] = childrenOf(expectTag(readSingle(der), TAG.SEQUENCE, "certificate request"));
    const [, subjectEl, spki, attrs] = childrenOf(expectTag(info, TAG.SEQUENCE, "certificate request info"));
    const { name, attributes } = decodeName(subjectEl);
    const publicKey = crypto.createPublicKey({
        key: expectTag(spki, TAG.SEQUENCE, "public key").raw,
        format: "der",
        type: "spki",
    });
    const result: ParsedRequest = {
        subject: name,
        subjectAttributes: attributes,
        publicKey,
        dnsNames: [],
        ipAddresses: [],
        uris: [],
    };
    for (const attr of attrs && attrs.tag === 0xa0 ? childrenOf(attrs) : []) {
        const [type, values] = childrenOf(attr);
        if (decodeOid(type.content) !== OID.extensionRequest || !values || childrenOf(values).length === 0) continue;
        for (const ext of readExtensions(childrenOf(values)[0])) {
            if (ext.id !== OID.subjectAltName) continue;
            const names = parseAltNames(ext.value);
            result.dnsNames.push(...names.dnsNames);
            result.ipAddresses.push(...names.ipAddresses);
            result.uris.push(...names.uris);
        }
    }
    return result;
}

/** What the provider and CreateCertificate use of a parsed CA certificate. */
export interface ParsedCertificate {
    subjectDer: Buffer;
    subjectKeyId?: Buffer;
    publicKey: crypto.KeyObject;
    isCA: boolean;
}

/** x509.ParseCertificates over one DER block: exactly one certificate, else the provider's errors. */
export function parseCertificate(der: Buffer): ParsedCertificate {
    const cert = onlyCertificate(der);
    const [tbs] = childrenOf(expectTag(cert, TAG.SEQUENCE, "certificate"));
    const fields = childrenOf(expectTag(tbs, TAG.SEQUENCE, "tbsCertificate"));
    const rest = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
    const [, , , , subject, spki, ...optional] = rest;
    const parsed: ParsedCertificate = {
        subjectDer: Buffer.from(expectTag(subject, TAG.SEQUENCE, "subject").raw),
        publicKey: crypto.createPublicKey({
            key: expectTag(spki, TAG.SEQUENCE, "public key").raw,
            format: "der",
            type: "spki",
        }),
        isCA: false,
    };
    const extsEl = optional.find((el) => el.tag === 0xa3);
    for (const ext of extsEl ? readExtensions(childrenOf(extsEl)[0]) : []) {
        if (ext.id === OID.subjectKeyId) parsed.subjectKeyId = Buffer.from(readSingle(ext.value).content);
        if (ext.id === OID.basicConstraints) {
            const first = childrenOf(readSingle(ext.value))[0];
            parsed.isCA = first?.tag === TAG.BOOLEAN && first.content[0] !== 0;
        }
    }
    return parsed;
}

function onlyCertificate(der: Buffer): Element {
    const first = childrenOfBuffer(der);
    if (first.length === 0) throw new Error("no certificates found");
    if (first.length > 1) throw new Error("multiple certificates found in");
    return first[0];
}

/** The top-level elements of a buffer (ParseCertificates reads concatenated certificates). */
function childrenOfBuffer(der: Buffer): Element[] {
    return childrenOf({ tag: TAG.SEQUENCE, content: der, raw: der });
}
