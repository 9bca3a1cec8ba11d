/**
 * Starts the path racer (`_path_racer.ts`) as its own process for the file
 * race tests.
 *
 * @module
 */

const RACER = new URL("./_path_racer.ts", import.meta.url).pathname;

/**
 * Starts the racer on a root laid out as `_path_racer.ts` expects.
 *
 * @param root The root.
 * @param mode `symlink` or `fifo`.
 * @param seconds Its own time limit (it also stops when stopped).
 * @returns A function that stops it (closing its stdin; SIGKILL after 10 s) and returns its swap count.
 */
export function startRacer(
  root: string,
  mode: "symlink" | "fifo",
  seconds: number,
): () => Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", RACER, root, mode, String(seconds)],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  return async () => {
    await writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Gone.
      }
    }, 10_000);
    const out = await child.output();
    clearTimeout(timer);
    return Number(new TextDecoder().decode(out.stdout).trim()) || 0;
  };
}
