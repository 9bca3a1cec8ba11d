/**
 * A throw-away Debian root filesystem for install tests: unpacked from the
 * tarball scripts/testbed/debian_rootfs.sh built (the only step that
 * downloads), entered with chroot inside private mount (and, for the
 * installer, network) namespaces, so /proc mounts vanish with the process and
 * an offline step provably has no network at all.
 *
 * @module
 */

/** Where scripts/testbed/debian_rootfs.sh leaves the pristine root filesystem. */
export const ROOTFS_TAR: string = Deno.env.get("TAILOPS_TEST_ROOTFS") ??
  "/var/cache/tailops-test/debian-bookworm-minbase.tar";

/**
 * Packs an offline bundle of this tree with `deploy/install.sh bundle`, from
 * the Deno cache the tests already use (no download).
 *
 * @param out The bundle file (`.tar`).
 * @throws {Error} When the installer fails.
 */
export async function makeBundle(out: string): Promise<void> {
  const made = await new Deno.Command("bash", {
    args: [
      new URL("../../deploy/install.sh", import.meta.url).pathname,
      "bundle",
      out,
      "--offline",
    ],
    stdin: "null",
  }).output();
  if (!made.success) {
    throw new Error(`install.sh bundle failed: ${new TextDecoder().decode(made.stderr)}`);
  }
}

/** Where {@linkcode installBundle} leaves the installer inside the root filesystem. */
export const INSTALLER = "/tmp/tailops/app/deploy/install.sh";

/**
 * Packs a bundle of this tree into the root filesystem and runs the
 * installer from it with no network, as an operator would after copying it
 * in (`tar -x ... tailops/app/deploy`, then `install.sh --bundle`).
 *
 * @param root The root filesystem.
 * @param args More installer arguments.
 * @returns The installer's output.
 * @throws {Error} When packing or installing fails.
 */
export async function installBundle(root: Rootfs, args: readonly string[] = []): Promise<RootRun> {
  await makeBundle(`${root.dir}/tmp/tailops.tar`);
  const untar = await new Deno.Command("tar", {
    args: ["-C", `${root.dir}/tmp`, "-xf", `${root.dir}/tmp/tailops.tar`, "tailops/app/deploy"],
  }).output();
  if (!untar.success) throw new Error("cannot unpack the installer from the bundle");
  const run = await root.run(["bash", INSTALLER, "--bundle", "/tmp/tailops.tar", ...args]);
  if (run.code !== 0) throw new Error(`install.sh failed:\n${run.stderr}`);
  return run;
}

/** The root filesystem with D-Bus, polkitd and sudo (`debian_rootfs.sh --polkit`). */
export const POLKIT_ROOTFS_TAR: string = Deno.env.get("TAILOPS_TEST_POLKIT_ROOTFS") ??
  "/var/cache/tailops-test/debian-bookworm-polkit.tar";

/**
 * Why the install tests cannot run here, or `undefined` when they can.
 *
 * @param tar The root filesystem tarball the test needs.
 * @returns The reason, or `undefined`.
 */
export function rootfsSkipReason(tar: string = ROOTFS_TAR): string | undefined {
  if (Deno.uid() !== 0) return "needs root (chroot, namespaces, useradd in the root filesystem)";
  try {
    Deno.statSync(tar);
  } catch {
    const flag = tar === POLKIT_ROOTFS_TAR ? " --polkit" : "";
    return `no Debian root filesystem at ${tar}: run bash scripts/testbed/debian_rootfs.sh${flag} ` +
      "(needs debootstrap and Debian's mirror; scripts/test.sh does it)";
  }
  for (const tool of ["/usr/bin/unshare", "/usr/sbin/chroot"]) {
    try {
      Deno.statSync(tool);
    } catch {
      return `${tool} is missing (util-linux, coreutils)`;
    }
  }
  return undefined;
}

/** The output of a command run inside the root filesystem. */
export interface RootRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** An unpacked root filesystem; disposal removes it. */
export interface Rootfs extends AsyncDisposable {
  /** Its path on the host. */
  readonly dir: string;
  /**
   * Runs argv as root inside it (`env -i`, a system PATH), with /proc mounted.
   *
   * @param argv The command.
   * @param options `network: false` (default) gives it a network namespace of its own.
   */
  run(argv: readonly string[], options?: { network?: boolean }): Promise<RootRun>;
  /**
   * Starts a long-running command (its own mount and PID namespaces, host
   * network so loopback clients reach it); `stop()` sends SIGTERM to it.
   */
  spawn(argv: readonly string[]): RootProcess;
}

/** A process running inside the root filesystem. */
export interface RootProcess {
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Resolves when it exits. */
  readonly status: Promise<Deno.CommandStatus>;
  /** SIGTERM to the command (PID 1 of its namespace), SIGKILL after 20 s. */
  stop(): Promise<Deno.CommandStatus>;
}

const SYSTEM_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function inside(dir: string, argv: readonly string[], namespaces: string[]): string[] {
  // sh mounts /proc inside the new mount namespace, then becomes chroot.
  return [
    ...namespaces,
    "/bin/sh",
    "-c",
    'mount -t proc proc "$0/proc" && exec chroot "$0" /usr/bin/env -i "$@"',
    dir,
    SYSTEM_PATH,
    ...argv,
  ];
}

/**
 * Unpacks a root filesystem tarball into a new temp directory.
 *
 * @param tar The tarball; default {@linkcode ROOTFS_TAR}.
 * @returns The root filesystem.
 */
export async function unpackRootfs(tar: string = ROOTFS_TAR): Promise<Rootfs> {
  const tmp = await Deno.makeTempDir({ prefix: "tailops-rootfs-" });
  const dir = `${tmp}/root`;
  await Deno.mkdir(dir);
  const untar = await new Deno.Command("tar", { args: ["-C", dir, "-xf", tar] }).output();
  if (!untar.success) throw new Error(`tar failed: ${new TextDecoder().decode(untar.stderr)}`);
  return {
    dir,
    async run(argv, options = {}) {
      const ns = ["--mount", "--pid", "--fork", ...(options.network ? [] : ["--net"])];
      const out = await new Deno.Command("/usr/bin/unshare", {
        args: inside(dir, argv, ns),
        stdin: "null",
      }).output();
      const text = new TextDecoder();
      return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
    },
    spawn(argv) {
      const child = new Deno.Command("/usr/bin/unshare", {
        args: inside(dir, argv, ["--mount", "--pid", "--fork", "--kill-child=SIGTERM"]),
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      let err = "";
      const decoder = new TextDecoder();
      const drained = child.stderr.pipeTo(
        new WritableStream({ write: (chunk) => void (err += decoder.decode(chunk)) }),
      );
      const status = child.status.then(async (s) => {
        await drained.catch(() => {});
        return s;
      });
      return {
        stderr: () => err,
        status,
        async stop() {
          // unshare itself ignores SIGTERM while it waits; its child is the command.
          const kids = await Deno.readTextFile(`/proc/${child.pid}/task/${child.pid}/children`)
            .catch(() => "");
          for (const pid of kids.trim().split(/\s+/).filter(Boolean)) {
            try {
              Deno.kill(Number(pid), "SIGTERM");
            } catch {
              // Already gone.
            }
          }
          const timer = setTimeout(() => {
            try {
              Deno.kill(child.pid, "SIGKILL");
            } catch {
              // Already gone.
            }
          }, 20_000);
          try {
            return await status;
          } finally {
            clearTimeout(timer);
          }
        },
      };
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    },
  };
}

/** What the installed unit runs: its user, groups, environment and command line. */
export interface UnitCommand {
  user: string;
  group: string;
  supplementaryGroups: string[];
  workingDirectory: string;
  environment: Record<string, string>;
  environmentFiles: string[];
  execStart: string[];
}

/**
 * Reads the settings of a unit file that decide how its command runs.
 *
 * @param text The unit file.
 * @returns The command and its context.
 */
export function parseUnit(text: string): UnitCommand {
  const unit: UnitCommand = {
    user: "root",
    group: "root",
    supplementaryGroups: [],
    workingDirectory: "/",
    environment: {},
    environmentFiles: [],
    execStart: [],
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m;
    if (key === "User") unit.user = value;
    if (key === "Group") unit.group = value;
    if (key === "SupplementaryGroups") {
      unit.supplementaryGroups = value.split(/\s+/).filter(Boolean);
    }
    if (key === "WorkingDirectory") unit.workingDirectory = value;
    if (key === "EnvironmentFile") unit.environmentFiles.push(value);
    if (key === "ExecStart") unit.execStart = value.split(/\s+/);
    if (key === "Environment") {
      const at = value.indexOf("=");
      unit.environment[value.slice(0, at)] = value.slice(at + 1);
    }
  }
  return unit;
}

/**
 * Parses an EnvironmentFile= file (KEY=VALUE lines, `#` comments).
 *
 * @param text The file.
 * @returns Its variables.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
  return env;
}
