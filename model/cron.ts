// Five-field cron schedules (minute hour day-of-month month day-of-week), as busybox crond reads
// them in the backup repository's container: validated before anything is declared, and checked
// for two backup types starting in the same minute (pgBackRest would refuse the second one: the
// stanza's backup lock is held).

/** The fields of a schedule with their allowed ranges (day-of-week 7 is Sunday, as 0). */
const FIELDS = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31 },
    { name: "month", min: 1, max: 12 },
    { name: "day of week", min: 0, max: 7 },
] as const;

/** A parsed schedule: the allowed values of each field. */
export type CronSchedule = Array<Set<number>>;

/** Why `expr` is not a five-field schedule of numbers, ranges, lists, steps and `*`; undefined when it is. */
export function cronProblem(expr: string): string | undefined {
    try {
        parseCron(expr);
        return undefined;
    } catch (err) {
        return (err as Error).message;
    }
}

/** Parses a five-field schedule; throws naming the field that is wrong. */
export function parseCron(expr: string): CronSchedule {
    const fields = expr.trim().split(/\s+/);
    if (fields.length !== 5) {
        throw new Error(`expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`);
    }
    return fields.map((text, i) => parseField(text, FIELDS[i]));
}

function parseField(text: string, field: (typeof FIELDS)[number]): Set<number> {
    const values = new Set<number>();
    for (const part of text.split(",")) {
        const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
        if (!m) throw new Error(`${field.name} "${text}" is not a number, range (a-b), list (a,b), step (*/n) or *`);
        const from = m[1] === "*" ? field.min : Number(m[2]);
        const to = m[1] === "*" ? field.max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? field.max : from;
        const step = m[4] !== undefined ? Number(m[4]) : 1;
        if (from < field.min || to > field.max || from > to || step < 1) {
            throw new Error(`${field.name} "${text}" is outside ${field.min}-${field.max}`);
        }
        for (let v = from; v <= to; v += step) values.add(field.name === "day of week" && v === 7 ? 0 : v);
    }
    return values;
}

/** Whether `schedule` fires at `t` (UTC), by cron's rule: day-of-month OR day-of-week when both are restricted. */
export function cronFires(schedule: CronSchedule, t: Date): boolean {
    const [minute, hour, dom, month, dow] = schedule;
    if (!minute.has(t.getUTCMinutes()) || !hour.has(t.getUTCHours()) || !month.has(t.getUTCMonth() + 1)) return false;
    const domAll = dom.size === 31;
    const dowAll = dow.size === 7;
    const domHit = dom.has(t.getUTCDate());
    const dowHit = dow.has(t.getUTCDay());
    if (domAll || dowAll) return domHit && dowHit;
    return domHit || dowHit;
}

/** The first minute of a (non-leap) year at which both schedules fire, or undefined. */
export function firstCommonMinute(a: CronSchedule, b: CronSchedule): Date | undefined {
    const meets = (i: number) => [...a[i]].some((v) => b[i].has(v));
    // Disjoint minutes, hours or months never meet: most pairs end here without the year's walk.
    if (!meets(0) || !meets(1) || !meets(3)) return undefined;
    const start = Date.UTC(2027, 0, 1);
    for (let m = 0; m < 365 * 24 * 60; m++) {
        const t = new Date(start + m * 60_000);
        if (cronFires(a, t) && cronFires(b, t)) return t;
    }
    return undefined;
}
