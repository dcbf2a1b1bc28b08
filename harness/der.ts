// Just enough DER (ITU-T X.690) for the tls double: to build the X.509 certificates and PKCS #10
// requests terraform-provider-tls builds with Go's crypto/x509 (node:crypto signs but cannot build
// either), and to read back the parts of a request and of a CA certificate that Go reads.

export const TAG = {
    BOOLEAN: 0x01,
    INTEGER: 0x02,
    BIT_STRING: 0x03,
    OCTET_STRING: 0x04,
    NULL: 0x05,
    OID: 0x06,
    UTF8_STRING: 0x0c,
    PRINTABLE_STRING: 0x13,
    T61_STRING: 0x14,
    IA5_STRING: 0x16,
    UTC_TIME: 0x17,
    GENERALIZED_TIME: 0x18,
    BMP_STRING: 0x1e,
    SEQUENCE: 0x30,
    SET: 0x31,
} as const;

function lengthOctets(n: number): Buffer {
    if (n < 0x80) return Buffer.from([n]);
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One element: identifier octet, definite length, contents. */
export function tlv(tag: number, content: Buffer): Buffer {
    return Buffer.concat([Buffer.from([tag]), lengthOctets(content.length), content]);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(TAG.SEQUENCE, Buffer.concat(items));

/** SET OF: DER orders the encodings (Go's encoding/asn1 sorts them with bytes.Compare too). */
export const setOf = (...items: Buffer[]): Buffer =>
    tlv(TAG.SET, Buffer.concat([...items].sort((a, b) => Buffer.compare(a, b))));

export const octetString = (bytes: Buffer): Buffer => tlv(TAG.OCTET_STRING, bytes);

export const nullValue = (): Buffer => tlv(TAG.NULL, Buffer.alloc(0));

export const booleanValue = (v: boolean): Buffer => tlv(TAG.BOOLEAN, Buffer.from([v ? 0xff : 0x00]));

/** BIT STRING with `unusedBits` zero bits at the end of the last octet. */
export const bitString = (bytes: Buffer, unusedBits = 0): Buffer =>
    tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), bytes]));

/** `[n] EXPLICIT`: a constructed context-specific element wrapping `inner`. */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);

/** `[n] IMPLICIT` of a primitive type (GeneralName's dNSName, iPAddress, URI; keyIdentifier). */
export const implicitPrimitive = (n: number, content: Buffer): Buffer => tlv(0x80 | n, content);

/** Big-endian magnitude without leading zero octets (empty for zero). */
export function stripLeadingZeros(bytes: Buffer): Buffer {
    let i = 0;
    while (i < bytes.length && bytes[i] === 0) i++;
    return bytes.subarray(i);
}

/** A non-negative INTEGER from its big-endian magnitude: minimal, with a 0x00 octet when the top bit is set. */
export function unsignedInteger(magnitude: Buffer): Buffer {
    const m = stripLeadingZeros(magnitude);
    if (m.length === 0) return tlv(TAG.INTEGER, Buffer.from([0]));
    return tlv(TAG.INTEGER, m[0] & 0x80 ? Buffer.concat([Buffer.from([0]), m]) : m);
}

export function bigintBytes(n: bigint): Buffer {
    if (n < 0n) throw new Error("negative integers are not needed here");
    const hex = n.toString(16);
    return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex");
}

export const integer = (n: bigint | number): Buffer => unsignedInteger(bigintBytes(BigInt(n)));

function base128(n: number): number[] {
    const out = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) out.unshift((v & 0x7f) | 0x80);
    return out;
}

/** OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Buffer {
    const arcs = dotted.split(".").map(Number);
    const body = [...base128(arcs[0] * 40 + arcs[1]), ...arcs.slice(2).flatMap(base128)];
    return tlv(TAG.OID, Buffer.from(body));
}

export function decodeOid(content: Buffer): string {
    const arcs: number[] = [];
    let v = 0;
    for (const b of content) {
        v = v * 128 + (b & 0x7f);
        if (b & 0x80) continue;
        if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
        else arcs.push(v);
        v = 0;
    }
    return arcs.join(".");
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/**
 * A certificate's validity time as Go's encoding/asn1 writes a time.Time: UTCTime (YYMMDDHHMMSSZ)
 * for the years 1950–2049, else GeneralizedTime; always UTC, whole seconds (the fraction dropped).
 */
export function timeValue(t: Date): Buffer {
    const y = t.getUTCFullYear();
    const rest = `${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())}${pad(t.getUTCHours())}${pad(t.getUTCMinutes())}${pad(t.getUTCSeconds())}Z`;
    if (y >= 1950 && y < 2050) return tlv(TAG.UTC_TIME, Buffer.from(`${pad(y % 100)}${rest}`, "ascii"));
    return tlv(TAG.GENERALIZED_TIME, Buffer.from(`${pad(y, 4)}${rest}`, "ascii"));
}

/** One decoded element; `raw` is its whole encoding (what Go keeps as RawSubject, RawValue.FullBytes). */
export interface Element {
    tag: number;
    content: Buffer;
    raw: Buffer;
}

/** Reads the element at `offset`; refuses indefinite or overlong lengths, as DER does. */
export function readElement(buf: Buffer, offset = 0): Element & { end: number } {
    if (offset + 2 > buf.length) throw new Error("asn1: truncated element");
    const tag = buf[offset];
    if ((tag & 0x1f) === 0x1f) throw new Error("asn1: high-tag-number form is not supported");
    let length = buf[offset + 1];
    let header = 2;
    if (length & 0x80) {
        const count = length & 0x7f;
        if (count === 0 || count > 4) throw new Error("asn1: unsupported length");
        length = 0;
        for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i];
        header += count;
    }
    const end = offset + header + length;
    if (end > buf.length) throw new Error("asn1: truncated element");
    return { tag, content: buf.subarray(offset + header, end), raw: buf.subarray(offset, end), end };
}

/** The one element `buf` holds; trailing data is an error, as in Go's parsers. */
export function readSingle(buf: Buffer): Element {
    const el = readElement(buf);
    if (el.end !== buf.length) throw new Error("asn1: trailing data");
    return el;
}

/** The elements inside a constructed element (SEQUENCE, SET, [n] EXPLICIT). */
export function childrenOf(el: Element): Element[] {
    const out: Element[] = [];
    for (let offset = 0; offset < el.content.length;) {
        const child = readElement(el.content, offset);
        out.push(child);
        offset = child.end;
    }
    return out;
}

/** Checks an element's tag, naming what was expected. */
export function expectTag(el: Element | undefined, tag: number, what: string): Element {
    if (!el || el.tag !== tag) throw new Error(`asn1: malformed ${what}`);
    return el;
}
