/**
 * Testbed: real OpenSSH sshd instances on loopback, started from a temp dir
 * with their own host keys and authorized_keys, logging in as a dedicated
 * test user with an empty home (root's shell startup files would add ~73 ms
 * to every command). Needs root, `/usr/sbin/sshd` and `ssh-keygen`.
 *
 * CLI: `deno run -A scripts/testbed/sshd.ts start [--count N] [--distinct]
 * [--max-sessions N] [--key PUBKEY_FILE]` prints the instances as JSON and
 * runs until interrupted; `... stop DIR` stops instances by their recorded PIDs.
 *
 * @module
 */
import {
  descendants,
  ensureTestUser,
  freePort,
  generateHostKeys,
  type HostKey,
  killTree,
  TEST_USER,
} from "./_sshd_util.ts";

export { ensureTestUser, generateClientKey, TEST_HOME, TEST_USER } from "./_sshd_util.ts";
export type { ClientKey, HostKey } from "./_sshd_util.ts";

/** Options for {@linkcode SshdTestbed.start}. */
export interface SshdOptions {
  /** Public key lines allowed to log in as the test user. */
  authorizedKeys: readonly string[];
  /** Instances to start (default 1). */
  count?: number;
  /** Listen on 127.0.0.2, 127.0.0.3, ... instead of all on 127.0.0.1. */
  distinctAddresses?: boolean;
  /** sshd `MaxSessions` (OpenSSH default 10). */
  maxSessions?: number;
  /** sshd `MaxStartups` (OpenSSH default "10:30:100"). */
  maxStartups?: string;
  /** Enable password login with this password for the test user. */
  password?: string;
  /**
   * Per instance (by index): environment sshd sets in the test user's sessions
   * (`SetEnv`), e.g. `DOCKER_HOST` for that host's engine or a `PATH` without compose.
   */
  setEnv?: readonly (Readonly<Record<string, string>> | undefined)[];
  /**
   * sudoers lines these instances (and the sessions they start) see: each
   * sshd runs in its own mount namespace where a temp dir holding them is
   * bound over `/etc/sudoers.d`, so the machine's sudo configuration is never
   * touched. Needs `unshare` and `mount` (util-linux).
   */
  sudoers?: string;
}

/** One running sshd. */
export interface SshdInstance {
  readonly host: string;
  readonly port: number;
  readonly configPath: string;
  readonly logPath: string;
  /** PID of the listening sshd, or `null` while stopped. */
  pid: number | null;
  process: Deno.ChildProcess | null;
}

/** A set of sshd instances sharing one temp dir and one set of host keys. */
export class SshdTestbed {
  /** The temp dir holding keys, configs and logs. */
  readonly dir: string;
  /** The instances, in start order. */
  readonly instances: readonly SshdInstance[];
  /** Host keys every instance serves. */
  readonly hostKeys: readonly HostKey[];
  /** The login user. */
  readonly user: string = TEST_USER;
  /** The sudoers.d the instances see, when {@linkcode SshdOptions.sudoers} was given. */
  #sudoers: string | undefined;

  private constructor(dir: string, instances: SshdInstance[], hostKeys: HostKey[]) {
    this.dir = dir;
    this.instances = instances;
    this.hostKeys = hostKeys;
  }

  /**
   * Starts the instances and waits until each listens.
   *
   * @param options Keys, count and sshd limits.
   * @returns The running testbed; call {@linkcode SshdTestbed.stop} when done.
   * @throws {Error} When sshd fails to start; anything started is stopped first.
   */
  static async start(options: SshdOptions): Promise<SshdTestbed> {
    await ensureTestUser(options.password);
    await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const dir = await Deno.makeTempDir({ prefix: "tailops-sshd-" });
    await Deno.chmod(dir, 0o755);
    const instances: SshdInstance[] = [];
    const hostKeys: HostKey[] = [];
    const testbed = new SshdTestbed(dir, instances, hostKeys);
    try {
      hostKeys.push(...await generateHostKeys(dir));
      await Deno.writeTextFile(`${dir}/authorized_keys`, options.authorizedKeys.join("\n") + "\n", {
        mode: 0o644,
      });
      if (options.sudoers !== undefined) {
        await Deno.mkdir(`${dir}/sudoers.d`, { mode: 0o755 });
        await Deno.writeTextFile(`${dir}/sudoers.d/tailops-test`, options.sudoers + "\n", {
          mode: 0o440,
        });
        testbed.#sudoers = `${dir}/sudoers.d`;
      }
      for (let i = 0; i < (options.count ?? 1); i++) {
        const host = options.distinctAddresses ? `127.0.0.${2 + i}` : "127.0.0.1";
        const port = await freePort(host);
        const configPath = `${dir}/sshd_${i}.conf`;
        await Deno.writeTextFile(configPath, sshdConfig(dir, host, port, options, i));
        instances.push({
          host,
          port,
          configPath,
          logPath: `${dir}/sshd_${i}.log`,
          pid: null,
          process: null,
        });
      }
      await Promise.all(instances.map((_, i) => testbed.restart(i)));
      return testbed;
    } catch (error) {
      await testbed.stop();
      throw error;
    }
  }

  /**
   * Starts instance `index` again (after {@linkcode SshdTestbed.kill}) on the same port.
   *
   * @param index Instance index.
   * @throws {Error} When sshd does not listen within 10 s.
   */
  async restart(index: number): Promise<void> {
    const instance = this.instances[index];
    if (instance.process) await this.kill(index);
    const seen = (await Deno.readTextFile(instance.logPath).catch(() => "")).length;
    const sshd = ["/usr/sbin/sshd", "-D", "-E", instance.logPath, "-f", instance.configPath];
    // unshare execs (no --fork): the recorded PID is sshd's own.
    const [program, ...args] = this.#sudoers === undefined ? sshd : [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "--",
      "/bin/sh",
      "-c",
      'mount --bind "$1" /etc/sudoers.d && shift && exec "$@"',
      "sh",
      this.#sudoers,
      ...sshd,
    ];
    const process = new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    instance.process = process;
    instance.pid = process.pid;
    await Deno.writeTextFile(`${this.dir}/pids`, this.#pids().join("\n") + "\n");
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const text = (await Deno.readTextFile(instance.logPath).catch(() => "")).slice(seen);
      if (text.includes(`Server listening on ${instance.host} port ${instance.port}`)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    const text = await Deno.readTextFile(instance.logPath).catch(() => "");
    throw new Error(
      `Cannot start sshd ${index}: expected it to listen within 10 s, found log: ${
        text.slice(-500)
      }`,
    );
  }

  /**
   * Kills instance `index` with SIGKILL, its per-connection children included,
   * so every client connection drops.
   *
   * @param index Instance index.
   */
  async kill(index: number): Promise<void> {
    const instance = this.instances[index];
    if (!instance.process || instance.pid === null) return;
    killTree(instance.pid);
    await instance.process.status;
    instance.process = null;
    instance.pid = null;
  }

  /**
   * Sends a signal to instance `index`'s per-connection sshd processes (every
   * descendant of its listener), and to the listener too with `listener`.
   * `SIGSTOP` freezes the open connections as a hung host would: TCP stays
   * up, nothing answers. `SIGCONT` thaws them.
   *
   * @param index Instance index.
   * @param signal The signal.
   * @param options `listener`: signal the listening process as well.
   * @returns How many processes were signalled.
   */
  signalConnections(
    index: number,
    signal: "SIGSTOP" | "SIGCONT",
    options: { listener?: boolean } = {},
  ): number {
    const pid = this.instances[index].pid;
    if (pid === null) return 0;
    const pids = [...(options.listener ? [pid] : []), ...descendants(pid)];
    let sent = 0;
    for (const p of pids) {
      try {
        Deno.kill(p, signal);
        sent++;
      } catch {
        // Gone meanwhile.
      }
    }
    return sent;
  }

  /** Stops every instance and removes the temp dir. Safe to call twice. */
  async stop(): Promise<void> {
    for (let i = 0; i < this.instances.length; i++) await this.kill(i);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Stops on `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #pids(): number[] {
    return this.instances.map((i) => i.pid).filter((p): p is number => p !== null);
  }
}

function sshdConfig(
  dir: string,
  host: string,
  port: number,
  options: SshdOptions,
  index: number,
): string {
  const env = Object.entries(options.setEnv?.[index] ?? {});
  for (const [name, value] of env) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name) || /[\s"\\]/.test(value)) {
      throw new TypeError(`Invalid SetEnv ${name}: expected NAME=VALUE without blanks or quotes`);
    }
  }
  return [
    ...(env.length > 0 ? [`SetEnv ${env.map(([n, v]) => `${n}=${v}`).join(" ")}`] : []),
    `ListenAddress ${host}:${port}`,
    `HostKey ${dir}/ssh_host_ed25519_key`,
    `HostKey ${dir}/ssh_host_ecdsa_key`,
    `HostKey ${dir}/ssh_host_rsa_key`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    `AllowUsers ${TEST_USER}`,
    "PidFile none",
    "UsePAM no",
    "StrictModes no",
    "PermitRootLogin no",
    `PasswordAuthentication ${options.password ? "yes" : "no"}`,
    "KbdInteractiveAuthentication no",
    "PrintMotd no",
    "PrintLastLog no",
    "UseDNS no",
    "LogLevel VERBOSE",
    `MaxSessions ${options.maxSessions ?? 10}`,
    `MaxStartups ${options.maxStartups ?? "10:30:100"}`,
    "",
  ].join("\n");
}

async function main(args: string[]): Promise<void> {
  if (args[0] === "stop" && args[1]) {
    const pids = (await Deno.readTextFile(`${args[1]}/pids`)).split("\n").filter(Boolean).map(
      Number,
    );
    for (const pid of pids) killTree(pid);
    await Deno.remove(args[1], { recursive: true });
    return;
  }
  if (args[0] !== "start") {
    console.error(
      "Usage: sshd.ts start [--count N] [--distinct] [--max-sessions N] [--key FILE] | stop DIR",
    );
    Deno.exit(2);
  }
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const keyFile = flag("--key");
  const testbed = await SshdTestbed.start({
    authorizedKeys: keyFile ? [await Deno.readTextFile(keyFile)] : [],
    count: Number(flag("--count") ?? 1),
    distinctAddresses: args.includes("--distinct"),
    maxSessions: flag("--max-sessions") ? Number(flag("--max-sessions")) : undefined,
  });
  console.log(JSON.stringify({
    dir: testbed.dir,
    user: testbed.user,
    hostKeys: testbed.hostKeys.map((k) => k.fingerprint),
    instances: testbed.instances.map(({ host, port, pid }) => ({ host, port, pid })),
  }));
  const stop = () => testbed.stop().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

if (import.meta.main) await main(Deno.args);
