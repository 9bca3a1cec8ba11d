/**
 * `tailops serve`: runs the gateway over stdio or Streamable HTTP.
 *
 * @module
 */
import process from "node:process";
import { getLogger, type LogLevel } from "@logtape/logtape";
import { compileBindings } from "../auth/bindings.ts";
import { ConfigError } from "../config/errors.ts";
import { StateOpenError } from "../state/mod.ts";
import { fullIdentity } from "../gate/identity.ts";
import { StdioServerTransport } from "../mcp/sdk.ts";
import { createMcpServer } from "../mcp/server.ts";
import { CliError } from "./errors.ts";
import { type Gateway, openGateway } from "./gateway.ts";
import { SERVE_HELP } from "./help.ts";
import { LOG_LEVELS, setupLogging } from "./logging.ts";
import { isLoopback, parseFlags, parseListen, stringOption } from "./options.ts";
import { onShutdown } from "./shutdown.ts";
import { defaultStateDir } from "./state_dir.ts";

const log = getLogger(["tailops", "serve"]);

const FLAGS = {
  transport: { type: "string" },
  listen: { type: "string" },
  targets: { type: "string" },
  policy: { type: "string" },
  "state-dir": { type: "string" },
  "state-url": { type: "string" },
  "public-url": { type: "string" },
  "allowed-host": { type: "string", multiple: true },
  "allowed-origin": { type: "string", multiple: true },
  "no-auth": { type: "boolean" },
  fsync: { type: "string" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
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
  };
}

async function open(options: ServeOptions): Promise<Gateway> {
  await Deno.mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  try {
    return await openGateway(options);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StateOpenError) {
      throw new CliError(error.message, 1);
    }
    throw error;
  }
}

async function serveStdio(options: ServeOptions, gateway: Gateway): Promise<void> {
  const user = Deno.env.get("USER") || Deno.env.get("LOGNAME") || `uid${Deno.uid() ?? ""}`;
  const identity = gateway.policy.identities === undefined
    ? fullIdentity(`local:${user}`, "local")
    : compileBindings(gateway.policy.identities)({ kind: "local", user });
  const server = createMcpServer(gateway.core, identity);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
  });
  onShutdown(() => gateway.close());
  await server.connect(transport);
  // The SDK's transport does not notice EOF; a client that quits closes our stdin.
  process.stdin.once("end", () => void transport.close());
  log.info("Serving MCP over stdio as {subject}", {
    subject: identity.subject,
    stateDir: options.stateDir,
  });
  await closed;
  await gateway.close();
}

/**
 * Runs `tailops serve`.
 *
 * @param args Arguments after `serve`.
 * @returns Exit code.
 * @throws {CliError} On bad flags or unusable configuration.
 */
export async function runServe(args: string[]): Promise<number> {
  const options = parseServeOptions(args);
  if (options === "help") {
    console.log(SERVE_HELP);
    return 0;
  }
  await setupLogging(options.logLevel);
  const gateway = await open(options);
  if (options.transport === "stdio") await serveStdio(options, gateway);
  // Loaded only for HTTP: Hono, the authenticators and the HTTP routes cost
  // stdio ~10 ms of start-up.
  else await (await import("./serve_http.ts")).serveHttp(options, gateway);
  return 0;
}
