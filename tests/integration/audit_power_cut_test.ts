/**
 * The durability rule through the real gateway: a mutating call never starts
 * before its `decided` record is synced. The gateway runs with the test hook
 * that keeps unsynced audit bytes in memory (`TAILOPS_TEST_AUDIT_POWER_CUT_MS`,
 * src/audit/power_cut_sink.ts), so a SIGKILL leaves the log as a power cut
 * would; the test kills it at random points during a stream of file_write
 * calls and checks every file that was written against the log.
 *
 * @module
 */
import assert from "node:assert/strict";
import { verifyAuditFile } from "../../src/audit/verify.ts";
import { connectHttp, startGateway, tempDirWith } from "./_gateway.ts";
import { ALLOW_ALL_POLICY } from "./_mcp_checks.ts";

const ROUNDS = 4;
const WRITERS = 4;
/** Calls per writer and round at most: the round ends at the kill anyway. */
const MAX_CALLS = 400;

/** The log's records; a last line torn by the kill is left out. */
async function records(file: string): Promise<Record<string, unknown>[]> {
  const lines = (await Deno.readTextFile(file)).split("\n").filter((l) => l !== "");
  const out: Record<string, unknown>[] = [];
  for (const [i, line] of lines.entries()) {
    try {
      out.push(JSON.parse(line));
    } catch (error) {
      if (i !== lines.length - 1) throw error;
    }
  }
  return out;
}

Deno.test({
  name:
    "SIGKILL at random points during a stream of file_write calls leaves a synced decided record for every file written",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const base = await tempDirWith();
    const root = `${base}/w`;
    await Deno.mkdir(root);
    const state = `${base}/state`;
    const targets = `version: 1
targets:
  - id: local
    type: local
    capabilities: [file:write]
    files: { write_roots: [${root}] }
`;
    let written = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        await using gateway = await startGateway({
          targets,
          policy: ALLOW_ALL_POLICY,
          stateDir: state,
          env: { TAILOPS_TEST_AUDIT_POWER_CUT_MS: "20" },
        });
        const clients = await Promise.all(
          Array.from({ length: WRITERS }, () => connectHttp(gateway)),
        );
        const killed = new AbortController();
        let answered = 0;
        const streams = clients.map(async (client, w) => {
          for (let i = 0; i < MAX_CALLS && !killed.signal.aborted; i++) {
            try {
              await client.callTool({
                name: "file_write",
                arguments: {
                  target: "local",
                  path: `${root}/r${round}-w${w}-${i}`,
                  content: "x\n",
                },
              }, { signal: killed.signal });
              answered++;
            } catch {
              return; // The gateway is gone.
            }
          }
        });
        // Kill at a random point once calls flow: after 3 to 40 answers.
        const killAfter = 3 + Math.floor(Math.random() * 38);
        for (let i = 0; i < 2000 && answered < killAfter; i++) {
          await new Promise((r) => setTimeout(r, 5));
        }
        Deno.kill(gateway.pid, "SIGKILL");
        killed.abort();
        await gateway.stop();
        await Promise.allSettled(streams);
        await Promise.allSettled(clients.map((c) => c.close()));
      }
      const logs = [...Deno.readDirSync(state)]
        .filter((e) => /^audit(-\d+)?\.jsonl$/.test(e.name))
        .map((e) => `${state}/${e.name}`);
      const decided = new Set<string>();
      for (const log of logs) {
        for (const r of await records(log)) {
          const path = (r.args as { path?: string } | undefined)?.path;
          if (r.event === "decided" && r.tool === "file_write" && path) decided.add(path);
        }
      }
      // A kill mid-write can leave file_write's temporary file (.NAME.tailops-XXXX)
      // behind: that is a write to NAME too and needs NAME's decided record.
      const files = [...Deno.readDirSync(root)].filter((e) => e.isFile)
        .map((e) => /^\.(.+)\.tailops-[A-Za-z0-9]+$/.exec(e.name)?.[1] ?? e.name);
      written = files.length;
      assert.ok(written > 0, "some calls ran before the kills");
      const missing = files.filter((name) => !decided.has(`${root}/${name}`));
      assert.deepEqual(missing, [], `files written without a synced decided record`);
      // The restarts set torn tails aside; the chain still verifies.
      for (const log of logs) {
        const report = await verifyAuditFile(log);
        assert.ok(report.ok, `${log}: ${JSON.stringify(report)}`);
      }
    } finally {
      await Deno.remove(base, { recursive: true });
    }
    console.log(`${written} files written over ${ROUNDS} kills, each with a synced decided record`);
  },
});
