/**
 * Long outputs travel from executor workers to the host as transferred
 * UTF-8 bytes, not cloned strings: they arrive whole and identical, over the
 * real local worker and the real SSH worker against the testbed sshd.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import { ExecutorHost } from "../../src/exec/host.ts";
import { LOCAL_KIND } from "../../src/exec/local_kind.ts";
import type { ExecResult, PlanResult } from "../../src/exec/plan.ts";
import { placeTexts, TRANSFER_TEXT_MIN } from "../../src/exec/protocol.ts";
import type { WorkerKind } from "../../src/exec/worker_kind.ts";
import { execPlan, sshFixture } from "./_ssh_fixture.ts";

/** A line with one-, two-, three- and four-byte characters, repeated past the transfer size. */
const LINE = "ascii é € 😀 end\n";
const LINES = Math.ceil((3 * TRANSFER_TEXT_MIN) / LINE.length);
const TEXT = LINE.repeat(LINES);

Deno.test("placeTexts() decodes texts into their placeholders and refuses a bad path", () => {
  const result: PlanResult = {
    kind: "exec",
    commands: [{
      argv: ["x"],
      exitCode: 0,
      signal: null,
      stdout: "",
      stderr: "",
      truncated: false,
      bytes: 0,
    }],
  };
  const bytes = new Uint8Array([...new TextEncoder().encode("ok "), 0xff, 0xe2, 0x82]);
  placeTexts(result, [{ path: ["commands", 0, "stdout"], bytes }]);
  assert.equal(
    (result as ExecResult).commands[0].stdout,
    "ok \ufffd\ufffd",
    "invalid UTF-8 reads as U+FFFD",
  );
  assert.throws(() => placeTexts(result, [{ path: ["commands", 0, "stdout"], bytes }]), TypeError);
  assert.throws(() => placeTexts(result, [{ path: ["commands", 3, "stdout"], bytes }]), TypeError);
  assert.throws(() => placeTexts(result, [{ path: [], bytes }]), TypeError);
});

Deno.test("a long output of the local worker arrives whole, short ones as before", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tailops-texts-" });
  await Deno.writeTextFile(`${dir}/long.txt`, TEXT);
  const registry = await parseTargets(
    ["targets:", "  - id: local", "    type: local", "    capabilities: [system:read]"].join("\n"),
    "test.yaml",
  );
  const host = new ExecutorHost(registry, {
    kinds: [LOCAL_KIND as WorkerKind],
    context: { programs: ["cat", "uname"] },
  });
  try {
    const outcome = await host.run(
      registry.get("local")!,
      execPlan([["uname", "-s"], ["cat", "--", `${dir}/long.txt`], ["cat", "--", `${dir}/nope`]]),
    );
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const [uname, long, missing] = (outcome.result as ExecResult).commands;
    assert.equal(uname.stdout, "Linux\n");
    assert.equal(long.stdout, TEXT);
    assert.equal(long.bytes, new TextEncoder().encode(TEXT).length);
    assert.match(missing.stderr, /No such file/);
  } finally {
    host.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a long output of the SSH worker arrives whole, cut at the cap where asked",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const fx = await sshFixture({ targets: () => [{ id: "web-1" }] });
    try {
      // The text is too long for one argument: the remote side repeats the line.
      const script = `yes -- "$1" | head -n ${LINES}; yes -- "$1" | head -n ${LINES} >&2`;
      const argv = ["sh", "-c", script, "sh", LINE.slice(0, -1)];
      const whole = await fx.run("web-1", execPlan([argv]));
      assert.ok(whole.ok, JSON.stringify(whole));
      const run = (whole.result as ExecResult).commands[0];
      assert.equal(run.exitCode, 0, `${run.signal} ${run.stderr.slice(0, 200)} ${run.bytes}`);
      assert.equal(run.stdout, TEXT);
      assert.equal(run.stderr, TEXT);
      const cap = 2 * TRANSFER_TEXT_MIN + 1;
      const cut = await fx.run(
        "web-1",
        execPlan([argv], { outputCapBytes: cap }),
      );
      assert.ok(cut.ok, JSON.stringify(cut));
      const cutRun = (cut.result as ExecResult).commands[0];
      assert.equal(cutRun.truncated, true);
      const expected = new TextDecoder().decode(new TextEncoder().encode(TEXT).subarray(0, cap));
      assert.equal(cutRun.stdout, expected, "a character cut at the cap reads as U+FFFD");
    } finally {
      await fx.close();
    }
  },
});
