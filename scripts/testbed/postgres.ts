/**
 * Testbed: a real PostgreSQL server (Debian `postgresql`) started from a temp
 * dir: its own cluster made by `initdb`, listening on a unix socket in that
 * dir and on a free loopback port, stopped by PID. `initdb` and `postgres`
 * refuse to run as root, so under root they run as a dedicated unprivileged
 * user (created if missing) through `setpriv`.
 *
 * The cluster has one role, `tailops`, with a password: local (unix socket)
 * connections are trusted, TCP connections need the password (SCRAM).
 *
 * CLI: `deno run -A scripts/testbed/postgres.ts` starts one, prints its
 * socket directory, port and URLs as JSON and runs until interrupted.
 *
 * @module
 */
import { freePort, run } from "./_sshd_util.ts";

/** The OS user the server runs as when the testbed runs as root. */
export const PG_USER = "tailops-pg";
/** The database role and database the testbed creates. */
export const PG_ROLE = "tailops";

/**
 * The directory of the newest installed PostgreSQL's programs, found by glob
 * (`/usr/lib/postgresql/N/bin`), or `undefined` when none is installed.
 *
 * @returns The directory.
 */
export function findPostgresBin(): string | undefined {
  let best: { version: number; dir: string } | undefined;
  try {
    for (const entry of Deno.readDirSync("/usr/lib/postgresql")) {
      const version = Number(entry.name);
      const dir = `/usr/lib/postgresql/${entry.name}/bin`;
      if (!Number.isFinite(version)) continue;
      try {
        Deno.statSync(`${dir}/postgres`);
        Deno.statSync(`${dir}/initdb`);
      } catch {
        continue;
      }
      if (best === undefined || version > best.version) best = { version, dir };
    }
  } catch {
    return undefined;
  }
  return best?.dir;
}

/** Why PostgreSQL tests cannot run here, or `undefined` when they can. */
export const POSTGRES_MISSING: string | undefined = findPostgresBin() === undefined
  ? "PostgreSQL is not installed (Debian package postgresql: /usr/lib/postgresql/*/bin/postgres)"
  : undefined;

function isRoot(): boolean {
  return Deno.uid() === 0;
}

async function ensurePgUser(): Promise<void> {
  const exists = () => run("id", ["-u", PG_USER]).then(() => true, () => false);
  if (await exists()) return;
  await run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER])
    .catch(async (error) => {
      // A concurrent test may have created it meanwhile.
      if (!(await exists())) throw error;
    });
}

/** Runs a PostgreSQL program as the server's user (directly when not root). */
function asServerUser(program: string, args: string[]): Deno.Command {
  const options = {
    stdin: "null" as const,
    stdout: "piped" as const,
    stderr: "piped" as const,
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", LANG: "C", LC_ALL: "C" },
  };
  if (!isRoot()) return new Deno.Command(program, { args, ...options });
  return new Deno.Command("setpriv", {
    args: [`--reuid=${PG_USER}`, `--regid=${PG_USER}`, "--init-groups", "--", program, ...args],
    ...options,
  });
}

/** A running PostgreSQL in its own temp dir. */
export class PostgresTestbed {
  /** The temp dir (data dir, socket dir, log). */
  readonly dir: string;
  /** The directory holding the unix socket `.s.PGSQL.PORT`. */
  readonly socketDir: string;
  /** The loopback TCP port (also names the unix socket). */
  readonly port: number;
  /** The `tailops` role's password (needed over TCP only). */
  readonly password: string;
  readonly #bin: string;
  #process: Deno.ChildProcess | null = null;
  #output: Promise<void> | null = null;

  private constructor(dir: string, port: number, password: string, bin: string) {
    this.dir = dir;
    this.socketDir = `${dir}/run`;
    this.port = port;
    this.password = password;
    this.#bin = bin;
  }

  /** PID of the running server, or `null` while stopped. */
  get pid(): number | null {
    return this.#process?.pid ?? null;
  }

  /** `postgres://tailops@127.0.0.1:PORT/tailops` (without the password). */
  get tcpUrl(): string {
    return `postgres://${PG_ROLE}@127.0.0.1:${this.port}/${PG_ROLE}`;
  }

  /** The same URL with the password, for tests that pass it as a secret. */
  get tcpUrlWithPassword(): string {
    return `postgres://${PG_ROLE}:${this.password}@127.0.0.1:${this.port}/${PG_ROLE}`;
  }

  /** A URL over the unix socket: `postgres://tailops@/tailops?host=SOCKETDIR&port=PORT`. */
  get socketUrl(): string {
    return `postgres://${PG_ROLE}@/${PG_ROLE}?host=${
      encodeURIComponent(this.socketDir)
    }&port=${this.port}`;
  }

  /**
   * Creates a cluster with `initdb` and starts `postgres` on it.
   *
   * @returns The running testbed; call {@linkcode PostgresTestbed.stop} when done.
   * @throws {Error} When PostgreSQL is not installed or does not start within 30 s.
   */
  static async start(): Promise<PostgresTestbed> {
    const bin = findPostgresBin();
    if (bin === undefined) throw new Error(POSTGRES_MISSING);
    if (isRoot()) await ensurePgUser();
    const dir = await Deno.makeTempDir({ prefix: "tailops-pg-" });
    const password = crypto.randomUUID().replaceAll("-", "");
    const testbed = new PostgresTestbed(dir, freePort("127.0.0.1"), password, bin);
    try {
      await Deno.mkdir(testbed.socketDir, { mode: 0o755 });
      await Deno.writeTextFile(`${dir}/pwfile`, `${password}\n`);
      // The socket dir is world-searchable so another local user (and the gateway) can connect.
      await Deno.chmod(dir, 0o755);
      if (isRoot()) await run("chown", ["-R", PG_USER, dir]);
      const init = await asServerUser(`${bin}/initdb`, [
        "-D",
        `${dir}/data`,
        "-U",
        PG_ROLE,
        "--pwfile",
        `${dir}/pwfile`,
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--no-instructions",
      ]).output();
      if (!init.success) {
        throw new Error(
          `initdb failed: expected exit 0, found ${init.code}: ${
            new TextDecoder().decode(init.stderr)
          }`,
        );
      }
      await Deno.remove(`${dir}/pwfile`);
      await testbed.restart();
      await testbed.#psql(`CREATE DATABASE ${PG_ROLE}`, "postgres");
      return testbed;
    } catch (error) {
      await testbed.stop();
      throw error;
    }
  }

  /**
   * Starts the server again on the same cluster, port and socket (after
   * {@linkcode kill}), and waits until it accepts connections.
   *
   * @throws {Error} When it does not accept connections within 30 s.
   */
  async restart(): Promise<void> {
    if (this.#process !== null) return;
    const child = asServerUser(`${this.#bin}/postgres`, [
      "-D",
      `${this.dir}/data`,
      "-k",
      this.socketDir,
      "-p",
      String(this.port),
      "-c",
      "listen_addresses=127.0.0.1",
      // A test database: durability is not what is tested, speed on a loaded machine is.
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=200",
    ]).spawn();
    this.#process = child;
    let log = "";
    const decoder = new TextDecoder();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) log = (log + decoder.decode(chunk)).slice(-8000);
    };
    this.#output = Promise.all([drain(child.stdout), drain(child.stderr)]).then(() => {});
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const ready = await new Deno.Command(`${this.#bin}/pg_isready`, {
        args: ["-h", this.socketDir, "-p", String(this.port), "-d", "postgres", "-U", PG_ROLE],
        stdout: "null",
        stderr: "null",
      }).output();
      if (ready.success) return;
      const exited = await Promise.race([
        child.status.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 100)),
      ]);
      if (exited) break;
    }
    await this.kill();
    throw new Error(`PostgreSQL did not start within 30 s:\n${log}`);
  }

  /** Runs one SQL statement through `psql` on the unix socket. */
  async #psql(sql: string, database: string = PG_ROLE): Promise<string> {
    const out = await new Deno.Command(`${this.#bin}/psql`, {
      args: [
        ...["-h", this.socketDir, "-p", String(this.port), "-U", PG_ROLE, "-d", database],
        ...["-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin" },
    }).output();
    if (!out.success) {
      throw new Error(
        `psql failed on ${JSON.stringify(sql)}: ${new TextDecoder().decode(out.stderr)}`,
      );
    }
    return new TextDecoder().decode(out.stdout).trim();
  }

  /**
   * Runs SQL in the `tailops` database (tests use it to tamper with tables).
   *
   * @param sql One statement.
   * @returns psql's unaligned output.
   * @throws {Error} When psql fails.
   */
  async sql(sql: string): Promise<string> {
    return await this.#psql(sql);
  }

  /**
   * Stops the server by PID, keeping its cluster for {@linkcode restart}:
   * at once (SIGKILL, a crash), or by PostgreSQL's fast shutdown (SIGINT:
   * every session is ended with 57P01 admin_shutdown first).
   *
   * @param signal SIGKILL (default) or SIGINT.
   */
  async kill(signal: "SIGKILL" | "SIGINT" = "SIGKILL"): Promise<void> {
    const child = this.#process;
    if (child === null) return;
    this.#process = null;
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
    await child.status;
    await this.#output;
    // postgres's children (checkpointer, walwriter, ...) exit when the postmaster dies;
    // wait for the shared memory lock to go so a restart on the same dir works.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        await Deno.stat(`${this.dir}/data/postmaster.pid`);
      } catch {
        return;
      }
      const alive = await new Deno.Command("pgrep", {
        args: ["-u", isRoot() ? PG_USER : String(Deno.uid()), "-f", `${this.dir}/data`],
        stdout: "null",
      }).output();
      if (!alive.success) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Opens an interactive `psql` session on the unix socket, for tests that
   * hold a lock or a transaction open while the gateway works. Its output
   * lines are kept; the session ends with the server or on disposal.
   *
   * @returns The session.
   */
  session(): PsqlSession {
    const child = new Deno.Command(`${this.#bin}/psql`, {
      args: [
        ...["-h", this.socketDir, "-p", String(this.port), "-U", PG_ROLE, "-d", PG_ROLE],
        ...["-At", "-v", "ON_ERROR_STOP=1"],
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin" },
    }).spawn();
    return new PsqlSession(child);
  }

  /** Stops the server (by PID) and removes the temp dir. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (child !== null) {
      this.#process = null;
      try {
        // SIGINT: PostgreSQL's fast shutdown.
        child.kill("SIGINT");
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, 10_000);
      await child.status;
      clearTimeout(timer);
      await this.#output;
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Stops the server and removes its dir (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** An interactive `psql` session (see {@linkcode PostgresTestbed.session}). */
export class PsqlSession implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #output = "";
  readonly #reading: Promise<void>;

  /** @param child The running psql. */
  constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    const read = async (stream: ReadableStream<Uint8Array>) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) this.#output += text;
    };
    this.#reading = Promise.all([read(child.stdout), read(child.stderr)]).then(() => {});
  }

  /** Everything psql printed so far (stdout and stderr). */
  get output(): string {
    return this.#output;
  }

  /**
   * Sends SQL (or a psql command) followed by a newline.
   *
   * @param text What to send.
   */
  async send(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(`${text}\n`));
  }

  /**
   * Waits until psql has printed a line equal to `marker` (send `\echo MARKER`).
   *
   * @param marker The line.
   * @throws {Error} When psql exits first or 60 s pass.
   */
  async until(marker: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    let exited = false;
    this.#child.status.then(() => exited = true);
    while (!this.#output.split("\n").includes(marker)) {
      if (exited || Date.now() > deadline) {
        throw new Error(`psql did not print ${JSON.stringify(marker)}:\n${this.#output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Closes psql's input and waits for it to exit (killing it after 10 s). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Gone.
      }
    }, 10_000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#reading.catch(() => {});
  }
}

if (import.meta.main) {
  const testbed = await PostgresTestbed.start();
  console.log(JSON.stringify(
    {
      dir: testbed.dir,
      socketDir: testbed.socketDir,
      port: testbed.port,
      socketUrl: testbed.socketUrl,
      tcpUrl: testbed.tcpUrl,
      password: testbed.password,
      pid: testbed.pid,
    },
    null,
    2,
  ));
  const stop = () => void testbed.stop().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
