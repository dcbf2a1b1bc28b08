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

export const SUBNET_OURS = "172.29.70.0/24";
export const SUBNET_BARE = "172.29.71.0/24";
export const PORT_OURS = 50432;
export const PORT_BARE = 50452;
