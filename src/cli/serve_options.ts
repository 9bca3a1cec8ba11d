/**
 * `tailops serve` flags and their validated form, apart from `serve.ts` so
 * that both transports' modules can import the options type without an
 * import cycle (`serve.ts` loads `serve_http.ts`).
 *
 * @module
 */
import type { LogLevel } from "@logtape/logtape";
import { CliError } from "./errors.ts";
import { LOG_LEVELS } from "./logging.ts";
import { HTTP_LIMIT_FLAGS, type HttpLimits, parseHttpLimits } from "./http_limits.ts";
import { isLoopback, parseFlags, parseListen, stringOption } from "./options.ts";
import { DEFAULT_SHUTDOWN_GRACE_S } from "./shutdown.ts";
import { defaultStateDir } from "./state_dir.ts";

const FLAGS = {
  transport: { type: "string" },
  listen: { type: "string" },
  targets: { type: "string" },
  policy: { type: "string" },
  "state-dir": { type: "string" },
  "state-url": { type: "string" },
  operations: { type: "string" },
  templates: { type: "string" },
  stacks: { type: "string" },
  "public-url": { type: "string" },
  "allowed-host": { type: "string", multiple: true },
  "allowed-origin": { type: "string", multiple: true },
  "no-auth": { type: "boolean" },
  fsync: { type: "string" },
  "log-level": { type: "string" },
  "shutdown-grace": { type: "string" },
  help: { type: "boolean", short: "h" },
  ...HTTP_LIMIT_FLAGS,
} as const;

/** Validated `serve` options. */
export interface ServeOptions {
  transport: "stdio" | "http";
  listen: { hostname: string; port: number };
  targetsFile?: string;
  policyFile?: string;
  stateDir: string;
  /** Shared state database (`postgres://…` or a secret reference to one); embedded when absent. */
  stateUrl?: string;
  publicUrl?: string;
  allowedHosts: string[];
  allowedOrigins: string[];
  noAuth: boolean;
  fsync: "batch" | "always" | "never";
  logLevel: LogLevel;
  /** Grace period for calls in flight at SIGTERM/SIGINT, in milliseconds. */
  shutdownGraceMs: number;
  /** HTTP connection and session limits (defaults when absent). */
  http?: HttpLimits;
  /** Operator-defined operation files (`--operations`, else `TAILOPS_OPERATIONS`). */
  operationsDir?: string;
  /** file_write templates (`--templates`, else `TAILOPS_TEMPLATES`). */
  templatesDir?: string;
  /** Curated compose stacks (`--stacks`, else `TAILOPS_STACKS`). */
  stacksDir?: string;
}

/**
 * Parses `serve` flags (and their environment variables).
 *
 * @param args Arguments after `serve`.
 * @returns The options, or `"help"`.
 * @throws {CliError} On an unknown flag or a bad value.
 */
export function parseServeOptions(args: string[]): ServeOptions | "help" {
  const parsed = parseFlags(args, FLAGS);
  if (parsed.values.help) return "help";
  if (parsed.positionals.length > 0) {
    throw new CliError(
      `Unexpected argument ${JSON.stringify(parsed.positionals[0])}: serve takes only flags`,
    );
  }
  const transport = stringOption(parsed, "transport", "TAILOPS_TRANSPORT") ?? "stdio";
  if (transport !== "stdio" && transport !== "http") {
    throw new CliError(`Invalid --transport ${JSON.stringify(transport)}: expected stdio or http`);
  }
  const listen = parseListen(stringOption(parsed, "listen", "TAILOPS_LISTEN") ?? "127.0.0.1:8080");
  const noAuth = parsed.values["no-auth"] === true;
  if (noAuth && !isLoopback(listen.hostname)) {
    throw new CliError(
      `Refusing --no-auth on ${listen.hostname}: expected a loopback listen address such as 127.0.0.1`,
    );
  }
  const fsync = stringOption(parsed, "fsync") ?? "batch";
  if (fsync !== "batch" && fsync !== "always" && fsync !== "never") {
    throw new CliError(`Invalid --fsync ${JSON.stringify(fsync)}: expected batch, always or never`);
  }
  const logLevel = stringOption(parsed, "log-level", "TAILOPS_LOG_LEVEL") ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new CliError(
      `Invalid --log-level ${JSON.stringify(logLevel)}: expected ${LOG_LEVELS.join(", ")}`,
    );
  }
  const grace = stringOption(parsed, "shutdown-grace", "TAILOPS_SHUTDOWN_GRACE") ??
    String(DEFAULT_SHUTDOWN_GRACE_S);
  if (!/^\d{1,4}$/.test(grace) || Number(grace) > 3600) {
    throw new CliError(
      `Invalid --shutdown-grace ${
        JSON.stringify(grace)
      }: expected whole seconds between 0 and 3600`,
    );
  }
  const publicUrl = stringOption(parsed, "public-url", "TAILOPS_PUBLIC_URL");
  if (publicUrl !== undefined) {
    try {
      const url = new URL(publicUrl);
      if (!/^https?:$/.test(url.protocol)) throw new Error();
    } catch {
      throw new CliError(
        `Invalid --public-url ${JSON.stringify(publicUrl)}: expected an http(s) URL`,
      );
    }
  }
  return {
    transport,
    listen,
    targetsFile: stringOption(parsed, "targets", "TAILOPS_TARGETS"),
    policyFile: stringOption(parsed, "policy", "TAILOPS_POLICY"),
    stateDir: stringOption(parsed, "state-dir", "TAILOPS_STATE_DIR") ?? defaultStateDir(),
    stateUrl: stringOption(parsed, "state-url", "TAILOPS_STATE_URL"),
    publicUrl,
    allowedHosts: (parsed.values["allowed-host"] as string[] | undefined) ?? [],
    allowedOrigins: (parsed.values["allowed-origin"] as string[] | undefined) ?? [],
    noAuth,
    fsync,
    logLevel: logLevel as LogLevel,
    shutdownGraceMs: Number(grace) * 1000,
    http: parseHttpLimits(parsed),
    operationsDir: stringOption(parsed, "operations", "TAILOPS_OPERATIONS"),
    templatesDir: stringOption(parsed, "templates", "TAILOPS_TEMPLATES"),
    stacksDir: stringOption(parsed, "stacks", "TAILOPS_STACKS"),
  };
}
