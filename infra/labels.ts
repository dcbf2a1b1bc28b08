/** A label map in the docker provider's list form. */
export function dockerLabels(labels: Record<string, string> | undefined): Array<{ label: string; value: string }> {
    return Object.entries(labels ?? {}).map(([label, value]) => ({ label, value }));
}
