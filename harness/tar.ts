// Builds a ustar archive in memory: how the harness uploads files into a container, as the
// docker provider does through the Engine's archive endpoint.

/** A file to put in the archive. */
export interface TarFile {
    /** Absolute path inside the container. */
    path: string;
    content: Buffer;
    /** Octal mode, e.g. 0o644. */
    mode: number;
}

function header(name: string, size: number, mode: number, type: "0" | "5"): Buffer {
    const h = Buffer.alloc(512, 0);
    if (Buffer.byteLength(name) > 100) throw new Error(`path too long for the harness's tar writer: ${name}`);
    const field = (offset: number, length: number, value: string) => h.write(value, offset, length, "utf8");
    const octal = (offset: number, length: number, value: number) =>
        field(offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
    field(0, 100, name);
    octal(100, 8, mode);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, size);
    octal(136, 12, Math.floor(Date.now() / 1000));
    field(148, 8, "        ");
    field(156, 1, type);
    field(257, 6, "ustar\0");
    field(263, 2, "00");
    let sum = 0;
    for (const byte of h) sum += byte;
    field(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    return h;
}

/** A tar archive (relative to /) holding the files and every directory above them. */
export function tarArchive(files: TarFile[]): Buffer {
    const parts: Buffer[] = [];
    const dirs = new Set<string>();
    for (const f of files) {
        const segments = f.path.replace(/^\/+/, "").split("/");
        for (let i = 1; i < segments.length; i++) {
            const dir = segments.slice(0, i).join("/") + "/";
            if (!dirs.has(dir)) {
                dirs.add(dir);
                parts.push(header(dir, 0, 0o755, "5"));
            }
        }
        parts.push(header(segments.join("/"), f.content.length, f.mode, "0"));
        parts.push(f.content);
        const pad = (512 - (f.content.length % 512)) % 512;
        if (pad > 0) parts.push(Buffer.alloc(pad, 0));
    }
    parts.push(Buffer.alloc(1024, 0));
    return Buffer.concat(parts);
}
