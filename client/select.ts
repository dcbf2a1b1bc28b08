// Round-robin selection. Pure: the router owns the cursor.

/**
 * `items` in round-robin order for the `cursor`-th read: starting at `cursor mod n`, then the
 * rest in order, so a read that fails on its first choice is retried on the next ones. With a
 * cursor that increases by one per read, n healthy replicas each get every n-th read, whatever
 * the set was for earlier reads.
 */
export function rotation<T>(items: readonly T[], cursor: number): T[] {
    const n = items.length;
    if (n === 0) return [];
    if (!Number.isSafeInteger(cursor) || cursor < 0)
        throw new RangeError(`cursor must be a non-negative integer, got ${cursor}`);
    const start = cursor % n;
    return [...items.slice(start), ...items.slice(0, start)];
}
