// The grammar of `restoreTarget`: where a restore's recovery stops. No imports: the config's
// validation and the restore's rendering both use it.

/** A restore point name: what recovery_target_name can name and a shell passes unquoted. */
export const RESTORE_POINT_NAME = /^[A-Za-z0-9_.:-]{1,63}$/;

/** Where recovery stops: the end of the archived WAL (`default`), or a time, LSN, transaction id or restore point. */
export type RestoreTarget = { type: "default" } | { type: "time" | "lsn" | "xid" | "name"; target: string };

/** What `restoreTarget` accepts, for error messages. */
export const RESTORE_TARGET_FORMS =
    "latest, time=2026-12-07T03:00:00Z (ISO 8601 with a zone), lsn=0/5000060, xid=1234 or name=RESTORE_POINT";

const TIME = /^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d(:?\d\d)?)$/;
const LSN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;

/**
 * Parses `restoreTarget`; throws saying what is wrong. `now` bounds a time target: recovery cannot
 * reach a moment that has not happened.
 */
export function parseRestoreTarget(value: string, now: Date = new Date()): RestoreTarget {
    if (value === "latest") return { type: "default" };
    const eq = value.indexOf("=");
    const kind = eq > 0 ? value.slice(0, eq) : "";
    const target = value.slice(eq + 1);
    switch (kind) {
        case "time": {
            if (!TIME.test(target) || Number.isNaN(Date.parse(target.replace(" ", "T"))))
                throw new Error(`"${target}" is not an ISO 8601 time with a zone, such as 2026-12-07T03:00:00Z`);
            if (Date.parse(target.replace(" ", "T")) > now.getTime())
                throw new Error(`${target} is in the future (now ${now.toISOString()}): recovery cannot reach it`);
            return { type: "time", target };
        }
        case "lsn":
            if (!LSN.test(target)) throw new Error(`"${target}" is not an LSN such as 0/5000060`);
            return { type: "lsn", target: target.toUpperCase() };
        case "xid":
            if (!/^[1-9]\d{0,9}$/.test(target) || Number(target) > 4294967295)
                throw new Error(`"${target}" is not a transaction id (1..4294967295)`);
            return { type: "xid", target };
        case "name":
            if (!RESTORE_POINT_NAME.test(target))
                throw new Error(`"${target}" is not a restore point name (letters, digits, _ . : -, at most 63)`);
            return { type: "name", target };
        default:
            throw new Error(`expected ${RESTORE_TARGET_FORMS}`);
    }
}

/**
 * A time target as pgBackRest parses it (`YYYY-MM-DD HH:MM:SS[.frac][±HH[:MM]]`, src/common/type/
 * convert.c cvtZToTime: no `T`, no `Z`); PostgreSQL reads the same form in recovery_target_time.
 */
export function pgbackrestTime(iso: string): string {
    return iso.replace("T", " ").replace(/Z$/, "+00");
}
