/**
 * An HTTP API on loopback whose `/slow` answers only when the test releases
 * it, to hold a call in flight through the real gateway, and the target
 * registry naming it.
 *
 * @module
 */

/** A running slow API. */
export interface SlowApi extends AsyncDisposable {
  readonly port: number;
  /** Settles when the first request has arrived. */
  readonly started: Promise<void>;
  /** Lets every request (held or to come) answer. */
  release(): void;
}

/**
 * Starts the slow API on a free loopback port.
 *
 * @returns The API; dispose it to release what it holds and stop it.
 */
export function slowApi(): SlowApi {
  let arrived!: () => void;
  const started = new Promise<void>((resolve) => arrived = resolve);
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    arrived();
    await released;
    return Response.json({ slow: "done" });
  });
  return {
    port: server.addr.port,
    started,
    release,
    async [Symbol.asyncDispose]() {
      release();
      await server.shutdown();
    },
  };
}

/**
 * A registry with the HTTP target `api` (GET /slow only) on `port`.
 *
 * @param port The slow API's port.
 * @param extra More YAML lines under `targets:`.
 * @returns The YAML text.
 */
export function slowApiTargets(port: number, extra: string[] = []): string {
  return [
    "targets:",
    "  - id: api",
    "    type: http",
    "    capabilities: [http:read]",
    "    connection:",
    `      base_url: http://127.0.0.1:${port}`,
    "      methods: [GET]",
    '      paths: ["/slow"]',
    ...extra,
  ].join("\n");
}

/**
 * Waits for a process to exit (60 s cap, so a hang fails with a message).
 *
 * @param status The process's status promise.
 * @returns Its status.
 * @throws {Error} When it has not exited within 60 s.
 */
export async function exitOf(status: Promise<Deno.CommandStatus>): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      status,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error("The gateway did not exit within 60 s")), 60_000)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
