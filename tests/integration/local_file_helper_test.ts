/**
 * The local worker's file helper through the real gateway (`deno run
 * -P=gateway`, SDK client over Streamable HTTP): many reads, listings and
 * writes are served by one long-lived helper process, and the helper does
 * not outlive the gateway, whether it stops or is killed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, startGateway } from "./_gateway.ts";
import { ALLOW_ALL_POLICY, call } from "./_mcp_checks.ts";

/** The perl children of `pid` (the file helper; the gateway runs no other perl). */
async function helpersOf(pid: number): Promise<number[]> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "pid=,comm=", "--ppid", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([, comm]) => comm === "perl")
    .map(([child]) => Number(child));
}

/** Whether `pid` still runs (a zombie nobody reaped yet counts as ended). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Waits (bounded) until `pid` is gone; returns whether it went. */
async function gone(pid: number, limitMs = 60_000): Promise<boolean> {
  const stop = Date.now() + limitMs;
  while (Date.now() < stop) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

for (const ending of ["stopped", "killed"] as const) {
  Deno.test({
    name:
      `one file helper serves 60 local reads, listings and writes, and ends when the gateway is ${ending}`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const root = await Deno.makeTempDir({ prefix: "tailops-helper-it-" });
      await Deno.writeTextFile(`${root}/hello.txt`, "hello\n");
      const targets = [
        "version: 1",
        "targets:",
        "  - id: local",
        "    type: local",
        "    capabilities: [file:read, file:write]",
        "    files:",
        `      roots: [${root}]`,
        `      write_roots: [${root}]`,
      ].join("\n");
      let helper = 0;
      try {
        await using gateway = await startGateway({ targets, policy: ALLOW_ALL_POLICY });
        const client = await connectHttp(gateway);
        try {
          const first = await call(client, "list_directory", { target: "local", path: root });
          assert.ok(!first.isError, first.text);
          const helpers = await helpersOf(gateway.pid);
          assert.equal(helpers.length, 1, `one helper after the first call: ${helpers}`);
          helper = helpers[0];
          for (let i = 0; i < 20; i++) {
            const wrote = await call(client, "file_write", {
              target: "local",
              path: `${root}/out-${i % 3}.txt`,
              content: `round ${i}\n`,
            });
            assert.equal(wrote.results[0]?.data?.changed, true, wrote.text);
            const read = await call(client, "read_file", {
              target: "local",
              path: `${root}/out-${i % 3}.txt`,
            });
            assert.equal(read.results[0]?.data?.content, `round ${i}\n`, read.text);
            const listed = await call(client, "list_directory", { target: "local", path: root });
            assert.ok(!listed.isError, listed.text);
          }
          assert.deepEqual(await helpersOf(gateway.pid), [helper], "the same helper served all");
        } finally {
          await client.close();
        }
        if (ending === "killed") {
          Deno.kill(gateway.pid, "SIGKILL");
        } else {
          await gateway.stop();
        }
        // Its stdin closes with the gateway: it reads EOF and exits (no orphan after a crash).
        assert.ok(await gone(helper), `helper ${helper} outlived the gateway`);
      } finally {
        if (helper && alive(helper)) Deno.kill(helper, "SIGKILL");
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
