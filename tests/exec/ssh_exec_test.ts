import assert from "node:assert/strict";
import type { ExecResult } from "../../src/exec/plan.ts";
import { execPlan, sshFixture } from "./_ssh_fixture.ts";

const NASTY = [
  "with space",
  "it's",
  '"double"',
  "$(id)",
  "`id`",
  "a;b|c&&d",
  "line\nbreak",
  "$HOME",
  "*",
  "-n",
  "",
];

Deno.test({
  name: "ssh executor runs exec plans on a real sshd",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fx = await sshFixture({
      targets: () => [{ id: "web-1", extra: ["    constraints: { concurrency: 16 }"] }],
    });
    try {
      const one = async (plan: ReturnType<typeof execPlan>) => {
        const outcome = await fx.run("web-1", plan);
        assert.ok(outcome.ok, JSON.stringify(outcome));
        return (outcome.result as ExecResult).commands;
      };

      await t.step("an exec plan reports exit code, stdout, stderr and bytes", async () => {
        const [cmd] = await one(execPlan([["sh", "-c", "echo hello; echo oops >&2; exit 3"]]));
        assert.deepEqual(
          {
            exitCode: cmd.exitCode,
            stdout: cmd.stdout,
            stderr: cmd.stderr,
            signal: cmd.signal,
            bytes: cmd.bytes,
          },
          { exitCode: 3, stdout: "hello\n", stderr: "oops\n", signal: null, bytes: 11 },
        );
      });

      await t.step(
        "arguments with spaces, quotes, $(), ; and newlines arrive verbatim",
        async () => {
          const [cmd] = await one(execPlan([["printf", "%s\\0", ...NASTY]]));
          assert.deepEqual(cmd.stdout.split("\0").slice(0, -1), NASTY);
          assert.deepEqual(cmd.argv, ["printf", "%s\\0", ...NASTY]);
        },
      );

      await t.step("mode all runs every command in order", async () => {
        const cmds = await one(execPlan([["echo", "a"], ["false"], ["echo", "b"]]));
        assert.deepEqual(cmds.map((c) => [c.stdout, c.exitCode]), [["a\n", 0], ["", 1], [
          "b\n",
          0,
        ]]);
      });

      await t.step("mode all runs several commands in one remote shell (one channel)", async () => {
        // Each command's parent is the one shell that runs the sequence, not sshd.
        const parent = ["sh", "-c", "echo $PPID $(cat /proc/$PPID/comm)"];
        const cmds = await one(execPlan([parent, parent]));
        assert.equal(cmds[0].stdout, cmds[1].stdout);
        assert.doesNotMatch(cmds[0].stdout, /sshd/);
      });

      await t.step("a plan without input ends the command's stdin at once", async () => {
        // cat and `read` wait for input: they end only because the channel's stdin is closed.
        // (Without that, each would run into the plan's 10 s timeout.)
        const [alone] = await one(execPlan([["cat"]]));
        assert.deepEqual([alone.exitCode, alone.stdout], [0, ""]);
        const cmds = await one(
          execPlan([["sh", "-c", "read line; echo read=$?"], ["cat"], ["echo", "after"]]),
        );
        assert.deepEqual(cmds.map((c) => [c.exitCode, c.stdout]), [[0, "read=1\n"], [0, ""], [
          0,
          "after\n",
        ]]);
      });

      await t.step("first_available runs the first installed program in one exec", async () => {
        const cmds = await one(
          execPlan([["tailops-no-such-program", "x"], ["printf", "%s", "second"], [
            "echo",
            "third",
          ]], {
            mode: "first_available",
          }),
        );
        assert.equal(cmds.length, 1);
        assert.deepEqual(cmds[0].argv, ["printf", "%s", "second"]);
        assert.equal(cmds[0].stdout, "second");
        assert.equal(cmds[0].stderr, "");
      });

      await t.step(
        "first_available with nothing installed fails with program_missing",
        async () => {
          const outcome = await fx.run(
            "web-1",
            execPlan([["tailops-nope-1"], ["tailops-nope-2"]], { mode: "first_available" }),
          );
          assert.ok(!outcome.ok);
          assert.equal(outcome.error.code, "program_missing");
          assert.match(outcome.error.message, /tailops-nope-1, tailops-nope-2/);
        },
      );

      await t.step("a missing program fails with program_missing naming it", async () => {
        const outcome = await fx.run("web-1", execPlan([["tailops-no-such-program", "--version"]]));
        assert.ok(!outcome.ok);
        assert.equal(outcome.error.code, "program_missing");
        assert.match(outcome.error.message, /"tailops-no-such-program"/);
      });

      await t.step(
        "sudo plans are prefixed with sudo -n -- and never wait for a password",
        async () => {
          const outcome = await fx.run("web-1", execPlan([["id"]], { sudo: true }));
          assert.ok(!outcome.ok);
          // The test user has no sudo rule: where sudo is installed, `sudo -n`
          // refuses at once; where it is not, the program is missing.
          const installed = await Deno.stat("/usr/bin/sudo").then(() => true, () => false);
          assert.equal(outcome.error.code, installed ? "forbidden" : "program_missing");
          assert.match(outcome.error.message, /sudo/);
        },
      );

      await t.step("a signal-killed command reports the signal and no exit code", async () => {
        const [cmd] = await one(execPlan([["sh", "-c", "kill -TERM $$"]]));
        assert.equal(cmd.exitCode, null);
        assert.equal(cmd.signal, "SIGTERM");
      });

      await t.step("a command past its timeout is stopped and reported as timeout", async () => {
        const started = performance.now();
        const outcome = await fx.run("web-1", execPlan([["sleep", "30"]], { timeoutMs: 500 }));
        assert.ok(!outcome.ok);
        assert.equal(outcome.error.code, "timeout");
        assert.ok(
          performance.now() - started < 20_000,
          "not hung (the code says which deadline ended it)",
        );
        const after = await one(execPlan([["echo", "still fine"]]));
        assert.equal(after[0].stdout, "still fine\n");
      });

      await t.step(
        "50 MB of output is cut at the cap and counted; memory stays bounded",
        async () => {
          const big = (bytes: number) =>
            execPlan([["head", "-c", String(bytes), "/dev/zero"]], {
              outputCapBytes: 65536,
              timeoutMs: 60_000,
            });
          const [cmd] = await one(big(52428800));
          assert.equal(cmd.exitCode, 0);
          assert.equal(cmd.truncated, true);
          assert.equal(cmd.bytes, 52428800);
          assert.equal(cmd.stdout.length, 65536);
          // Once the first big transfer has sized the heaps, four times as much must not grow RSS in step.
          const before = Deno.memoryUsage().rss;
          const [bigger] = await one(big(4 * 52428800));
          const grown = Deno.memoryUsage().rss - before;
          assert.equal(bigger.bytes, 4 * 52428800);
          assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${grown} bytes while 200 MB streamed`);
        },
      );

      await t.step("an exec on a pooled connection takes a few milliseconds", async () => {
        const times: number[] = [];
        for (let i = 0; i < 50; i++) {
          const started = performance.now();
          await one(execPlan([["true"]]));
          times.push(performance.now() - started);
        }
        times.sort((a, b) => a - b);
        const p50 = times[25];
        console.log(
          `pooled exec through ExecutorHost: p50 ${p50.toFixed(2)} ms, p90 ${
            times[45].toFixed(2)
          } ms`,
        );
        // Nagle's 40 ms delay would hold back every exec, the fastest too; the
        // fastest of 50 stays below it however loaded the machine is.
        assert.ok(times[0] < 40, `fastest ${times[0]} ms: Nagle may be on`);
      });
    } finally {
      await fx.close();
    }
  },
});
