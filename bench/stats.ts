// Pure statistics for the benchmarks: percentiles, medians, spreads and ratios to a lower bound.
import { parseLsn } from "../client/lsn";

/** The p-th percentile (0..100) of `values`, linear interpolation between closest ranks (R type 7,
 *  numpy's default). Throws on an empty list or a p outside 0..100. */
export function percentile(values: readonly number[], p: number): number {
    if (values.length === 0) throw new Error("percentile of an empty list");
    if (!(p >= 0 && p <= 100)) throw new Error(`percentile ${p} is outside 0..100`);
    const sorted = [...values].sort((a, b) => a - b);
    const rank = (p / 100) * (sorted.length - 1);
    const lo = Math.floor(rank);
    const hi = Math.ceil(rank);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export function median(values: readonly number[]): number {
    return percentile(values, 50);
}

/** Median and spread of repeated measurements of one figure. */
export interface Summary {
    n: number;
    median: number;
    min: number;
    max: number;
    p25: number;
    p75: number;
    values: number[];
}

export function summarize(values: readonly number[]): Summary {
    if (values.length === 0) throw new Error("no measurements to summarize");
    return {
        n: values.length,
        median: median(values),
        min: Math.min(...values),
        max: Math.max(...values),
        p25: percentile(values, 25),
        p75: percentile(values, 75),
        values: [...values],
    };
}

/** a / b, or null when it means nothing (b is 0 or either is not finite). */
export function ratio(a: number, b: number): number | null {
    if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
    return a / b;
}

/** Ours against the lower bound measured in the same run: the ratio of the medians, and the spread of
 *  the per-run ratios (run i of ours against run i of the lower bound, which alternated with it). */
export interface RatioSummary {
    median: number | null;
    min: number | null;
    max: number | null;
    perRun: Array<number | null>;
}

export function compare(ours: readonly number[], bound: readonly number[]): RatioSummary {
    if (ours.length === 0 || bound.length === 0) throw new Error("compare needs measurements on both sides");
    const perRun = ours.slice(0, Math.min(ours.length, bound.length)).map((v, i) => ratio(v, bound[i]));
    const known = perRun.filter((r): r is number => r !== null);
    return {
        median: ratio(median(ours), median(bound)),
        min: known.length ? Math.min(...known) : null,
        max: known.length ? Math.max(...known) : null,
        perRun,
    };
}

/** Rounds for display and JSON: 3 significant decimals for small numbers, fewer for big ones. */
export function round(v: number | null, digits = 3): number | null {
    if (v === null || !Number.isFinite(v)) return null;
    const f = 10 ** digits;
    return Math.round(v * f) / f;
}

/** PostgreSQL LSN text ("16/B374D848") as a number of bytes (client/lsn.ts parses it). */
export function lsnToBytes(lsn: string): number {
    return Number(parseLsn(lsn));
}
