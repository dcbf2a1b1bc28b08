import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { renderTlsSetup } from "../model/render";

/** A certificate and its private key, PEM-encoded; the key is a secret. */
export interface IssuedCertificate {
    certPem: pulumi.Output<string>;
    keyPem: pulumi.Output<string>;
}

/** What a certificate the stack's CA issues is for. */
export interface CertificateRequest {
    /** Subject common name; pgBackRest's TLS server authorises clients by it (tls-server-auth). */
    commonName: string;
    /** DNS names it is valid for (container names, node names). */
    dnsNames: string[];
    /** IPv4 addresses it is valid for (fixed addresses on the cluster network). */
    ipAddresses: string[];
}

/** Arguments of a {@link StackCertificates}. */
export interface StackCertificatesArgs {
    /** The stack, named in the CA's subject. */
    stack: string;
    /** Hours an issued certificate is valid. @default 43800 (5 years) */
    validityHours?: number;
    /**
     * The stack's `tlsRotation`: a new value names every issued key and certificate anew, so that
     * `up` creates new ones (and deletes the old) while the CA stays. @default 0
     */
    rotation?: number;
}

/** Hours before its end that an issued certificate is re-issued by `up` (30 days). */
export const EARLY_RENEWAL_HOURS = 720;

/** Hours the CA is valid: 10 years; it signs every certificate of the stack. */
const CA_VALIDITY_HOURS = 87600;

/**
 * A certificate authority per stack, made once and kept in the stack's state (its key a Pulumi
 * secret), and the certificates it issues to the stack's servers. ECDSA P-256 throughout: what
 * CloudNativePG issues, and every client here (OpenSSL 3 in pgBackRest, libpq) speaks it.
 */
export class StackCertificates extends pulumi.ComponentResource {
    /** The CA certificate (PEM): what every server and client trusts. */
    public readonly caCertPem: pulumi.Output<string>;
    private readonly caKeyPem: pulumi.Output<string>;
    private readonly validityHours: number;
    private readonly rotation: number;

    constructor(name: string, args: StackCertificatesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:StackCertificates", name, {}, opts);
        this.validityHours = args.validityHours ?? 43800;
        this.rotation = args.rotation ?? 0;
        const key = new tls.PrivateKey(`${name}-ca-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        const ca = new tls.SelfSignedCert(
            `${name}-ca`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: `pg-replication ${args.stack} CA`, organization: "pg-replication" },
                isCaCertificate: true,
                validityPeriodHours: CA_VALIDITY_HOURS,
                allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
            },
            { parent: this },
        );
        this.caCertPem = ca.certPem;
        this.caKeyPem = pulumi.secret(key.privateKeyPem);
        this.registerOutputs({ caCertPem: this.caCertPem });
    }

    /** Issues a certificate for server and client use: its own key, a request, the CA's signature. */
    public issue(certName: string, req: CertificateRequest): IssuedCertificate {
        const name = this.rotation > 0 ? `${certName}-r${this.rotation}` : certName;
        const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        const csr = new tls.CertRequest(
            `${name}-csr`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: req.commonName, organization: "pg-replication" },
                dnsNames: req.dnsNames,
                ipAddresses: req.ipAddresses,
            },
            { parent: this },
        );
        const cert = new tls.LocallySignedCert(
            `${name}-cert`,
            {
                certRequestPem: csr.certRequestPem,
                caPrivateKeyPem: this.caKeyPem,
                caCertPem: this.caCertPem,
                validityPeriodHours: this.validityHours,
                // Within 30 days of its end, the provider's refresh marks it for renewal and the next
                // `up` issues a new one; `status` and the checks warn from 7 days before.
                earlyRenewalHours: EARLY_RENEWAL_HOURS,
                allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
            },
            { parent: this },
        );
        return { certPem: cert.certPem, keyPem: pulumi.secret(key.privateKeyPem) };
    }
}

/** The stack's CA as the components that need certificates see it (tls required). */
export interface ClusterTls {
    caCertPem: pulumi.Output<string>;
    /** Issues a certificate (its key a secret) named `name` in the stack. */
    issue(name: string, req: CertificateRequest): IssuedCertificate;
}

/** A file a container receives for TLS, uploaded into its /etc/pg-replication. */
export interface TlsUpload {
    name: string;
    content: pulumi.Input<string>;
    permissions?: string;
    /** A certificate or key: its later changes reach the running container by a command (infra/tls-files.ts), not by re-creating it. */
    ignoreChanges?: boolean;
}

/** Names of the uploaded CA, certificate and key in /etc/pg-replication. */
export const TLS_UPLOAD_NAMES = { ca: "tls-ca.crt", cert: "tls.crt", key: "tls.key" } as const;

/** `uploads[i]` of every upload whose later changes are ignored (ignoreChanges names list elements by index). */
export function ignoredUploads(uploads: ReadonlyArray<{ ignoreChanges?: boolean }>): string[] {
    return uploads.flatMap((u, i) => (u.ignoreChanges ? [`uploads[${i}]`] : []));
}

/**
 * What a container with a certificate receives: the stack's CA, its certificate and key, and the
 * setup its entrypoint sources (templates/tls-setup.sh) to hand them to the user its server runs as.
 */
export function tlsUploads(caCertPem: pulumi.Input<string>, cert: IssuedCertificate): TlsUpload[] {
    return [
        { name: "tls-setup.sh", content: renderTlsSetup() },
        { name: TLS_UPLOAD_NAMES.ca, content: caCertPem, ignoreChanges: true },
        { name: TLS_UPLOAD_NAMES.cert, content: cert.certPem, ignoreChanges: true },
        { name: TLS_UPLOAD_NAMES.key, content: cert.keyPem, permissions: "0600", ignoreChanges: true },
    ];
}

/**
 * A container's TLS files as Docker uploads into `dir`, placed after `before` other uploads, and the
 * `uploads[i]` paths to ignore (the certificate and key: later ones are written by infra/tls-files.ts).
 */
export function tlsDockerUploads(
    dir: string,
    caCertPem: pulumi.Input<string>,
    cert: IssuedCertificate,
    before: number,
): { uploads: Array<{ file: string; content: pulumi.Input<string>; permissions?: string }>; ignore: string[] } {
    const files = tlsUploads(caCertPem, cert);
    return {
        uploads: files.map((f) => ({ file: `${dir}/${f.name}`, content: f.content, permissions: f.permissions })),
        ignore: ignoredUploads(files).map((p) => p.replace(/\d+/, (i) => String(Number(i) + before))),
    };
}

/**
 * The addresses a server published on the Docker host is reached at besides its own: loopback
 * (`localhost`, 127.0.0.1) and `bindAddress` when that is one address, so that a client on the host
 * verifies the name it connected to (sslmode=verify-full).
 */
export function publishedNames(bindAddress: string): { dnsNames: string[]; ipAddresses: string[] } {
    const ips = ["127.0.0.1"];
    if (bindAddress !== "0.0.0.0" && !ips.includes(bindAddress)) ips.push(bindAddress);
    return { dnsNames: ["localhost"], ipAddresses: ips };
}
