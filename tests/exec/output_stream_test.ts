/**
 * Output sent while a command runs, through the real executor host and the
 * real local worker: only when the run asks, before the result, never more
 * than the result keeps (the output cap), and bounded per message.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import { ExecutorHost } from "../../src/exec/host.ts";
import { LOCAL_KIND } from "../../src/exec/local_kind.ts";
import type { ExecPlan, ExecResult } from "../../src/exec/plan.ts";
import { OUTPUT_PENDING_MAX, type OutputChunk } from "../../src/exec/protocol.ts";
import type { WorkerKind } from "../../src/exec/worker_kind.ts";

async function localHost() {
  const registry = await parseTargets(
    [
      "version: 1",
      "targets:",
      "  - id: local",
      "    type: local",
      "    capabilities: [system:read]",
    ].join("\n"),
    "test.yaml",
  );
  const host = new ExecutorHost(registry, {
    kinds: [LOCAL_KIND as WorkerKind],
    context: { programs: ["seq", "head", "cat"] },
  });
  return { host, target: registry.targets[0] };
}

function exec(commands: string[][], outputCapBytes = 1024 * 1024): ExecPlan {
  return { kind: "exec", commands, mode: "all", sudo: false, timeoutMs: 20_000, outputCapBytes };
}

const joined = (chunks: OutputChunk[], stream: OutputChunk["stream"]) =>
  new TextDecoder().decode(
    new Uint8Array(chunks.filter((c) => c.stream === stream).flatMap((c) => [...c.bytes])),
  );

Deno.test("a local run that asks for its output gets it in chunks before the result, within the cap", async (t) => {
  const { host, target } = await localHost();
  try {
    await t.step("streamed: the chunks add up to the result's stdout", async () => {
      const chunks: OutputChunk[] = [];
      let resultSeen = false;
      const outcome = await host.run(target, exec([["seq", "1", "2000"]]), {
        onOutput: (chunk) => {
          assert.ok(!resultSeen, "output after the result");
          chunks.push(chunk);
        },
      });
      resultSeen = true;
      assert.ok(outcome.ok);
      const stdout = (outcome.result as ExecResult).commands[0].stdout;
      assert.equal(joined(chunks, "stdout"), stdout);
      assert.ok(chunks.every((c) => c.bytes.length <= OUTPUT_PENDING_MAX));
    });
    await t.step("the output cap bounds the stream as it bounds the result", async () => {
      const chunks: OutputChunk[] = [];
      const outcome = await host.run(target, exec([["seq", "1", "100000"]], 1024), {
        onOutput: (chunk) => chunks.push(chunk),
      });
      assert.ok(outcome.ok);
      const command = (outcome.result as ExecResult).commands[0];
      assert.equal(command.truncated, true);
      assert.equal(joined(chunks, "stdout"), command.stdout);
      assert.ok(joined(chunks, "stdout").length <= 1024);
    });
    await t.step(
      "a fast writer past the pending bound is counted as skipped, not held",
      async () => {
        const chunks: OutputChunk[] = [];
        const outcome = await host.run(
          target,
          exec([["head", "-c", String(4 * 1024 * 1024), "/dev/zero"]], 16 * 1024 * 1024),
          { onOutput: (chunk) => chunks.push(chunk) },
        );
        assert.ok(outcome.ok);
        const sent = chunks.reduce((sum, c) => sum + c.bytes.length, 0);
        const skipped = chunks.reduce((sum, c) => sum + (c.skipped ?? 0), 0);
        assert.equal(sent + skipped, 4 * 1024 * 1024);
        assert.ok(chunks.every((c) => c.bytes.length <= OUTPUT_PENDING_MAX));
      },
    );
  } finally {
    host.close();
  }
});
