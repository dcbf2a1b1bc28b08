// PostgreSQL WAL positions (pg_lsn): parsing, comparison and distance. Pure functions.
//
// A pg_lsn is a 64-bit byte position printed as two hex halves, `HI/LO` (e.g. `0/3000148`).
// Strings must not be compared as text ("0/A" > "0/10" as text), so every comparison goes
// through bigint.

/** A WAL position as PostgreSQL prints it, e.g. `0/3000148`. */
export type Lsn = string;

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** The 64-bit byte position of an LSN; throws on anything that is not `HI/LO` hex. */
export function parseLsn(lsn: string): bigint {
    const m = LSN_PATTERN.exec(lsn.trim());
    if (!m) throw new TypeError(`invalid LSN ${JSON.stringify(lsn)}: expected two hex numbers like 0/3000148`);
    return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** True when `lsn` is a well-formed LSN. */
export function isLsn(lsn: unknown): lsn is Lsn {
    return typeof lsn === "string" && LSN_PATTERN.test(lsn.trim());
}

/** The canonical text form of a byte position (upper-case hex, as PostgreSQL prints it). */
export function formatLsn(pos: bigint): Lsn {
    if (pos < 0n || pos > 0xffffffffffffffffn) throw new RangeError(`LSN position out of range: ${pos}`);
    return `${(pos >> 32n).toString(16).toUpperCase()}/${(pos & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** -1, 0 or 1 as `a` is before, at or after `b`. */
export function compareLsn(a: Lsn, b: Lsn): -1 | 0 | 1 {
    const x = parseLsn(a);
    const y = parseLsn(b);
    return x < y ? -1 : x > y ? 1 : 0;
}

/** Bytes from `from` to `to` (negative when `to` is before `from`), like pg_wal_lsn_diff(to, from). */
export function lsnDiff(to: Lsn, from: Lsn): bigint {
    return parseLsn(to) - parseLsn(from);
}

/** The later of two LSNs; `null`/`undefined` count as "nothing yet". */
export function maxLsn(a: Lsn | null | undefined, b: Lsn | null | undefined): Lsn | null {
    if (a == null) return b ?? null;
    if (b == null) return a;
    return compareLsn(a, b) >= 0 ? a : b;
}
