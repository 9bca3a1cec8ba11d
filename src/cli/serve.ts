/**
 * `tailops serve`: runs the gateway over stdio or Streamable HTTP.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { compileBindings } from "../auth/bindings.ts";
import { fullIdentity } from "../gate/identity.ts";
import { createMcpServer } from "../mcp/server.ts";
import { StdioTransport } from "../mcp/stdio_transport.ts";
import { serveStdio as serveMcpStdio } from "../mcp/sdk_stdio.ts";
import { type Gateway, openGateway } from "./gateway.ts";
import { SERVE_HELP } from "./help.ts";
import { flushLogs, setupLogging } from "./logging.ts";
import { parseServeOptions, type ServeOptions } from "./serve_options.ts";
import { onShutdown } from "./shutdown.ts";
import { openFailure, prepareStateDir, recordInstance } from "./serve_start.ts";

const log = getLogger(["tailops", "serve"]);

async function open(options: ServeOptions): Promise<Gateway> {
  await prepareStateDir(options.stateDir);
  try {
    return await openGateway(options);
  } catch (error) {
    throw await openFailure(error, options.stateDir);
  }
}

/**
 * Answers every request read before stdin ended: waits for the transport's
 * own count (it sees requests the SDK still queues, which the gateway's
 * in-flight count does not yet), then drains the gateway with what is left
 * of the grace period, which cuts calls still running with a clear answer.
 */
async function answerBeforeExit(
  transport: StdioTransport,
  gateway: Gateway,
  graceMs: number,
): Promise<void> {
  const started = Date.now();
  const waiting = transport.unanswered;
  if (waiting > 0) {
    log.info("The client closed stdin: answering {count} request(s) first", { count: waiting });
  }
  await transport.answered(graceMs);
  const cut = await gateway.drain(Math.max(0, graceMs - (Date.now() - started)));
  if (cut > 0) log.warn("Cut {cut} request(s) at the end of the grace period", { cut });
}

async function serveStdio(options: ServeOptions, gateway: Gateway): Promise<void> {
  const user = Deno.env.get("USER") || Deno.env.get("LOGNAME") || `uid${Deno.uid() ?? ""}`;
  const identity = gateway.policy.identities === undefined
    ? fullIdentity(`local:${user}`, "local")
    : compileBindings(gateway.policy.identities)({ kind: "local", user });
  // Our own transport: bounded lines, an answer for every malformed one, and
  // the end of stdin (a client that quits) closes it.
  const transport = new StdioTransport(Deno.stdin.readable, Deno.stdout.writable);
  // The client closed stdin: answer what it already asked (within the grace period).
  transport.onInputEnd = () => answerBeforeExit(transport, gateway, options.shutdownGraceMs);
  // The SDK picks the era from the first message (`initialize`: a 2025
  // session; `server/discover` or a 2026-07-28 envelope: stateless requests)
  // and builds the server for it (once more for a discarded discover probe).
  const connection = serveMcpStdio(() => createMcpServer(gateway.core, identity), {
    transport,
    onerror: (error) => log.debug("stdio: {error}", { error: error.message }),
  });
  // Stdio keeps reading during the grace period: new calls get a clear
  // refusal from the request guard rather than silence.
  onShutdown(gateway, {
    graceMs: options.shutdownGraceMs,
    closeTransports: () => connection.close(),
  });
  await recordInstance(options, gateway);
  log.info("Serving MCP over stdio as {subject} (audit chain {audit})", {
    subject: identity.subject,
    stateDir: options.stateDir,
    audit: gateway.audit.path,
  });
  await transport.closed;
  await gateway.close();
  log.info("Stopped: the client closed stdin");
  await flushLogs();
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
