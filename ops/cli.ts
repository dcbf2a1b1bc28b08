// The one command-line parser of every command (day-2 scripts, lag, bench, the live harness): options
// are declared once with their help text and defaults, and the usage text, the parsing and the
// usage errors all come from that declaration. Built on node:util parseArgs, non-strict, so that
// every mistake gets the same plain message naming the argument; `--help` and `-h` print the usage
// with an example (exit 0), a usage error prints the message and the synopsis (exit 2).
import { parseArgs as nodeParseArgs } from "node:util";

/** A wrong command line: the message names the argument; printed with the synopsis, exit code 2. */
export class UsageError extends Error {}

/** `--help` or `-h`: the usage (the message) goes to stdout, exit code 0. */
export class HelpRequest extends Error {}

interface OptionBase {
    /** One-line (or multi-line) description for the usage text. */
    help: string;
    /** One-letter alias: `-c` for `--config`. */
    short?: string;
}

/** An option without a value: true when given. */
export interface FlagOption extends OptionBase {
    type: "boolean";
}

/** An option that takes one value, at most once. */
export interface ValueOption<T = string> extends OptionBase {
    type: "string";
    /** Placeholder for the value in the usage text: `--to pgN`. */
    value: string;
    /** Used when the option is not given; shown as "(default …)". */
    default?: T;
    /** Checks and converts the value; throws {@link UsageError} naming `flag`. */
    parse?: (raw: string, flag: string) => T;
    multiple?: false;
}

/** An option that may be repeated; its values in the order given. */
export interface ListOption extends OptionBase {
    type: "string";
    value: string;
    multiple: true;
}

export type OptionSpec = FlagOption | ValueOption<unknown> | ListOption;
export type OptionSpecs = Record<string, OptionSpec>;

// Without a parse function (nothing to infer: unknown) the value is the string as given.
type Converted<S> = S extends { parse?: (raw: string, flag: string) => infer T }
    ? unknown extends T
        ? string
        : T
    : string;
/** The parsed value of one declared option. */
export type ValueOf<S> = S extends { type: "boolean" }
    ? boolean
    : S extends { multiple: true }
      ? string[]
      : S extends { default: unknown }
        ? Converted<S>
        : Converted<S> | undefined;
export type Values<O extends OptionSpecs> = { [K in keyof O]: ValueOf<O[K]> };

export interface CommandSpec<O extends OptionSpecs> {
    /** Short name used in messages: `lag: unknown option --bogus`. */
    name: string;
    /** How it is run, before the arguments (default `npm run NAME --`). */
    invocation?: string;
    /** The arguments after the invocation, for the first line of the usage. */
    synopsis: string;
    /** What it does; may hold sections such as "commands:" (printed before the options). */
    description: string;
    options: O;
    /** Positional arguments are collected for the command to check; otherwise each is a usage error. */
    positionals?: boolean;
    /** Text after the options: exit statuses, what is always checked … */
    notes?: string;
    examples: string[];
}

/** What a command line says: every declared option (defaults filled in), which ones were given, the positionals. */
export interface CommandLine<O extends OptionSpecs> {
    values: Values<O>;
    given: Set<keyof O & string>;
    positionals: string[];
}

export interface Command<O extends OptionSpecs> {
    readonly spec: CommandSpec<O>;
    /** The full help text. */
    readonly usage: string;
    /** The usage's first paragraph (invocation and synopsis), printed with usage errors. */
    readonly synopsis: string;
    /** Parses the arguments after the invocation; throws {@link HelpRequest} or {@link UsageError}. */
    parse(argv: string[]): CommandLine<O>;
}

const STACK_NAME = /^[A-Za-z0-9_.-]+$/;

/** An option with a value, a default, and a check that converts what was given. */
export function checkedOption<T>(
    value: string,
    help: string,
    dflt: T,
    parse: (raw: string, flag: string) => T,
): ValueOption<T> & { default: T } {
    return { type: "string", value, help, default: dflt, parse };
}

/** `--stack S`: a stack name as Pulumi and the live harness accept it (letters, digits, _ . -). */
export function stackOption(
    defaultStack: string,
    help: string,
    value = "S",
): ValueOption<string> & { default: string } {
    return checkedOption(value, help, defaultStack, (raw, flag) => {
        if (!STACK_NAME.test(raw))
            throw new UsageError(`invalid ${flag} ${JSON.stringify(raw)}: letters, digits, _ . - only`);
        return raw;
    });
}

/** `--runs 3`: an integer in min..max. */
export function integerOption(
    value: string,
    help: string,
    dflt: number,
    min: number,
    max: number,
): ValueOption<number> & { default: number } {
    return checkedOption(value, help, dflt, (raw, flag) => {
        if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
            throw new UsageError(`${flag} ${JSON.stringify(raw)} is invalid: expected an integer ${min}..${max}`);
        }
        return Number(raw);
    });
}

const HELP_LABEL = "-h, --help";

function label(name: string, o: OptionSpec): string {
    return `${o.short ? `-${o.short}, ` : ""}--${name}${o.type === "string" ? ` ${o.value}` : ""}`;
}

function renderOptions(options: OptionSpecs): string {
    const rows: Array<[string, string]> = Object.entries(options).map(([name, o]) => {
        const shown = o.type === "string" && !o.multiple ? o.default : undefined;
        const dflt = typeof shown === "string" || typeof shown === "number" ? ` (default ${shown})` : "";
        return [label(name, o), o.help + dflt];
    });
    rows.push([HELP_LABEL, "this help"]);
    const width = Math.max(...rows.map(([l]) => l.length)) + 2;
    const indent = " ".repeat(2 + width);
    return rows.map(([l, h]) => `  ${l.padEnd(width)}${h.split("\n").join(`\n${indent}`)}`).join("\n");
}

function renderUsage(spec: CommandSpec<OptionSpecs>, synopsis: string): string {
    const parts = [synopsis, spec.description, `options:\n${renderOptions(spec.options)}`];
    if (spec.notes) parts.push(spec.notes);
    parts.push(
        `${spec.examples.length === 1 ? "example" : "examples"}:\n${spec.examples.map((e) => `  ${e}`).join("\n")}`,
    );
    return parts.join("\n\n");
}

/** Declares a command: its usage text and its parser come from `spec`. */
export function command<O extends OptionSpecs>(spec: CommandSpec<O>): Command<O> {
    const synopsis = `usage: ${spec.invocation ?? `npm run ${spec.name} --`} ${spec.synopsis}`;
    const usage = renderUsage(spec, synopsis);
    return { spec, usage, synopsis, parse: (argv) => parseCommandLine(spec, usage, argv) };
}

/** The options as node's parseArgs takes them: the declared ones and -h, --help. */
function nodeOptions(
    options: OptionSpecs,
): Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> {
    const declared: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {
        help: { type: "boolean", short: "h" },
    };
    for (const [name, o] of Object.entries(options)) {
        declared[name] = {
            type: o.type,
            multiple: o.type === "string" && o.multiple === true,
            ...(o.short ? { short: o.short } : {}),
        };
    }
    return declared;
}

/** An option as node's parseArgs tokenizes it (`--stack=x`: inlineValue true). */
interface OptionToken {
    name: string;
    rawName: string;
    value: string | undefined;
    inlineValue: boolean | undefined;
}

/** The value a string option's token carries, converted; a repeatable option's values so far with it added. */
function stringValue(o: ValueOption<unknown> | ListOption, token: OptionToken, previous: unknown): unknown {
    // `--stack --json`: parseArgs takes "--json" as the value; it is a forgotten value.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith("--")))
        throw new UsageError(`${token.rawName} needs a value`);
    if (o.multiple) return [...((previous as string[] | undefined) ?? []), token.value];
    return o.parse ? o.parse(token.value, `--${token.name}`) : token.value;
}

/** Records one option token in `values` and `given`; throws {@link UsageError} for an unknown, repeated or wrong one. */
function takeOption(
    options: OptionSpecs,
    token: OptionToken,
    values: Record<string, unknown>,
    given: Set<string>,
): void {
    const o = Object.prototype.hasOwnProperty.call(options, token.name) ? options[token.name] : undefined;
    if (!o) throw new UsageError(`unknown option ${token.rawName}`);
    const multiple = o.type === "string" && o.multiple === true;
    if (given.has(token.name) && !multiple) throw new UsageError(`--${token.name} given more than once`);
    given.add(token.name);
    if (o.type === "boolean") {
        if (token.inlineValue) throw new UsageError(`${token.rawName} takes no value`);
        values[token.name] = true;
        return;
    }
    values[token.name] = stringValue(o, token, values[token.name]);
}

function parseCommandLine<O extends OptionSpecs>(spec: CommandSpec<O>, usage: string, argv: string[]): CommandLine<O> {
    // Non-strict: node's own errors would differ from command to command; every check is below.
    const { tokens } = nodeParseArgs({
        args: argv,
        options: nodeOptions(spec.options),
        strict: false,
        allowPositionals: true,
        tokens: true,
    });
    // Help wins over any other mistake on the line: whoever asks for it gets it.
    if (tokens.some((t) => t.kind === "option" && t.name === "help")) throw new HelpRequest(usage);

    const values: Record<string, unknown> = {};
    const given = new Set<string>();
    const positionals: string[] = [];
    for (const token of tokens) {
        if (token.kind === "option-terminator") continue;
        if (token.kind === "option") {
            takeOption(spec.options, token, values, given);
            continue;
        }
        if (!spec.positionals) throw new UsageError(`unexpected argument ${JSON.stringify(token.value)}`);
        positionals.push(token.value);
    }
    for (const [name, o] of Object.entries(spec.options)) {
        if (given.has(name)) continue;
        values[name] = o.type === "boolean" ? false : o.multiple ? [] : o.default;
    }
    // The mapped type cannot be built key by key; `values` holds exactly one entry per declared option.
    return { values: values as Values<O>, given, positionals };
}

/** Prints a help request (stdout, 0) or a usage error (stderr, 2); undefined for any other error. */
export function usageExit(cmd: Pick<Command<OptionSpecs>, "spec" | "synopsis">, err: unknown): number | undefined {
    if (err instanceof HelpRequest) {
        process.stdout.write(`${err.message}\n`);
        return 0;
    }
    if (err instanceof UsageError) {
        const invocation = cmd.spec.invocation ?? `npm run ${cmd.spec.name} --`;
        process.stderr.write(
            `${cmd.spec.name}: ${err.message}\n${cmd.synopsis}\n(${invocation} --help for every option)\n`,
        );
        return 2;
    }
    return undefined;
}

/** A failure that is not a usage error: `error: message` on stderr, exit code 1. */
export function errorExit(err: Error): number {
    process.stderr.write(`error: ${err.message}\n`);
    return 1;
}

/**
 * Runs a command's main and exits with its status (0 when it returns nothing). Help and usage
 * errors are answered as {@link usageExit} says; any other error by `onError`.
 */
export function runCommand(
    cmd: Pick<Command<OptionSpecs>, "spec" | "synopsis">,
    main: () => Promise<number | void>,
    onError: (err: Error) => number = errorExit,
): void {
    // Through a promise: a usage error thrown before main's first await is answered the same way.
    Promise.resolve()
        .then(main)
        .then(
            (code) => process.exit(code ?? 0),
            (err: Error) => process.exit(usageExit(cmd, err) ?? onError(err)),
        );
}
