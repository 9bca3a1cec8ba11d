/**
 * Boots an unpacked root filesystem with systemd-nspawn (systemd as the
 * container's PID 1, host network so loopback clients reach it; no machined
 * or D-Bus on the host, so it registers nothing and keeps our cgroup), and
 * runs commands inside it with nsenter.
 *
 * @module
 */

/** Where Debian's systemd-container puts it. */
export const NSPAWN = "/usr/bin/systemd-nspawn";

/** The output of a command run inside the booted container. */
export interface InsideRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A booted container. */
export interface Booted extends AsyncDisposable {
  /** Whether systemd-nspawn has exited. */
  exited(): boolean;
  /** The console so far, escape sequences removed. */
  console(): string;
  /** Runs argv in every namespace of the container's init. */
  inside(argv: string[]): Promise<InsideRun>;
  /** SIGTERM to nspawn (a clean shutdown), SIGKILL after 60 s; waits for it. */
  shutdown(): Promise<void>;
}

/** @returns Why the boot tests cannot run here, or `undefined`. */
export function nspawnSkipReason(): string | undefined {
  try {
    Deno.statSync(NSPAWN);
    return undefined;
  } catch {
    return "no systemd-nspawn (apt-get install systemd-container)";
  }
}

async function childrenOf(pid: number): Promise<number[]> {
  const text = await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`).catch(() => "");
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

/**
 * Boots `dir`. Call `shutdown()` (or dispose) when done.
 *
 * @param dir The root filesystem directory.
 * @returns The booted container.
 */
export function boot(dir: string): Booted {
  const nspawn = new Deno.Command(NSPAWN, {
    args: ["--register=no", "--keep-unit", "--quiet", "-D", dir, "--boot"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeTo(new WritableStream({ write: (c) => void (output += decoder.decode(c)) }));
  const drained = Promise.all([drain(nspawn.stdout), drain(nspawn.stderr)]);
  let exited = false;
  nspawn.status.then(() => exited = true);
  let down: Promise<void> | undefined;
  const shutdown = () =>
    down ??= (async () => {
      try {
        nspawn.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => {
        try {
          nspawn.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, 60_000);
      await nspawn.status;
      clearTimeout(timer);
      await drained.catch(() => {});
    })();
  return {
    exited: () => exited,
    console: () => output.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), ""),
    async inside(argv) {
      const init = (await childrenOf(nspawn.pid))[0];
      if (!init) throw new Error(`no container init:\n${output}`);
      const out = await new Deno.Command("nsenter", {
        args: ["-t", String(init), "-a", "--", ...argv],
        stdin: "null",
      }).output();
      return {
        code: out.code,
        stdout: decoder.decode(out.stdout),
        stderr: decoder.decode(out.stderr),
      };
    },
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
