/**
 * Testbed: a real HAProxy (Debian `haproxy`) in front of several gateways on
 * loopback, from a temp dir, stopped by PID. Requests are spread round-robin;
 * an MCP session stays on the gateway that opened it (stuck on the
 * `mcp-session-id` header the gateway answered with), so consecutive
 * sessions of one client alternate between gateways.
 *
 * @module
 */

/** Why HAProxy tests cannot run here, or `undefined` when they can. */
export const HAPROXY_MISSING: string | undefined = (() => {
  for (const path of ["/usr/sbin/haproxy", "/usr/bin/haproxy"]) {
    try {
      Deno.statSync(path);
      return undefined;
    } catch {
      // Try the next.
    }
  }
  return "HAProxy is not installed (Debian package haproxy)";
})();

/** A running HAProxy. */
export class HaproxyTestbed {
  /** The temp dir (config). */
  readonly dir: string;
  /** The loopback port it listens on. */
  readonly port: number;
  readonly #process: Deno.ChildProcess;
  #log = "";

  private constructor(dir: string, port: number, process: Deno.ChildProcess) {
    this.dir = dir;
    this.port = port;
    this.#process = process;
  }

  /** Its PID. */
  get pid(): number {
    return this.#process.pid;
  }

  /**
   * Starts HAProxy on `port` with the given backends and waits until it accepts connections.
   *
   * @param port The loopback port to listen on.
   * @param backends The gateways' loopback ports.
   * @returns The running testbed.
   * @throws {Error} When HAProxy is missing or does not listen within 20 s.
   */
  static async start(port: number, backends: readonly number[]): Promise<HaproxyTestbed> {
    if (HAPROXY_MISSING) throw new Error(HAPROXY_MISSING);
    const dir = await Deno.makeTempDir({ prefix: "tailops-haproxy-" });
    const config = [
      "global",
      "  maxconn 256",
      "defaults",
      "  mode http",
      "  timeout connect 5s",
      "  timeout client 60s",
      "  timeout server 60s",
      "frontend mcp",
      `  bind 127.0.0.1:${port}`,
      "  default_backend gateways",
      "backend gateways",
      "  balance roundrobin",
      "  option httpchk GET /readyz",
      "  stick-table type string len 64 size 10k expire 30m",
      "  stick on req.hdr(mcp-session-id)",
      "  stick store-response res.hdr(mcp-session-id)",
      ...backends.map((p, i) => `  server g${i} 127.0.0.1:${p} check inter 500ms`),
      "",
    ].join("\n");
    await Deno.writeTextFile(`${dir}/haproxy.cfg`, config);
    const child = new Deno.Command("haproxy", {
      args: ["-db", "-f", `${dir}/haproxy.cfg`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const testbed = new HaproxyTestbed(dir, port, child);
    const decoder = new TextDecoder();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        testbed.#log = (testbed.#log + decoder.decode(chunk)).slice(-8000);
      }
    };
    void drain(child.stdout).catch(() => {});
    void drain(child.stderr).catch(() => {});
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        return testbed;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    await testbed.stop();
    throw new Error(`HAProxy did not listen within 20 s:\n${testbed.#log}`);
  }

  /** Stops HAProxy by PID and removes its dir. */
  async stop(): Promise<void> {
    try {
      this.#process.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await this.#process.status;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Stops it (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
