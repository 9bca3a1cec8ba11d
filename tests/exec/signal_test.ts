/**
 * Signal plans: which processes are refused (pure), how the SSH script's
 * output is read (forged lines refused), and the script itself on a real
 * sshd with processes this test starts under unique names.
 */
import assert from "node:assert/strict";
import {
  type ExecResult,
  killOutcome,
  type SignalPlan,
  type SignalResult,
} from "../../src/exec/plan.ts";
import {
  parseProcessRows,
  type ProcessRow,
  refusedPids,
} from "../../src/exec/workers/_local_signal.ts";
import { parseSignalRun } from "../../src/exec/workers/_ssh_signal.ts";
import type { RawRun } from "../../src/exec/workers/_ssh_exec.ts";
import { execPlan, sshFixture } from "./_ssh_fixture.ts";
import { TEST_USER } from "../../scripts/testbed/_sshd_util.ts";
import { startSleepers } from "./_sleepers.ts";

const row = (pid: number, ppid: number, sid: number, name = "x"): ProcessRow => ({
  pid,
  ppid,
  sid,
  user: "root",
  name,
});

Deno.test("refusedPids keeps init, the gateway, its ancestors, children and session, and nothing else", () => {
  const rows = [
    row(1, 0, 1, "systemd"),
    row(50, 1, 50, "sshd"),
    row(60, 50, 60, "bash"), // the shell that started the gateway: session 60
    row(70, 60, 60, "deno"), // the launcher
    row(80, 70, 60, "deno"), // the gateway (self)
    row(90, 80, 60, "ps"), // a program it runs
    row(91, 90, 91, "child"), // which started its own session
    row(100, 1, 100, "nginx"),
    row(101, 100, 100, "nginx"),
    row(110, 60, 60, "vim"), // same session as the gateway
  ];
  const refused = refusedPids(rows, 80);
  assert.deepEqual(Object.fromEntries(refused), {
    1: "init",
    80: "gateway",
    70: "ancestor",
    60: "ancestor",
    50: "ancestor",
    90: "descendant",
    91: "descendant",
    110: "session",
  });
  assert.equal(refused.has(100) || refused.has(101), false);
  // A ppid loop (a lying ps) ends.
  assert.equal(refusedPids([row(5, 6, 5), row(6, 5, 6)], 5).get(6), "ancestor");
});

Deno.test("parseProcessRows reads ps lines, names with spaces included", () => {
  const rows = parseProcessRows(
    "    1     0     1 root     systemd\n  412     1   412 www-data nginx: worker\n garbage\n",
  );
  assert.deepEqual(rows.map((r) => [r.pid, r.ppid, r.sid, r.user, r.name]), [
    [1, 0, 1, "root", "systemd"],
    [412, 1, 412, "www-data", "nginx: worker"],
  ]);
});

Deno.test("killOutcome tells sent, gone (exited meanwhile) and refused by the kernel apart", () => {
  const p = { pid: 5, ppid: 1, user: "u", name: "n", refused: null, outcome: "matched" } as const;
  assert.equal(killOutcome(p, 0, "").outcome, "signalled");
  assert.equal(killOutcome(p, 1, "kill: (5) - No such process").outcome, "gone");
  const denied = killOutcome(p, 1, "kill: (5) - Operation not permitted\n");
  assert.deepEqual([denied.outcome, denied.error], [
    "failed",
    "kill: (5) - Operation not permitted",
  ]);
});

function raw(stdout: string, exitCode = 0): RawRun {
  const bytes = new TextEncoder().encode(stdout);
  return {
    exitCode,
    signal: null,
    stdout: bytes,
    stderr: new Uint8Array(),
    truncated: false,
    bytes: bytes.length,
  };
}

const PLAN: SignalPlan = {
  kind: "signal",
  signal: "TERM",
  name: "nginx",
  send: true,
  sudo: false,
  timeoutMs: 10_000,
  outputCapBytes: 1 << 20,
};

Deno.test("parseSignalRun reads the script's lines and refuses lines it did not write", () => {
  const ok = parseSignalRun(
    raw("M 100 1 www - nginx\nK 100 0 \nM 77 70 u ancestor sshd\n"),
    PLAN,
    "t",
  );
  assert.deepEqual(ok.processes.map((p) => [p.pid, p.refused, p.outcome, p.argv]), [
    [100, null, "signalled", ["kill", "-s", "TERM", "100"]],
    [77, "ancestor", "matched", undefined],
  ]);
  assert.equal(parseSignalRun(raw("T\n"), PLAN, "t").tooMany, true);
  for (
    const forged of [
      "K 1 0 \n", // a kill with no match before it
      "M 77 70 u ancestor sshd\nK 77 0 \n", // a kill of a refused process
      "M 100 1 www - nginx\nK 101 0 \n", // a kill of another pid
      "hello\n",
    ]
  ) {
    assert.throws(() => parseSignalRun(raw(forged), PLAN, "t"), /printed a line/, forged);
  }
  assert.throws(() => parseSignalRun(raw("", 70), PLAN, "t"), /\/proc/);
  assert.throws(() => parseSignalRun(raw("", 2), PLAN, "t"), /exit code 2/);
});

Deno.test({
  name: "the signal script on a real sshd: lists, refuses its own session, signals by name and pid",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fx = await sshFixture({ targets: () => [{ id: "web-1" }] });
    const sleepers = await startSleepers(3, { user: TEST_USER });
    try {
      const signal = async (plan: Partial<SignalPlan>) => {
        const outcome = await fx.run("web-1", { ...PLAN, ...plan } as SignalPlan);
        assert.ok(outcome.ok, JSON.stringify(outcome));
        return outcome.result as SignalResult;
      };

      await t.step("a dry run lists every process of the name and sends nothing", async () => {
        const listed = await signal({ name: sleepers.name, send: false });
        assert.deepEqual(listed.processes.map((p) => p.pid).sort(), sleepers.pids.toSorted());
        for (const p of listed.processes) {
          assert.deepEqual([p.user, p.refused, p.outcome], [TEST_USER, null, "matched"]);
          assert.deepEqual(p.argv, ["kill", "-s", "TERM", String(p.pid)]);
        }
        assert.equal(await sleepers.alive(), 3);
      });

      await t.step("the script's own shell and the SSH session above it are refused", async () => {
        // The SSH session process that runs this connection's commands (one pooled connection).
        const probe = await fx.run("web-1", execPlan([["sh", "-c", "echo $PPID"]]));
        assert.ok(probe.ok);
        const session = Number((probe.result as ExecResult).commands[0].stdout.trim());
        for (const signal_ of ["KILL", "TERM", "HUP"] as const) {
          const refused = await signal({ pid: session, name: undefined, signal: signal_ });
          assert.deepEqual(
            refused.processes.map((p) => [p.pid, p.refused, p.outcome, p.argv]),
            [[session, "ancestor", "matched", undefined]],
          );
        }
        // The connection still works.
        assert.equal((await signal({ name: sleepers.name, send: false })).processes.length, 3);
      });

      await t.step("by pid: KILL reaches exactly that process", async () => {
        const [first] = sleepers.pids;
        const sent = await signal({ pid: first, name: undefined, signal: "KILL" });
        assert.deepEqual(sent.processes.map((p) => [p.pid, p.outcome]), [[first, "signalled"]]);
        assert.equal(await sleepers.exitSignal(first), "SIGKILL");
        const gone = await signal({ pid: first, name: undefined });
        assert.deepEqual(gone.processes, []);
      });

      await t.step("by name: TERM reaches the rest", async () => {
        const sent = await signal({ name: sleepers.name });
        assert.deepEqual(sent.processes.map((p) => p.outcome), ["signalled", "signalled"]);
        for (const pid of sleepers.pids.slice(1)) {
          assert.equal(await sleepers.exitSignal(pid), "SIGTERM");
        }
      });
    } finally {
      await sleepers.stop();
      await fx.close();
    }
  },
});
