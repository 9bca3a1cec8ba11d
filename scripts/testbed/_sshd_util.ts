/**
 * Helpers for the sshd testbed: the test user, free ports, keys, and killing
 * a process tree by PID.
 *
 * @module
 */

/** The dedicated login user of test sshd instances. */
export const TEST_USER = "tailops-test";
/** Its home: an empty directory, so no shell startup file runs. */
export const TEST_HOME = "/var/lib/tailops-test";

/** A host key an sshd serves. */
export interface HostKey {
  /** Key type as in `ssh-keygen -t`: `ed25519`, `ecdsa`, `rsa`. */
  readonly type: string;
  /** `SHA256:...` fingerprint. */
  readonly fingerprint: string;
  /** The public key line (`ssh-ed25519 AAAA...`). */
  readonly publicKey: string;
}

/** A client key pair made for a test. */
export interface ClientKey {
  readonly type: string;
  /** Private key text (OpenSSH format). */
  readonly privateKey: string;
  /** Public key line for authorized_keys. */
  readonly publicKey: string;
  /** Path of the private key file. */
  readonly path: string;
}

/**
 * Runs a program and returns its stdout.
 *
 * @param program Program name or path.
 * @param args Arguments.
 * @returns Trimmed stdout.
 * @throws {Error} When it exits non-zero.
 */
export async function run(program: string, args: readonly string[]): Promise<string> {
  const out = await new Deno.Command(program, { args: [...args], stdin: "null" }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `Command ${program} failed: expected exit 0, found ${out.code}: ${dec.decode(out.stderr)}`,
    );
  }
  return dec.decode(out.stdout).trim();
}

/**
 * Creates the test user if missing (idempotent) with an empty home and an
 * unlocked account (sshd refuses locked accounts when `UsePAM no`).
 *
 * @param password Sets this password when given.
 */
export async function ensureTestUser(password?: string): Promise<void> {
  const exists = await run("id", ["-u", TEST_USER]).then(() => true, () => false);
  if (!exists) {
    await run("useradd", ["--system", "--home-dir", TEST_HOME, "--shell", "/bin/sh", TEST_USER])
      .catch(async (error) => {
        // A concurrent test run may have created it meanwhile.
        if (!(await run("id", ["-u", TEST_USER]).then(() => true, () => false))) throw error;
      });
  }
  await Deno.mkdir(TEST_HOME, { recursive: true, mode: 0o755 });
  await run("chown", [TEST_USER, TEST_HOME]);
  if (password !== undefined) {
    const child = new Deno.Command("chpasswd", { stdin: "piped" }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(`${TEST_USER}:${password}\n`));
    await writer.close();
    if (!(await child.status).success) throw new Error("Cannot set the test user's password");
    return;
  }
  const shadow = await Deno.readTextFile("/etc/shadow");
  const line = shadow.split("\n").find((l) => l.startsWith(`${TEST_USER}:`));
  if (line?.split(":")[1].startsWith("!")) await run("usermod", ["-p", "*", TEST_USER]);
}

/**
 * Finds a free TCP port by binding port 0.
 *
 * @param hostname Address to bind.
 * @returns A port that was free a moment ago.
 */
export function freePort(hostname: string): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function keygen(path: string, type: string, passphrase: string): Promise<string> {
  const bits = type === "rsa" ? ["-b", "2048"] : [];
  await run("ssh-keygen", [
    "-q",
    "-t",
    type,
    ...bits,
    "-N",
    passphrase,
    "-C",
    "tailops-test",
    "-f",
    path,
  ]);
  return await Deno.readTextFile(`${path}.pub`);
}

async function fingerprint(path: string): Promise<string> {
  return (await run("ssh-keygen", ["-l", "-E", "sha256", "-f", path])).split(" ")[1];
}

/**
 * Generates ed25519, ECDSA and RSA host keys in `dir`.
 *
 * @param dir Directory for `ssh_host_*_key`.
 * @returns The keys with fingerprints.
 */
export async function generateHostKeys(dir: string): Promise<HostKey[]> {
  return await Promise.all(["ed25519", "ecdsa", "rsa"].map(async (type) => {
    const path = `${dir}/ssh_host_${type}_key`;
    const publicKey = (await keygen(path, type, "")).trim();
    return { type, publicKey, fingerprint: await fingerprint(`${path}.pub`) };
  }));
}

/**
 * Generates a client key pair in `dir`.
 *
 * @param dir Directory for the key files.
 * @param type `ed25519`, `ecdsa` or `rsa`.
 * @param options `passphrase` encrypts the private key; `name` names the file.
 * @returns The key pair.
 */
export async function generateClientKey(
  dir: string,
  type: string,
  options: { passphrase?: string; name?: string } = {},
): Promise<ClientKey> {
  const path = `${dir}/${options.name ?? `id_${type}`}`;
  const publicKey = (await keygen(path, type, options.passphrase ?? "")).trim();
  return { type, path, publicKey, privateKey: await Deno.readTextFile(path) };
}

/**
 * Every descendant of a process (children, their children, ...), read from /proc.
 *
 * @param pid The ancestor.
 * @returns Descendant PIDs, parents before children; the ancestor itself is not included.
 */
export function descendants(pid: number): number[] {
  const all: number[] = [];
  const queue = children(pid);
  while (queue.length > 0) {
    const next = queue.shift()!;
    all.push(next);
    queue.push(...children(next));
  }
  return all;
}

function children(pid: number): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) found.push(Number(entry.name));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/**
 * Sends SIGKILL to a process and all its descendants, found by PID.
 *
 * @param pid The root process.
 */
export function killTree(pid: number): void {
  const all: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    all.push(next);
    queue.push(...children(next));
  }
  for (const p of all) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}
