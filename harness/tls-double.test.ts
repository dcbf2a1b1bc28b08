// The tls double must make what terraform-provider-tls makes (internal/provider/*.go, via
// @pulumi/tls 5.6.1): keys in the provider's PEM and OpenSSH forms, CA and leaf certificates that
// openssl and node's X509Certificate accept, with the validity, usages, constraints and names asked
// for; the provider's plan (what replaces, what updates in place, renewal) and refresh; and, through
// the real SDK and the live engine, the private key outputs kept secret.
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { Props } from "./docker-double";
import { LiveEngine } from "./engine";
import { planStep } from "./preview";
import { captureOptions, settle } from "./run-program";
import { secretWrap, unwrapSecrets } from "./secrets";
import { loadState, StackState } from "./state";
import {
    createCertRequest,
    createLocallySignedCert,
    createPrivateKey,
    createSelfSignedCert,
    ipAddressBytes,
    TLS_LOCALLY_SIGNED_CERT,
    TLS_PRIVATE_KEY,
    TLS_SELF_SIGNED_CERT,
    tlsClock,
    tlsNeedsReplace,
    withTlsDefaults,
} from "./tls-double";
import { goTrimSpace, hashForState } from "./tls-keys";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "tls-double-test-"));
const realNow = tlsClock.now;
afterEach(() => {
    tlsClock.now = realNow;
});
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));

/** openssl with a certificate or request (public material only) on stdin. */
function openssl(args: string[], input: string): string {
    return execFileSync("openssl", args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

/** The extensions openssl reads from a certificate, as `openssl x509 -ext` prints them. */
function extensions(certPem: string): string {
    return openssl(
        [
            "x509",
            "-noout",
            "-ext",
            "keyUsage,extendedKeyUsage,basicConstraints,subjectKeyIdentifier,authorityKeyIdentifier,subjectAltName",
        ],
        certPem,
    );
}

/** One extension's value lines (after its "X509v3 …:" header), trimmed; "" when absent. */
function extension(certPem: string, header: string): string {
    const text = extensions(certPem);
    const m = new RegExp(`X509v3 ${header}:( critical)? ?\\n((?:    .*\\n?)*)`).exec(text);
    return m ? `${m[1] ? "critical " : ""}${m[2].trim()}` : "";
}

const pemType = (pem: string): string => /^-----BEGIN ([A-Z ]+)-----\n/.exec(pem)?.[1] ?? "";

/** A CA (ECDSA P256 key, self-signed with cert_signing) and a function issuing leaves under it. */
async function makeCa(commonName: string, algorithm: Props = { algorithm: "ECDSA", ecdsaCurve: "P256" }) {
    const key = await createPrivateKey(algorithm);
    const cert = await createSelfSignedCert({
        privateKeyPem: key.state.privateKeyPem,
        subject: { commonName, organization: "pg-replication" },
        isCaCertificate: true,
        validityPeriodHours: 87600,
        allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
    });
    const issue = async (leaf: Props, request: Props = {}) => {
        const leafKey = await createPrivateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const csr = await createCertRequest({ privateKeyPem: leafKey.state.privateKeyPem, ...request });
        return createLocallySignedCert({
            certRequestPem: csr.state.certRequestPem,
            caPrivateKeyPem: key.state.privateKeyPem,
            caCertPem: cert.state.certPem,
            ...leaf,
        });
    };
    return { key, cert, issue };
}

describe("private keys, as resource_private_key.go writes them", () => {
    test.each([
        [{ algorithm: "ECDSA", ecdsaCurve: "P256" }, "EC PRIVATE KEY", "ecdsa-sha2-nistp256"],
        [{ algorithm: "ECDSA", ecdsaCurve: "P384" }, "EC PRIVATE KEY", "ecdsa-sha2-nistp384"],
        [{ algorithm: "RSA", rsaBits: 2048 }, "RSA PRIVATE KEY", "ssh-rsa"],
        [{ algorithm: "ED25519" }, "PRIVATE KEY", "ssh-ed25519"],
    ])(
        "%j: PEM types, OpenSSH forms ssh-keygen reads back, id = sha1 of the PKIX public key",
        async (args, pem, ssh) => {
            const { id, state } = await createPrivateKey(args);
            expect(pemType(state.privateKeyPem)).toBe(pem);
            expect(pemType(state.privateKeyPemPkcs8)).toBe("PRIVATE KEY");
            expect(pemType(state.publicKeyPem)).toBe("PUBLIC KEY");
            expect(pemType(state.privateKeyOpenssh)).toBe("OPENSSH PRIVATE KEY");
            // The three private forms are one key, whose public half is publicKeyPem.
            const spki = crypto.createPublicKey(state.publicKeyPem).export({ type: "spki", format: "der" });
            for (const form of [state.privateKeyPem, state.privateKeyPemPkcs8]) {
                expect(
                    crypto.createPublicKey(crypto.createPrivateKey(form)).export({ type: "spki", format: "der" }),
                ).toEqual(spki);
            }
            expect(id).toBe(crypto.createHash("sha1").update(goTrimSpace(spki)).digest("hex"));
            expect(state.publicKeyOpenssh).toMatch(new RegExp(`^${ssh} [A-Za-z0-9+/=]+\\n$`));
            // ssh-keygen derives the same public key from the OpenSSH private key and the same fingerprints.
            const file = path.join(TMP, `ssh-${crypto.randomUUID()}`);
            fs.writeFileSync(file, state.privateKeyOpenssh, { mode: 0o600 });
            fs.writeFileSync(`${file}.pub`, state.publicKeyOpenssh);
            try {
                expect(execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim()).toBe(
                    state.publicKeyOpenssh.trim(),
                );
                const md5 = execFileSync("ssh-keygen", ["-l", "-E", "md5", "-f", `${file}.pub`], { encoding: "utf8" });
                const sha = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`], {
                    encoding: "utf8",
                });
                expect(md5).toContain(` MD5:${state.publicKeyFingerprintMd5} `);
                expect(sha).toContain(` ${state.publicKeyFingerprintSha256} `);
            } finally {
                fs.rmSync(file, { force: true });
                fs.rmSync(`${file}.pub`, { force: true });
            }
        },
    );

    test("defaults: ECDSA without a curve is P224, which has no OpenSSH forms; rsaBits 2048 is recorded", async () => {
        const { state } = await createPrivateKey({ algorithm: "ECDSA" });
        expect(state).toMatchObject({ ecdsaCurve: "P224", rsaBits: 2048, publicKeyOpenssh: "", privateKeyOpenssh: "" });
        expect(crypto.createPrivateKey(state.privateKeyPem).asymmetricKeyDetails?.namedCurve).toBe("secp224r1");
    });

    test("RSA below 1024 bits is refused as the provider's Go refuses it", async () => {
        await expect(createPrivateKey({ algorithm: "RSA", rsaBits: 512 })).rejects.toThrow(
            "Unable to generate Key from configuration: crypto/rsa: 512-bit keys are insecure",
        );
        await expect(createPrivateKey({ algorithm: "DSA" })).rejects.toThrow("value must be one of");
    });

    test("hashForState trims Go white space (ASCII and U+0085, U+00A0, U+2000…) from the DER before hashing", () => {
        const sha1 = (b: Buffer) => crypto.createHash("sha1").update(b).digest("hex");
        const core = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x41]);
        expect(hashForState(Buffer.concat([core, Buffer.from([0x20, 0x0a])]))).toBe(sha1(core));
        expect(hashForState(Buffer.concat([core, Buffer.from([0xc2, 0xa0])]))).toBe(sha1(core));
        expect(hashForState(Buffer.concat([core, Buffer.from([0xe2, 0x80, 0x80])]))).toBe(sha1(core));
        // A lone 0xa0 is not valid UTF-8, so not a space: kept.
        expect(hashForState(Buffer.concat([core, Buffer.from([0xa0])]))).not.toBe(sha1(core));
        expect(hashForState(Buffer.alloc(0))).toBe("");
    });
});

describe("certificates a CA issues, read back with openssl and X509Certificate", () => {
    test("the CA verifies a leaf made from a CertRequest with DNS names and IPs; another CA's leaf does not verify", async () => {
        const ca = await makeCa("Test CA");
        const other = await makeCa("Other CA");
        const leaf = await ca.issue(
            {
                validityPeriodHours: 24,
                allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
            },
            {
                subject: { commonName: "pg1" },
                dnsNames: ["pg1", "pg1.cluster.local"],
                ipAddresses: ["172.20.0.11", "::1"],
            },
        );
        const caX509 = new crypto.X509Certificate(ca.cert.state.certPem);
        const x = new crypto.X509Certificate(leaf.state.certPem);
        expect(x.subjectAltName).toBe(
            "DNS:pg1, DNS:pg1.cluster.local, IP Address:172.20.0.11, IP Address:0:0:0:0:0:0:0:1",
        );
        expect(x.checkHost("pg1.cluster.local")).toBe("pg1.cluster.local");
        expect(x.checkHost("pg2.cluster.local")).toBeUndefined();
        expect(x.checkIP("172.20.0.11")).toBe("172.20.0.11");
        expect(x.checkIP("172.20.0.12")).toBeUndefined();
        expect(x.subject).toBe("CN=pg1");
        expect(x.issuer).toBe(caX509.subject);
        expect(x.verify(caX509.publicKey)).toBe(true);
        expect(x.checkIssued(caX509)).toBe(true);
        expect(caX509.ca).toBe(true);
        expect(x.ca).toBe(false);
        expect(BigInt(`0x${x.serialNumber}`).toString()).toBe(leaf.id);
        expect(leaf.state.caKeyAlgorithm).toBe("ECDSA");

        const stranger = new crypto.X509Certificate(
            (await other.issue({ validityPeriodHours: 24, allowedUses: [] })).state.certPem,
        );
        expect(stranger.verify(caX509.publicKey)).toBe(false);
        expect(stranger.checkIssued(caX509)).toBe(false);
        // openssl agrees, chain and all.
        const caFile = path.join(TMP, "ca.pem");
        fs.writeFileSync(caFile, ca.cert.state.certPem);
        expect(openssl(["verify", "-CAfile", caFile], leaf.state.certPem)).toContain("OK");
        expect(() => openssl(["verify", "-CAfile", caFile], stranger.toString())).toThrow();
    });

    test("an RSA CA signs with SHA-256 and RSA; the request's emailAddress is not carried into the leaf", async () => {
        const ca = await makeCa("RSA CA", { algorithm: "RSA", rsaBits: 2048 });
        const leaf = await ca.issue(
            { validityPeriodHours: 1, allowedUses: ["server_auth"] },
            { subject: { commonName: "pg1", emailAddress: "ops@example.com" } },
        );
        const text = openssl(["x509", "-noout", "-text"], leaf.state.certPem);
        expect(text).toContain("Signature Algorithm: sha256WithRSAEncryption");
        expect(new crypto.X509Certificate(leaf.state.certPem).subject).toBe("CN=pg1");
        expect(leaf.state.caKeyAlgorithm).toBe("RSA");
    });

    test("the validity window is validityPeriodHours long, starting now, and the outputs say so", async () => {
        const before = Math.floor(Date.now() / 1000) * 1000;
        const ca = await makeCa("Window CA");
        const leaf = await ca.issue({ validityPeriodHours: 30, allowedUses: ["server_auth"] });
        const x = new crypto.X509Certificate(leaf.state.certPem);
        const from = Date.parse(x.validFrom);
        const to = Date.parse(x.validTo);
        expect(to - from).toBe(30 * 3_600_000);
        expect(from).toBeGreaterThanOrEqual(before);
        expect(from).toBeLessThanOrEqual(Date.now());
        // The outputs are Go's RFC 3339 times; the certificate keeps whole seconds of the same instants.
        expect(Math.floor(Date.parse(leaf.state.validityStartTime) / 1000) * 1000).toBe(from);
        expect(Math.floor(Date.parse(leaf.state.validityEndTime) / 1000) * 1000).toBe(to);
        expect(leaf.state.validityStartTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$/);
        const caX509 = new crypto.X509Certificate(ca.cert.state.certPem);
        expect(Date.parse(caX509.validTo) - Date.parse(caX509.validFrom)).toBe(87600 * 3_600_000);
    });

    test("allowedUses become KeyUsage (critical) and ExtKeyUsage; isCaCertificate a critical CA:TRUE", async () => {
        const ca = await makeCa("Usage CA");
        expect(extension(ca.cert.state.certPem, "Key Usage")).toBe(
            "critical Digital Signature, Certificate Sign, CRL Sign",
        );
        expect(extension(ca.cert.state.certPem, "Extended Key Usage")).toBe("");
        expect(extension(ca.cert.state.certPem, "Basic Constraints")).toBe("critical CA:TRUE");

        const leaf = await ca.issue({
            validityPeriodHours: 1,
            allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth", "ocsp_signing"],
        });
        expect(extension(leaf.state.certPem, "Key Usage")).toBe("critical Digital Signature, Key Encipherment");
        expect(extension(leaf.state.certPem, "Extended Key Usage")).toBe(
            "TLS Web Server Authentication, TLS Web Client Authentication, OCSP Signing",
        );
        expect(extension(leaf.state.certPem, "Basic Constraints")).toBe("critical CA:FALSE");
        expect(new crypto.X509Certificate(leaf.state.certPem).keyUsage).toEqual([
            "1.3.6.1.5.5.7.3.1",
            "1.3.6.1.5.5.7.3.2",
            "1.3.6.1.5.5.7.3.9",
        ]);
        // No allowed uses: neither extension.
        const bare = await ca.issue({ validityPeriodHours: 1, allowedUses: [] });
        expect(extension(bare.state.certPem, "Key Usage")).toBe("");
        expect(extension(bare.state.certPem, "Extended Key Usage")).toBe("");
    });

    test("key identifiers: a CA has a subject key id; a leaf's authority key id is its CA's; none on a leaf unless asked", async () => {
        const ca = await makeCa("Key id CA");
        const caSki = extension(ca.cert.state.certPem, "Subject Key Identifier");
        expect(caSki).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
        // generateSubjectKeyID: SHA-1 of the EC point.
        const point = crypto
            .createPublicKey(ca.key.state.publicKeyPem)
            .export({ type: "spki", format: "der" })
            .subarray(-65);
        expect(caSki.replace(/:/g, "").toLowerCase()).toBe(crypto.createHash("sha1").update(point).digest("hex"));
        expect(extension(ca.cert.state.certPem, "Authority Key Identifier")).toBe("");

        const leaf = await ca.issue({ validityPeriodHours: 1, allowedUses: [] });
        expect(extension(leaf.state.certPem, "Authority Key Identifier")).toContain(caSki);
        expect(extension(leaf.state.certPem, "Subject Key Identifier")).toBe("");
        const withSki = await ca.issue({ validityPeriodHours: 1, allowedUses: [], setSubjectKeyId: true });
        expect(extension(withSki.state.certPem, "Subject Key Identifier")).not.toBe("");

        const selfAki = await createSelfSignedCert({
            privateKeyPem: ca.key.state.privateKeyPem,
            subject: { commonName: "x" },
            validityPeriodHours: 1,
            allowedUses: [],
            isCaCertificate: true,
            setAuthorityKeyId: true,
        });
        expect(extension(selfAki.state.certPem, "Authority Key Identifier")).toContain(caSki);
    });

    test("a request without subject gives a critical SAN; CertRequest output is a valid PKCS #10 request", async () => {
        const key = await createPrivateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const csr = await createCertRequest({
            privateKeyPem: key.state.privateKeyPem,
            dnsNames: ["a.example"],
            uris: ["spiffe://pg/1"],
        });
        expect(pemType(csr.state.certRequestPem)).toBe("CERTIFICATE REQUEST");
        expect(csr.state.keyAlgorithm).toBe("ECDSA");
        const text = openssl(["req", "-noout", "-text", "-verify"], csr.state.certRequestPem);
        expect(text).toContain("DNS:a.example, URI:spiffe://pg/1");
        const der = Buffer.from(csr.state.certRequestPem.split("\n").slice(1, -2).join(""), "base64");
        expect(csr.id).toBe(hashForState(der));
        const ca = await makeCa("SAN CA");
        const leaf = await createLocallySignedCert({
            certRequestPem: csr.state.certRequestPem,
            caPrivateKeyPem: ca.key.state.privateKeyPem,
            caCertPem: ca.cert.state.certPem,
            validityPeriodHours: 1,
            allowedUses: [],
        });
        expect(extension(leaf.state.certPem, "Subject Alternative Name")).toBe(
            "critical DNS:a.example, URI:spiffe://pg/1",
        );
    });

    test("the provider's refusals: a CA without subject, a CA key not matching the CA cert, a wrong PEM type, a bad IP", async () => {
        const key = await createPrivateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        await expect(
            createSelfSignedCert({
                privateKeyPem: key.state.privateKeyPem,
                validityPeriodHours: 1,
                allowedUses: [],
                isCaCertificate: true,
            }),
        ).rejects.toThrow("Must contain at least one Distinguished Name when creating Certificate Authority (CA)");
        await expect(
            createSelfSignedCert({ privateKeyPem: key.state.publicKeyPem, validityPeriodHours: 1, allowedUses: [] }),
        ).rejects.toThrow("Failed to parse private key PEM: unable to determine parser for PEM preamble: PUBLIC KEY");
        const ca = await makeCa("Mismatch CA");
        const other = await createPrivateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const csr = await createCertRequest({ privateKeyPem: other.state.privateKeyPem });
        await expect(
            createLocallySignedCert({
                certRequestPem: csr.state.certRequestPem,
                caPrivateKeyPem: other.state.privateKeyPem,
                caCertPem: ca.cert.state.certPem,
                validityPeriodHours: 1,
                allowedUses: [],
            }),
        ).rejects.toThrow("Failed to create certificate: x509: provided PrivateKey doesn't match parent's PublicKey");
        await expect(
            createLocallySignedCert({
                certRequestPem: ca.cert.state.certPem,
                caPrivateKeyPem: ca.key.state.privateKeyPem,
                caCertPem: ca.cert.state.certPem,
                validityPeriodHours: 1,
                allowedUses: [],
            }),
        ).rejects.toThrow('invalid PEM type - expected "CERTIFICATE REQUEST", got "CERTIFICATE"');
        await expect(
            createCertRequest({ privateKeyPem: key.state.privateKeyPem, ipAddresses: ["10.0.0.256"] }),
        ).rejects.toThrow('Invalid IP address: Failed to parse "10.0.0.256"');
        await expect(
            createSelfSignedCert({
                privateKeyPem: key.state.privateKeyPem,
                validityPeriodHours: 1,
                allowedUses: ["server_auht"],
            }),
        ).rejects.toThrow("value must be one of");
    });

    test("IP addresses are written as Go writes them: IPv4 and IPv4-mapped IPv6 in 4 bytes, IPv6 in 16", () => {
        expect(ipAddressBytes("10.1.2.3")).toEqual(Buffer.from([10, 1, 2, 3]));
        expect(ipAddressBytes("::ffff:10.1.2.3")).toEqual(Buffer.from([10, 1, 2, 3]));
        expect(ipAddressBytes("fd00::1").toString("hex")).toBe("fd000000000000000000000000000001");
        expect(() => ipAddressBytes("010.1.2.3")).toThrow("Invalid IP address");
        expect(() => ipAddressBytes("fe80::1%eth0")).toThrow("Invalid IP address");
    });
});

describe("readyForRenewal, the provider's renewal plan and refresh", () => {
    const secretKey = async () =>
        secretWrap((await createPrivateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" })).state.privateKeyPem);

    function newEngine(): { engine: LiveEngine; state: StackState; lines: string[] } {
        const file = path.join(TMP, `state-${crypto.randomUUID()}.json`);
        const state = loadState(file, "t");
        const lines: string[] = [];
        return { engine: new LiveEngine(state, file, (l) => lines.push(l)), state, lines };
    }

    async function register(engine: LiveEngine, type: string, name: string, inputs: Props): Promise<Props> {
        const res = await engine.newResource({ type, name, inputs, custom: true });
        return unwrapSecrets(res.state) as Props;
    }

    test("at creation: true when earlyRenewalHours >= validityPeriodHours (or the period is 0), else false", async () => {
        const privateKeyPem = (await createPrivateKey({ algorithm: "ED25519" })).state.privateKeyPem;
        const make = async (validityPeriodHours: number, earlyRenewalHours?: number) =>
            (await createSelfSignedCert({ privateKeyPem, validityPeriodHours, earlyRenewalHours, allowedUses: [] }))
                .state.readyForRenewal;
        expect(await make(10)).toBe(false);
        expect(await make(10, 9)).toBe(false);
        expect(await make(10, 10)).toBe(true);
        expect(await make(10, 11)).toBe(true);
        expect(await make(0)).toBe(true);
    });

    test("a certificate due for renewal is replaced by the next up although no input changed; one not due is unchanged", async () => {
        const { engine } = newEngine();
        const privateKeyPem = await secretKey();
        const due = {
            privateKeyPem,
            subject: { commonName: "due" },
            validityPeriodHours: 2,
            earlyRenewalHours: 2,
            allowedUses: [],
        };
        const fresh = { ...due, subject: { commonName: "fresh" }, earlyRenewalHours: 1 };
        const first = await register(engine, TLS_SELF_SIGNED_CERT, "due", due);
        const kept = await register(engine, TLS_SELF_SIGNED_CERT, "fresh", fresh);
        expect(first.readyForRenewal).toBe(true);
        expect(kept.readyForRenewal).toBe(false);
        const again = await register(engine, TLS_SELF_SIGNED_CERT, "due", due);
        const same = await register(engine, TLS_SELF_SIGNED_CERT, "fresh", fresh);
        expect(again.certPem).not.toBe(first.certPem);
        expect(same.certPem).toBe(kept.certPem);
        expect(engine.counts).toMatchObject({ created: 2, replaced: 1, unchanged: 1 });
    });

    test("refresh sets readyForRenewal once now >= validityEnd - earlyRenewalHours; the next up replaces the certificate", async () => {
        const { engine, state, lines } = newEngine();
        const inputs = {
            privateKeyPem: await secretKey(),
            subject: { commonName: "r" },
            validityPeriodHours: 10,
            earlyRenewalHours: 3,
            allowedUses: [],
        };
        const created = await register(engine, TLS_SELF_SIGNED_CERT, "r", inputs);
        const start = Date.parse(created.validityStartTime);
        const record = () => state.resources.find((r) => r.name === "r");

        tlsClock.now = () => new Date(start + 7 * 3_600_000 - 1000);
        await engine.refresh();
        expect(record()?.outputs.readyForRenewal).toBe(false);
        expect(await register(engine, TLS_SELF_SIGNED_CERT, "r", inputs)).toMatchObject({ certPem: created.certPem });

        tlsClock.now = () => new Date(start + 7 * 3_600_000 + 1000);
        await engine.refresh();
        expect(record()?.outputs.readyForRenewal).toBe(true);
        expect(lines.join("\n")).toContain("r (ready for renewal: the deployment replaces it)");
        // The preview plans the replacement too.
        expect(
            planStep(
                TLS_SELF_SIGNED_CERT,
                record()?.inputs as Props,
                record()?.inputs as Props,
                false,
                record()?.outputs,
            ),
        ).toBe("replace");
        const renewed = await register(engine, TLS_SELF_SIGNED_CERT, "r", inputs);
        expect(renewed.certPem).not.toBe(created.certPem);
        expect(renewed.readyForRenewal).toBe(false);
        expect(Date.parse(renewed.validityStartTime)).toBe(start + 7 * 3_600_000 + 1000);
        expect(engine.counts).toMatchObject({ created: 1, unchanged: 1, replaced: 1 });
    });

    test("earlyRenewalHours updates in place (same certificate); every other input replaces; keys never update", async () => {
        const { engine } = newEngine();
        const inputs = {
            privateKeyPem: await secretKey(),
            subject: { commonName: "u" },
            validityPeriodHours: 10,
            allowedUses: [],
        };
        const created = await register(engine, TLS_SELF_SIGNED_CERT, "u", inputs);
        const updated = await register(engine, TLS_SELF_SIGNED_CERT, "u", { ...inputs, earlyRenewalHours: 2 });
        expect(updated).toMatchObject({ certPem: created.certPem, earlyRenewalHours: 2, readyForRenewal: false });
        const replaced = await register(engine, TLS_SELF_SIGNED_CERT, "u", {
            ...inputs,
            earlyRenewalHours: 2,
            allowedUses: ["server_auth"],
        });
        expect(replaced.certPem).not.toBe(created.certPem);
        expect(engine.counts).toMatchObject({ created: 1, updated: 1, replaced: 1 });

        const cert = withTlsDefaults(TLS_LOCALLY_SIGNED_CERT, {
            certRequestPem: "-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n",
            validityPeriodHours: 1,
            allowedUses: [],
        });
        expect(tlsNeedsReplace(TLS_LOCALLY_SIGNED_CERT, cert, { ...cert, earlyRenewalHours: 1 })).toBe(false);
        expect(tlsNeedsReplace(TLS_LOCALLY_SIGNED_CERT, cert, { ...cert, certRequestPem: "x" })).toBe(true);
        // A value in state that is not a PEM does not force a replacement (requireReplaceIfStateContainsPEMString).
        expect(tlsNeedsReplace(TLS_LOCALLY_SIGNED_CERT, { ...cert, certRequestPem: "x" }, cert)).toBe(false);
        // Setting max_path_length replaces; removing it keeps the state's (UseStateForUnknown).
        expect(tlsNeedsReplace(TLS_LOCALLY_SIGNED_CERT, cert, { ...cert, maxPathLength: 1 })).toBe(true);
        expect(tlsNeedsReplace(TLS_LOCALLY_SIGNED_CERT, { ...cert, maxPathLength: 1 }, cert)).toBe(false);
        // Schema defaults make an explicit default equal to an unset input.
        const key = withTlsDefaults(TLS_PRIVATE_KEY, { algorithm: "ECDSA" });
        expect(
            tlsNeedsReplace(
                TLS_PRIVATE_KEY,
                key,
                withTlsDefaults(TLS_PRIVATE_KEY, { algorithm: "ECDSA", ecdsaCurve: "P224" }),
            ),
        ).toBe(false);
        expect(
            tlsNeedsReplace(
                TLS_PRIVATE_KEY,
                key,
                withTlsDefaults(TLS_PRIVATE_KEY, { algorithm: "ECDSA", ecdsaCurve: "P256" }),
            ),
        ).toBe(true);
    });
});

describe("through the real SDK and the live engine", () => {
    test("a key, a CA and a leaf deploy; the private key outputs are secret, certificates and public keys are not", async () => {
        const file = path.join(TMP, "sdk-state.json");
        const state = loadState(file, "sdk");
        const engine = new LiveEngine(state, file, () => undefined);
        await pulumi.runtime.setMocks(engine, "pg-replication", "sdk", false);
        let key: tls.PrivateKey | undefined;
        let ca: tls.SelfSignedCert | undefined;
        let leaf: tls.LocallySignedCert | undefined;
        await pulumi.runtime.runInPulumiStack(() => {
            captureOptions(engine);
            key = new tls.PrivateKey("ca-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
            ca = new tls.SelfSignedCert("ca", {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: "SDK CA" },
                isCaCertificate: true,
                validityPeriodHours: 48,
                allowedUses: ["cert_signing"],
            });
            const leafKey = new tls.PrivateKey("leaf-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
            const csr = new tls.CertRequest("leaf-csr", {
                privateKeyPem: leafKey.privateKeyPem,
                subject: { commonName: "pg1" },
                dnsNames: ["pg1"],
                ipAddresses: ["172.20.0.11"],
            });
            leaf = new tls.LocallySignedCert("leaf", {
                certRequestPem: csr.certRequestPem,
                caPrivateKeyPem: key.privateKeyPem,
                caCertPem: ca.certPem,
                validityPeriodHours: 24,
                allowedUses: ["server_auth"],
            });
            return Promise.resolve({});
        });
        await settle(engine);
        expect(engine.errors).toEqual([]);
        if (!key || !ca || !leaf) throw new Error("the program did not run");
        const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply((v) => (resolve(v), v)));
        for (const secret of [key.privateKeyPem, key.privateKeyPemPkcs8, key.privateKeyOpenssh])
            expect(await pulumi.isSecret(secret)).toBe(true);
        for (const open of [key.publicKeyPem, key.publicKeyOpenssh, ca.certPem, leaf.certPem])
            expect(await pulumi.isSecret(open)).toBe(false);
        const recorded = state.resources.find((r) => r.name === "ca-key");
        expect(recorded?.secretOutputs).toEqual(["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"]);
        expect(state.resources.find((r) => r.name === "leaf")?.secretInputs).toEqual(["caPrivateKeyPem"]);

        const caX509 = new crypto.X509Certificate(await value(ca.certPem));
        const x = new crypto.X509Certificate(await value(leaf.certPem));
        expect(x.verify(caX509.publicKey)).toBe(true);
        expect(x.checkHost("pg1")).toBe("pg1");
        expect(x.checkIP("172.20.0.11")).toBe("172.20.0.11");
        expect(engine.counts).toMatchObject({ created: 5, failed: 0 });
    });
});
