/**
 * Signals: SIGTERM and SIGINT stop the gateway gracefully (stop taking new
 * calls, let the calls in flight finish within a grace period, cut the rest
 * with a clear answer, write `stopped`, exit 0). SIGHUP is ignored: the
 * gateway does not reload its configuration (a restart applies changes), and
 * a hangup must not end it without a `stopped` record.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Gateway } from "./gateway.ts";

const log = getLogger(["tailops", "serve"]);

/** Default grace period for calls in flight at SIGTERM/SIGINT, in seconds. */
export const DEFAULT_SHUTDOWN_GRACE_S = 10;

/**
 * Time beyond the grace period after which the process exits even if closing
 * hangs (a stuck disk under the audit log), with code 1.
 */
const HARD_STOP_EXTRA_MS = 10_000;

/** What a transport does at shutdown, around the drain. */
export interface ShutdownOptions {
  /** Grace period for calls in flight, in milliseconds. */
  readonly graceMs: number;
  /** Stops taking new connections or messages; called first. */
  readonly stopAccepting?: () => void;
  /** Closes sessions and transports once the calls are answered; called before the gateway closes. */
  readonly closeTransports?: () => Promise<void>;
}

/**
 * Handles SIGINT, SIGTERM (graceful stop, then exit 0) and SIGHUP (ignored,
 * with a log line).
 *
 * @param gateway The gateway to drain and close.
 * @param options The grace period and the transport's steps.
 * @returns A promise that never resolves: the process exits at the end of a
 *   stop. A transport whose serving ends because of the stop (an HTTP server
 *   aborted by `stopAccepting`) awaits it so that nothing returns to `main`
 *   and exits before the `stopped` record is written.
 */
export function onShutdown(
  gateway: Pick<Gateway, "drain" | "close">,
  options: ShutdownOptions,
): Promise<never> {
  let stopping = false;
  const stop = async (signal: Deno.Signal) => {
    if (stopping) {
      log.info("Received {signal} while stopping; still stopping", { signal });
      return;
    }
    stopping = true;
    const hardStop = setTimeout(() => {
      log.error("Could not stop cleanly within the grace period; exiting");
      Deno.exit(1);
    }, options.graceMs + HARD_STOP_EXTRA_MS);
    log.info("Received {signal}: stopping (grace period {graceMs} ms)", {
      signal,
      graceMs: options.graceMs,
    });
    try {
      options.stopAccepting?.();
      const cut = await gateway.drain(options.graceMs);
      if (cut > 0) log.warn("Cut {cut} request(s) at the end of the grace period", { cut });
      await options.closeTransports?.();
    } catch (error) {
      log.error("Draining failed: {error}", { error: String(error) });
    }
    let code = 0;
    try {
      await gateway.close();
      log.info("Stopped");
    } catch (error) {
      code = 1;
      log.error("Closing the gateway failed: {error}", { error: String(error) });
    }
    clearTimeout(hardStop);
    Deno.exit(code);
  };
  Deno.addSignalListener("SIGINT", () => void stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => void stop("SIGTERM"));
  Deno.addSignalListener("SIGHUP", () => {
    log.warn(
      "Received SIGHUP: ignored (the gateway does not reload its configuration; restart it to apply changes)",
    );
  });
  return new Promise<never>(() => {});
}
