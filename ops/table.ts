// Fixed-width text tables, as `status` and `backups` print them: columns two spaces apart, each as
// wide as its widest cell, no trailing blanks.

/** The header line and one line per row. */
export function formatTable(header: string[], rows: string[][]): string[] {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
        cells
            .map((c, i) => c.padEnd(widths[i]))
            .join("  ")
            .trimEnd();
    return [line(header), ...rows.map(line)];
}
