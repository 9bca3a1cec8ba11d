/**
 * Flag parsing shared by the subcommands: strict (unknown flags are errors),
 * with environment variables as fallbacks.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CliError } from "./errors.ts";

/** Parsed flags and positionals. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * Parses argv strictly.
 *
 * @param args The arguments after the subcommand.
 * @param options The flags this command accepts.
 * @returns Values and positionals.
 * @throws {CliError} On an unknown flag or a missing value.
 */
export function parseFlags(args: string[], options: ParseArgsConfig["options"]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: true,
    });
    return { values: values as Parsed["values"], positionals };
  } catch (error) {
    throw new CliError(
      (error as Error).message.replace(/\. To specify.*$/s, "").replace(/\.$/, ""),
    );
  }
}

/**
 * A string flag, else its environment variable, else undefined.
 *
 * @param parsed Parsed flags.
 * @param name Flag name.
 * @param env Environment variable name.
 * @returns The value.
 */
export function stringOption(parsed: Parsed, name: string, env?: string): string | undefined {
  const value = parsed.values[name];
  if (typeof value === "string") return value;
  return env ? (Deno.env.get(env) || undefined) : undefined;
}

/**
 * Parses `HOST:PORT` (IPv6 in brackets).
 *
 * @param value The text.
 * @returns Host and port.
 * @throws {CliError} When it is not a host and a port from 0 to 65535.
 */
export function parseListen(value: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new CliError(
      `Invalid --listen ${JSON.stringify(value)}: expected HOST:PORT such as 127.0.0.1:8080`,
    );
  }
  return { hostname: m[1] ?? m[2], port };
}

/**
 * Whether a listen host is a loopback address.
 *
 * @param hostname The host.
 * @returns `true` for 127.0.0.0/8, ::1 and localhost.
 */
export function isLoopback(hostname: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) || hostname === "::1" ||
    hostname === "localhost";
}

/** One subcommand of a command group such as `token` or `approvals`. */
export type Subcommand = (args: string[]) => Promise<number>;

/**
 * Runs `tailops GROUP SUBCOMMAND ...`: prints the group's help for `-h`/`--help`
 * anywhere, else dispatches to the named subcommand.
 *
 * @param args Arguments after the group name.
 * @param group The group's name, its subcommands and its help text.
 * @returns The subcommand's exit code.
 * @throws {CliError} When the subcommand is missing or unknown.
 */
export async function runSubcommand(
  args: string[],
  group: { name: string; commands: Readonly<Record<string, Subcommand>>; help: string },
): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(group.help);
    return 0;
  }
  const [command, ...rest] = args;
  const run = command !== undefined && Object.hasOwn(group.commands, command)
    ? group.commands[command]
    : undefined;
  if (!run) {
    const names = Object.keys(group.commands);
    throw new CliError(
      `Unknown ${group.name} command ${JSON.stringify(command ?? "")}: expected ${
        names.slice(0, -1).join(", ")
      } or ${names.at(-1)}`,
    );
  }
  return await run(rest);
}
