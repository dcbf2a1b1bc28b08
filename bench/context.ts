// What every case gets: its arguments, a logger (stderr), phase timing, and where figures go.
import { BenchArgs } from "./args";
import { Phases, Figure } from "./report";

export interface CaseContext {
    args: BenchArgs;
    /** Every Docker object and stack of this case starts with it (`bench-<case>-`). */
    prefix: string;
    log: (line: string) => void;
    phases: Phases;
    figures: Figure[];
    /** Files of this invocation: `${outBase}.jsonl`, `${outBase}-lag.png`, … */
    outBase: string;
    /** Extra paths a case wrote (plots), printed at the end. */
    artifacts: string[];
    /** Notes printed under the table and put in the summary line. */
    notes: string[];
}

/** Ours first on odd runs, the lower bound first on even runs. */
export function alternate<T>(run: number, ours: T, bound: T): [T, T] {
    return run % 2 === 1 ? [ours, bound] : [bound, ours];
}

/** Sides in turn: run 1 in the given order, each later run starting one further on, so no side is always
 *  first (after a CHECKPOINT, on a cold cache) or always last. */
export function rotate<T>(run: number, sides: readonly T[]): T[] {
    const k = (run - 1) % sides.length;
    return [...sides.slice(k), ...sides.slice(0, k)];
}

export const SUBNET_OURS = "172.29.70.0/24";
export const SUBNET_BARE = "172.29.71.0/24";
export const PORT_OURS = 50432;
export const PORT_BARE = 50452;
/** The raw Patroni bound (bench/raw-patroni.ts): its HAProxy publishes rw and ro on PORT_RAW+10, +11. */
export const SUBNET_RAW = "172.29.72.0/24";
export const PORT_RAW = 50472;
