// How the day-2 commands log in to a stack's servers over their published ports: the postgres
// superuser's password and, with `tls` required, the stack's CA, against which node-postgres
// verifies the server's certificate names the address it dialled (libpq's sslmode=verify-full).
import { ConnectionOptions } from "tls";
import { ClientConfig } from "pg";
import { readOutputs, StackRef } from "./stack-backends";

/** The superuser's password and the CA to verify servers with (undefined: the stack runs tls off). */
export interface SuperuserLogin {
    password: string;
    ca?: string;
}

/** node-postgres' `ssl`: verify against the stack's CA, or plain text when the stack has none. */
export function serverTls(ca: string | undefined): ConnectionOptions | false {
    return ca === undefined ? false : { ca, rejectUnauthorized: true };
}

/** A client config for the superuser at host:port, database postgres. */
export function superuserClient(login: SuperuserLogin, host: string, port: number): ClientConfig {
    return { host, port, user: "postgres", password: login.password, database: "postgres", ssl: serverTls(login.ca) };
}

/** The login the stack's outputs give (superuserPassword, and caCert when tls is required). */
export function loginFromOutputs(stack: string, outputs: Record<string, unknown>): SuperuserLogin {
    const password = outputs.superuserPassword;
    if (typeof password !== "string") throw new Error(`stack ${stack} has no superuserPassword output`);
    return { password, ca: typeof outputs.caCert === "string" ? outputs.caCert : undefined };
}

/** {@link loginFromOutputs} of the stack's current outputs. */
export function readLogin(ref: StackRef): SuperuserLogin {
    return loginFromOutputs(ref.stack, readOutputs(ref));
}
