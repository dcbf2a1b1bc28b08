// Figures, the table, the JSON lines, and where the time went.
import { compare, round, RatioSummary, summarize, Summary } from "./stats";
import { Machine } from "./host";

export interface Figure {
    figure: string;
    unit: string;
    /** Which direction is good, so a reader knows whether a ratio above 1 is a cost. */
    better: "lower" | "higher";
    ours: number[];
    bound: number[];
    /** What the lower bound is, in words. */
    boundIs: string;
    note?: string;
}

export interface FigureLine {
    bench: "pg-replication";
    case: string;
    figure: string;
    unit: string;
    better: "lower" | "higher";
    runs: number;
    date: string;
    machine: Machine;
    ours: Summary;
    lowerBound: Summary & { is: string };
    ratio: RatioSummary;
    note?: string;
}

function roundSummary(s: Summary): Summary {
    const r = (v: number) => round(v, 4) as number;
    return {
        n: s.n,
        median: r(s.median),
        min: r(s.min),
        max: r(s.max),
        p25: r(s.p25),
        p75: r(s.p75),
        values: s.values.map(r),
    };
}

export function figureLine(caseName: string, f: Figure, runs: number, machine: Machine, date: Date): FigureLine {
    const ratio = compare(f.ours, f.bound);
    return {
        bench: "pg-replication",
        case: caseName,
        figure: f.figure,
        unit: f.unit,
        better: f.better,
        runs,
        date: date.toISOString(),
        machine,
        ours: roundSummary(summarize(f.ours)),
        lowerBound: { is: f.boundIs, ...roundSummary(summarize(f.bound)) },
        ratio: {
            median: round(ratio.median),
            min: round(ratio.min),
            max: round(ratio.max),
            perRun: ratio.perRun.map((r) => round(r)),
        },
        ...(f.note ? { note: f.note } : {}),
    };
}

function fmt(v: number | null, unit: string): string {
    if (v === null) return "-";
    if (unit === "bytes") return v >= 10_240 ? `${(v / 1024).toFixed(0)}k` : v.toFixed(0);
    if (Math.abs(v) >= 1000) return v.toFixed(0);
    if (Math.abs(v) >= 10) return v.toFixed(1);
    return v.toFixed(3);
}

function cell(median: number | null, min: number | null, max: number | null, unit: string, n: number): string {
    if (n <= 1 || min === max) return fmt(median, unit);
    return `${fmt(median, unit)} [${fmt(min, unit)}..${fmt(max, unit)}]`;
}

/** Fixed-width table: figure, unit, ours, lower bound, ratio (medians, [min..max] over runs). */
export function table(lines: FigureLine[]): string {
    const rows = [["FIGURE", "UNIT", "OURS", "LOWER BOUND", "RATIO", "BETTER"]];
    for (const l of lines) {
        rows.push([
            l.figure,
            l.unit,
            cell(l.ours.median, l.ours.min, l.ours.max, l.unit, l.ours.n),
            cell(l.lowerBound.median, l.lowerBound.min, l.lowerBound.max, l.unit, l.lowerBound.n),
            cell(l.ratio.median, l.ratio.min, l.ratio.max, "x", l.runs),
            l.better,
        ]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows
        .map((r) =>
            r
                .map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
                .join("  ")
                .trimEnd(),
        )
        .join("\n");
}

/** Wall time per phase ("where time went"), in the order phases first appeared. */
export class Phases {
    private readonly totals = new Map<string, { ms: number; count: number }>();
    private readonly started = performance.now();
    constructor(private readonly log: (line: string) => void) {}

    async time<T>(phase: string, fn: () => Promise<T>): Promise<T> {
        const t = performance.now();
        try {
            return await fn();
        } finally {
            const ms = performance.now() - t;
            const cur = this.totals.get(phase) ?? { ms: 0, count: 0 };
            this.totals.set(phase, { ms: cur.ms + ms, count: cur.count + 1 });
            this.log(
                `  ${((performance.now() - this.started) / 1000).toFixed(1).padStart(6)}s  ${phase} (${(ms / 1000).toFixed(2)}s)`,
            );
        }
    }

    summary(): string {
        const total = performance.now() - this.started;
        const lines = [...this.totals].map(
            ([phase, { ms, count }]) =>
                `  ${(ms / 1000).toFixed(1).padStart(7)}s  ${((100 * ms) / total).toFixed(0).padStart(3)}%  ${phase}${count > 1 ? ` (x${count})` : ""}`,
        );
        return [`where time went (total ${(total / 1000).toFixed(1)}s):`, ...lines].join("\n");
    }
}
