import * as crypto from "crypto";

/**
 * A PostgreSQL SCRAM-SHA-256 password verifier (the form stored in pg_authid), so that the
 * plaintext password is never sent to the server or written to its logs:
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802 / RFC 7677).
 * Passwords are expected to be ASCII or already SASLprep-normalised (NFKC covers the common case).
 */
export function scramVerifier(password: string, salt: Buffer, iterations = 4096): string {
    const salted = crypto.pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
    const hmac = (key: Buffer, text: string) => crypto.createHmac("sha256", key).update(text).digest();
    const storedKey = crypto.createHash("sha256").update(hmac(salted, "Client Key")).digest();
    const serverKey = hmac(salted, "Server Key");
    return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/**
 * A salt derived from the password and role. Deterministic, so an unchanged password renders the
 * same SQL and `pulumi up` has nothing to do; unique per password and role like a random salt.
 */
export function derivedSalt(password: string, role: string): Buffer {
    return crypto.createHmac("sha256", password).update(`pg-replication/scram-salt/${role}`).digest().subarray(0, 16);
}

/** The verifier for `role` with the derived salt. */
export function roleVerifier(password: string, role: string): string {
    return scramVerifier(password, derivedSalt(password, role));
}
