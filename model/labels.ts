/** A label map in the docker provider's list form. */
export function dockerLabels(labels: Record<string, string> | undefined): Array<{ label: string; value: string }> {
    return Object.entries(labels ?? {}).map(([label, value]) => ({ label, value }));
}

/** Label every node carries: the `tls` policy its container was made for (the deployment guard compares it). */
export const TLS_LABEL = "pg-replication.tls";
