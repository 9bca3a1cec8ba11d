/**
 * A racer for file-root tests, run as its own process: it swaps a directory
 * component inside a root (`ROOT/d`) and the final name in it
 * (`ROOT/d/marker.txt`) between the real thing and a symlink to a copy
 * outside the roots (or a FIFO), as fast as renames go, until its stdin
 * closes or the time limit passes.
 *
 * `deno run --allow-read --allow-write _path_racer.ts ROOT MODE SECONDS`
 * where MODE is `symlink` (both swaps lead outside) or `fifo` (the final name
 * becomes a FIFO nobody writes to). Prints the number of swaps on exit.
 *
 * Layout it expects: `ROOT/d/` (real dir), `ROOT/.d-swap` (symlink to the
 * outside dir), `ROOT/d/marker.txt` (inside file), `ROOT/d/.m-swap` (symlink
 * to an outside file, or a FIFO).
 *
 * @module
 */
const [root, mode, seconds] = Deno.args;
const deadline = Date.now() + Number(seconds) * 1000;
let stop = false;
// The test closes our stdin to stop us early.
(async () => {
  for await (const _ of Deno.stdin.readable) {
    // Nothing is ever sent; wait for EOF.
  }
  stop = true;
})();

const d = `${root}/d`;
let swaps = 0;
function swap(path: string, other: string): void {
  try {
    Deno.renameSync(path, `${path}.real`);
    Deno.renameSync(other, path);
    Deno.renameSync(path, other);
    Deno.renameSync(`${path}.real`, path);
    swaps++;
  } catch {
    // A half-finished swap is repaired below.
    try {
      Deno.lstatSync(path);
    } catch {
      try {
        Deno.renameSync(`${path}.real`, path);
      } catch {
        // Nothing to repair.
      }
    }
  }
}

while (!stop && Date.now() < deadline) {
  for (let i = 0; i < 50; i++) {
    if (mode === "symlink") swap(d, `${root}/.d-swap`);
    swap(`${d}/marker.txt`, `${d}/.m-swap`);
  }
  // Let the stdin reader see EOF.
  await new Promise((resolve) => setTimeout(resolve, 0));
}
console.log(swaps);
Deno.exit(0);
