/**
 * The fan-out baselines of the `ssh` suite: `parallel-ssh` (OpenSSH, a new
 * connection per host) and Ansible ad hoc (`raw` and `command`), run against
 * the same sshd instances, key and known_hosts as the gateway. Both come
 * from Debian packages that the bench installs with apt-get when missing
 * (the bench is not CI); when that fails the rows say so.
 *
 * @module
 */

/** Where the baselines connect, as whom, and what they trust. */
export interface FanoutHosts {
  /** Scratch directory (inventories, control sockets). */
  readonly dir: string;
  readonly hosts: readonly { host: string; port: number }[];
  readonly user: string;
  readonly keyPath: string;
  readonly knownHosts: string;
}

/** Wall time of one run, and how many hosts answered. */
export interface FanoutRun {
  readonly wallMs: number;
  readonly ok: number;
}

/**
 * Makes sure `program` is on PATH, installing Debian package `pkg` with
 * apt-get when it is not.
 *
 * @param program The command to find.
 * @param pkg The Debian package that ships it.
 * @returns `null` when available, else why not (one line).
 */
export async function ensureProgram(program: string, pkg: string): Promise<string | null> {
  const found = async () =>
    (await new Deno.Command("sh", {
      args: ["-c", `command -v ${program}`],
      stdout: "null",
      stderr: "null",
    }).output()).success;
  if (await found()) return null;
  console.log(`${program} is missing: installing Debian package ${pkg} with apt-get`);
  const out = await new Deno.Command("apt-get", {
    args: ["install", "-y", "-q", "--no-install-recommends", pkg],
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output().catch((error: Error) => ({
    success: false,
    stderr: new TextEncoder().encode(error.message),
  }));
  if (out.success && await found()) return null;
  const why = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
  const line = `${program} skipped: apt-get install ${pkg} failed (${why})`;
  console.log(line);
  return line;
}

async function timeProgram(
  program: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ wallMs: number; stdout: string; stderr: string }> {
  const t0 = performance.now();
  const out = await new Deno.Command(program, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallMs = performance.now() - t0;
  return {
    wallMs,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

function sshOptions(f: FanoutHosts): string[] {
  return [
    `-o UserKnownHostsFile=${f.knownHosts}`,
    "-o GlobalKnownHostsFile=/dev/null",
    "-o StrictHostKeyChecking=yes",
    "-o BatchMode=yes",
  ];
}

/**
 * Runs `command` on every host with `parallel-ssh`.
 *
 * @param f The hosts.
 * @param options `parallel` processes; `kex` OpenSSH's `KexAlgorithms` (default: OpenSSH's own).
 * @returns Wall time and hosts that succeeded.
 */
export async function runPssh(
  f: FanoutHosts,
  command: string,
  options: { parallel: number; kex?: string },
): Promise<FanoutRun> {
  const hosts = `${f.dir}/pssh_hosts`;
  await Deno.writeTextFile(hosts, f.hosts.map((h) => `${h.host}:${h.port}`).join("\n") + "\n");
  const extra = [`-i ${f.keyPath}`, ...sshOptions(f)];
  if (options.kex) extra.push(`-o KexAlgorithms=${options.kex}`);
  const { wallMs, stdout } = await timeProgram("parallel-ssh", [
    ...["-h", hosts, "-p", String(options.parallel), "-l", f.user, "-t", "120"],
    ...["-x", extra.join(" ")],
    command,
  ]);
  return { wallMs, ok: stdout.split("\n").filter((l) => l.includes("[SUCCESS]")).length };
}

/** Kills the ssh ControlMaster processes Ansible left, found by their control dir. */
function killControlMasters(controlDir: string): void {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(controlDir)) Deno.kill(Number(entry.name), "SIGTERM");
    } catch {
      // Gone, or not ours to read.
    }
  }
}

/** Ansible ad hoc runs sharing one inventory and one ControlPersist directory. */
export class AnsibleRuns {
  readonly #f: FanoutHosts;
  readonly #inventory: string;
  readonly #controlDir: string;
  readonly #remoteTmp: string;

  /** @param f The hosts. */
  constructor(f: FanoutHosts) {
    this.#f = f;
    this.#inventory = `${f.dir}/inventory.ini`;
    this.#controlDir = `${f.dir}/ansible-cp`;
    this.#remoteTmp = `/tmp/${f.dir.split("/").pop()}-ansible`;
  }

  /**
   * Runs `command` on every host with `ansible -m MODULE`.
   *
   * @param command What to run.
   * @param options `module` raw or command; `forks`.
   * @returns Wall time and hosts that answered with rc 0.
   */
  async run(
    command: string,
    options: { module: "raw" | "command"; forks: number },
  ): Promise<FanoutRun> {
    const f = this.#f;
    await Deno.mkdir(this.#controlDir, { recursive: true });
    await Deno.writeTextFile(
      this.#inventory,
      [
        "[fan]",
        ...f.hosts.map((h, n) => `h${n} ansible_host=${h.host} ansible_port=${h.port}`),
        "[fan:vars]",
        `ansible_user=${f.user}`,
        `ansible_ssh_private_key_file=${f.keyPath}`,
        `ansible_ssh_common_args='${sshOptions(f).join(" ")}'`,
        "ansible_python_interpreter=/usr/bin/python3",
        "",
      ].join("\n"),
    );
    const args = [
      ...["fan", "-i", this.#inventory, "-f", String(options.forks)],
      ...["-m", options.module, "-a", command],
    ];
    const { wallMs, stdout } = await timeProgram("ansible", args, {
      ANSIBLE_HOME: `${f.dir}/ansible-home`,
      ANSIBLE_LOCAL_TEMP: `${f.dir}/ansible-home/tmp`,
      ANSIBLE_REMOTE_TMP: this.#remoteTmp,
      ANSIBLE_SSH_CONTROL_PATH_DIR: this.#controlDir,
      ANSIBLE_HOST_KEY_CHECKING: "True",
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_RETRY_FILES_ENABLED: "False",
      ANSIBLE_STDOUT_CALLBACK: "minimal",
    });
    return { wallMs, ok: stdout.split("\n").filter((l) => / \| CHANGED \| rc=0/.test(l)).length };
  }

  /** Stops the ControlPersist masters, so the next run is cold again. */
  async stopMasters(): Promise<void> {
    killControlMasters(this.#controlDir);
    await new Promise((r) => setTimeout(r, 200));
  }

  /** Stops the masters and removes the remote temp dir. */
  async close(): Promise<void> {
    await this.stopMasters();
    await Deno.remove(this.#remoteTmp, { recursive: true }).catch(() => {});
  }
}
