/**
 * A remote side without GNU tools for SSH tests: a directory holding a
 * symlink for every busybox applet, and the sshd line that makes it the only
 * `PATH` of sessions. The login shell stays `/bin/sh`, but every program the
 * remote scripts call (`find`, `stat`, `readlink`, `head`, ...) is busybox's,
 * as on Alpine or an embedded host: `find` has no `-printf`.
 *
 * @module
 */

/** Where busybox-static installs. */
export const BUSYBOX = "/bin/busybox";

/**
 * Fills `dir` with symlinks to busybox, one per applet.
 *
 * @param dir An existing directory (readable by the test user).
 * @returns The sshd_config line that sets sessions' `PATH` to `dir` alone.
 * @throws {Error} When busybox cannot install its applet links.
 */
export async function busyboxPath(dir: string): Promise<string> {
  const out = await new Deno.Command(BUSYBOX, {
    args: ["--install", "-s", dir],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const find = await Deno.realPath(`${dir}/find`).catch(() => "");
  if (!out.success || find !== await Deno.realPath(BUSYBOX)) {
    throw new Error(
      `Cannot install busybox applets in ${
        JSON.stringify(dir)
      }: expected a find link to ${BUSYBOX}, found ${JSON.stringify(find)} (${
        new TextDecoder().decode(out.stderr).trim()
      })`,
    );
  }
  return `SetEnv PATH=${dir}`;
}
