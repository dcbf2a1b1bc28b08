// Certificate expiry as the day-2 side sees it: the certificate each node serves (read from its
// container by `status`, from the TLS session by the checks), judged against a warning window.
import { X509Certificate } from "crypto";
import { Client } from "pg";
import { TLSSocket } from "tls";
import { TLS_PATHS } from "../model/topology";
import { execProgram } from "./cluster-discovery";
import { dockerArgv } from "./engines";

/** A certificate closer than this to its end fails the checks and is a PROBLEM in `status`. */
export const EXPIRY_WARNING_DAYS = 7;

const DAY_MS = 86_400_000;

/** When a node's certificate ends, by the container it runs in. */
export interface CertificateEnd {
    node: string;
    notAfter: Date;
}

/** The end of the certificate the server behind a connected node-postgres client presented; undefined without TLS. */
export function peerCertificateEnd(client: Client): Date | undefined {
    const stream = (client as unknown as { connection?: { stream?: unknown } }).connection?.stream;
    if (!(stream instanceof TLSSocket)) return undefined;
    const cert = stream.getPeerCertificate();
    return cert.valid_to ? new Date(cert.valid_to) : undefined;
}

/** The end of the certificate installed in `container` (what its servers present); undefined when unreadable. */
export async function installedCertificateEnd(container: string): Promise<Date | undefined> {
    const res = await execProgram(dockerArgv(container, ["exec", container, "cat", TLS_PATHS.cert]), 10_000);
    if (res.code !== 0) return undefined;
    try {
        return new Date(new X509Certificate(res.stdout).validTo);
    } catch {
        return undefined;
    }
}

/** true while `notAfter` is more than {@link EXPIRY_WARNING_DAYS} away, else what is wrong and the next command. */
export function expiryVerdict(node: string, notAfter: Date, now: Date, renew: string): true | string {
    const days = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
    if (days >= EXPIRY_WARNING_DAYS) return true;
    const when =
        days < 0 ? `expired on ${notAfter.toISOString()}` : `expires on ${notAfter.toISOString()} (in ${days} days)`;
    return `the TLS certificate of ${node} ${when}; re-issue the stack's certificates: ${renew}`;
}

/** The `tls:` line of `status`: the policy and the earliest end among the nodes' certificates. */
export function tlsSummaryLine(ends: CertificateEnd[]): string {
    if (ends.length === 0) return "tls: required (TLS 1.3); no node's certificate could be read";
    const first = ends.reduce((a, b) => (b.notAfter < a.notAfter ? b : a));
    return `tls: required (TLS 1.3); certificates valid until ${first.notAfter.toISOString().slice(0, 10)} (earliest: ${first.node})`;
}
