/**
 * Stops the gateway cleanly on SIGINT and SIGTERM.
 *
 * @module
 */

/**
 * Runs `stop` on SIGINT or SIGTERM, then exits with code 0.
 *
 * @param stop Closes what the process opened (sessions, audit log, workers).
 */
export function onShutdown(stop: () => Promise<void>): void {
  const handler = () => {
    stop().finally(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", handler);
  Deno.addSignalListener("SIGTERM", handler);
}
