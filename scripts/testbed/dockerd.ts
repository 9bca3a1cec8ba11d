/**
 * Testbed: a real dockerd (Debian `docker.io`) started from a temp dir, with
 * its data root, exec root (and the containerd it starts there), pidfile and
 * socket inside it; no bridge, no iptables. Optionally also listens on
 * `tcp://127.0.0.1:PORT` with `--tlsverify` and certificates made by openssl.
 * Needs root, `/usr/sbin/dockerd`, `/usr/bin/docker`, `busybox-static`, `openssl`.
 *
 * CLI: `deno run -A scripts/testbed/dockerd.ts [--tls]` starts one, builds the
 * test image, prints its socket (and TCP address) as JSON and runs until
 * interrupted, then cleans up.
 *
 * @module
 */
import {
  buildTestImage,
  DOCKER_CLI,
  freePort,
  generateCertificates,
  run,
  type TestCertificates,
  unmountUnder,
} from "./_dockerd_util.ts";

export { buildTestImage, generateCertificates, type TestCertificates } from "./_dockerd_util.ts";

/** Options for {@linkcode DockerdTestbed.start}. */
export interface DockerdOptions {
  /** Also listen on TCP with `--tlsverify` (certificates are generated). */
  tls?: boolean;
  /** Build the busybox test image (default true). */
  image?: boolean;
  /**
   * Give this group the socket (`--group`) and let others traverse the temp dir, so a
   * non-root user of the group (the SSH test user) can use the engine.
   */
  group?: string;
}

/** A running dockerd in its own temp dir. */
export class DockerdTestbed {
  /** The temp dir holding everything. */
  readonly dir: string;
  /** The unix socket path. */
  readonly socket: string;
  /** `tcp://127.0.0.1:PORT` when started with `tls`. */
  readonly tcp: string | null;
  /** Certificates when started with `tls`. */
  readonly certificates: TestCertificates | null;
  /** The test image tag, or `null` when not built. */
  image: string | null = null;
  #process: Deno.ChildProcess | null = null;

  readonly #group: string | null;

  private constructor(
    dir: string,
    tcp: string | null,
    certificates: TestCertificates | null,
    group: string | null,
  ) {
    this.#group = group;
    this.dir = dir;
    this.socket = `${dir}/docker.sock`;
    this.tcp = tcp;
    this.certificates = certificates;
  }

  /**
   * Starts dockerd and waits until `/_ping` answers. Cleans up on failure.
   *
   * @param options TLS listener and test image.
   * @returns The running testbed.
   * @throws {Error} When dockerd does not come up within 30 s (its log tail included).
   */
  static async start(options: DockerdOptions = {}): Promise<DockerdTestbed> {
    const dir = await Deno.makeTempDir({ prefix: "tailops-dockerd-" });
    let testbed: DockerdTestbed | undefined;
    try {
      const certificates = options.tls ? await generateCertificates(dir) : null;
      testbed = new DockerdTestbed(
        dir,
        options.tls ? `tcp://127.0.0.1:${freePort()}` : null,
        certificates,
        options.group ?? null,
      );
      await testbed.startDaemon();
      if (options.image !== false) testbed.image = await buildTestImage(testbed.socket, { dir });
      return testbed;
    } catch (error) {
      if (testbed) await testbed.close();
      else await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** PID of dockerd, or `null` while stopped. */
  get pid(): number | null {
    return this.#process?.pid ?? null;
  }

  /**
   * Starts (or restarts) the daemon on the same dirs and waits for `/_ping`.
   *
   * @throws {Error} When it does not answer within 30 s.
   */
  async startDaemon(): Promise<void> {
    if (this.#process) return;
    const args = [
      `--data-root=${this.dir}/data`,
      `--exec-root=${this.dir}/exec`,
      `--pidfile=${this.dir}/docker.pid`,
      `-H`,
      `unix://${this.socket}`,
      "--bridge=none",
      "--iptables=false",
      "--ip6tables=false",
      "--shutdown-timeout=1",
      "--log-level=warn",
      ...(this.#group ? [`--group=${this.#group}`] : []),
    ];
    if (this.#group) await Deno.chmod(this.dir, 0o711);
    if (this.tcp && this.certificates) {
      const f = this.certificates.files;
      args.push(
        "-H",
        this.tcp,
        "--tlsverify",
        `--tlscacert=${f.ca}`,
        `--tlscert=${f.serverCert}`,
        `--tlskey=${f.serverKey}`,
      );
    }
    const log = await Deno.open(`${this.dir}/dockerd.log`, { append: true, create: true });
    this.#process = new Deno.Command("/usr/sbin/dockerd", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#process.stderr.pipeTo(log.writable).catch(() => {});
    const deadline = Date.now() + 30_000;
    while (!(await this.ping())) {
      const exited = await Promise.race([
        this.#process.status,
        new Promise((r) => setTimeout(() => r(null), 100)),
      ]);
      if (exited !== null || Date.now() > deadline) {
        const tail = (await Deno.readTextFile(`${this.dir}/dockerd.log`).catch(() => "")).split(
          "\n",
        ).slice(-15).join("\n");
        await this.stopDaemon();
        throw new Error(
          `dockerd did not start: ${exited ? "it exited" : "no answer within 30 s"}\n${tail}`,
        );
      }
    }
  }

  /**
   * Stops the daemon and waits for it. SIGTERM (the default) shuts down
   * cleanly, stopping containers and its own containerd; SIGKILL simulates a
   * crash: the containerd it started is then killed too, by the PID in its
   * pidfile, so a restart starts from a clean exec root.
   *
   * @param options `signal` to send (SIGKILL follows after 20 s either way).
   */
  async stopDaemon(options: { signal?: "SIGTERM" | "SIGKILL" } = {}): Promise<void> {
    const process = this.#process;
    if (!process) return;
    this.#process = null;
    const containerd = options.signal === "SIGKILL" ? await this.#containerdPid() : null;
    try {
      process.kill(options.signal ?? "SIGTERM");
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        process.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 20_000);
    await process.status;
    clearTimeout(timer);
    if (containerd !== null) {
      try {
        Deno.kill(containerd, "SIGKILL");
      } catch {
        // Already gone.
      }
      for (let i = 0; i < 100 && await exists(`/proc/${containerd}`); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async #containerdPid(): Promise<number | null> {
    const text = await Deno.readTextFile(`${this.dir}/exec/containerd/containerd.pid`).catch(() =>
      ""
    );
    const pid = Number(text.trim());
    return Number.isSafeInteger(pid) && pid > 1 ? pid : null;
  }

  /** @returns Whether `GET /_ping` on the socket answers `OK`. */
  async ping(): Promise<boolean> {
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socket } });
    try {
      const response = await fetch("http://docker/_ping", {
        client,
        signal: AbortSignal.timeout(2000),
      });
      return (await response.text()) === "OK";
    } catch {
      return false;
    } finally {
      client.close();
    }
  }

  /**
   * Runs the docker CLI against this engine's socket.
   *
   * @param args CLI arguments, e.g. `["run", "-d", ...]`.
   * @returns Trimmed stdout.
   * @throws {Error} When the CLI fails.
   */
  docker(...args: string[]): Promise<string> {
    return run(DOCKER_CLI, ["-H", `unix://${this.socket}`, ...args]);
  }

  /**
   * Starts a detached container from the test image with networking off.
   *
   * @param name Container name.
   * @param options `command` argv, `labels`, `tty`.
   * @returns The container id.
   */
  runContainer(
    name: string,
    options: { command?: string[]; labels?: Record<string, string>; tty?: boolean } = {},
  ): Promise<string> {
    const labels = Object.entries(options.labels ?? {}).flatMap((
      [k, v],
    ) => ["--label", `${k}=${v}`]);
    return this.docker(
      "run",
      "-d",
      "--network",
      "none",
      "--name",
      name,
      ...labels,
      ...(options.tty ? ["-t"] : []),
      this.image ?? "tailops-test:latest",
      ...(options.command ?? ["sleep", "600"]),
    );
  }

  /** Removes every container, stops the daemon, unmounts and deletes the temp dir. */
  async close(): Promise<void> {
    if (this.#process && await this.ping()) {
      const ids = (await this.docker("ps", "-aq").catch(() => "")).split("\n").filter(Boolean);
      if (ids.length > 0) await this.docker("rm", "-f", ...ids).catch(() => "");
    }
    await this.stopDaemon();
    await unmountUnder(this.dir);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

if (import.meta.main) {
  const testbed = await DockerdTestbed.start({ tls: Deno.args.includes("--tls") });
  console.log(
    JSON.stringify({
      socket: testbed.socket,
      tcp: testbed.tcp,
      pid: testbed.pid,
      image: testbed.image,
      dir: testbed.dir,
    }),
  );
  const stop = async () => {
    await testbed.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
