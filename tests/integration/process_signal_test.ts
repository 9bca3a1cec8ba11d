/**
 * `process_signal` through the real gateway (SDK client over Streamable
 * HTTP), on a real sshd target and on the gateway host, with processes this
 * test starts under a unique name: signals by pid and by name, dry run,
 * policy limits on names, and attacks on the pid, the name and the
 * processes that run the call.
 */
import assert from "node:assert/strict";
import { readAudit } from "./_gateway.ts";
import { callFleet, type FleetCall, OBSERVE_EVERYTHING, startFleet } from "./_fleet.ts";
import { startSleepers } from "../exec/_sleepers.ts";
import { TEST_USER } from "../../scripts/testbed/_sshd_util.ts";

const NAME = "tosig-[0-9a-f]{8}";

interface Proc {
  pid: number;
  name: string;
  refused: string | null;
  outcome: string;
  argv?: string[];
}

const processes = (out: FleetCall, index = 0) =>
  (out.results[index].data?.processes ?? []) as Proc[];

Deno.test({
  name: "process_signal signals only what it names, never the processes that run the call",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using fleet = await startFleet({
      instances: 1,
      targets: () => [
        { id: "web-01", instance: 0, tags: ["sig"], capabilities: ["process:control"] },
        { id: "strict-01", instance: 0, tags: ["strict"], capabilities: ["process:control"] },
      ],
      extraTargets: [
        "  - id: gw",
        "    type: local",
        "    capabilities: [process:control]",
        "    tags: [sig]",
      ],
      policy: [
        OBSERVE_EVERYTHING[0],
        "rate_limits:",
        "  control: { per_minute: 6000 }",
        ...OBSERVE_EVERYTHING.slice(1),
        "  - id: test-processes",
        "    effect: allow",
        "    operations: [process_signal]",
        '    targets: ["tag:sig"]',
        "    params:",
        // deno: only so that a dry run can show the gateway refusing itself (never sent).
        `      name: { pattern: "${NAME}|deno", optional: true }`,
        "  - id: strict-names",
        "    effect: allow",
        "    operations: [process_signal]",
        '    targets: ["tag:strict"]',
        "    params:",
        `      name: { pattern: "${NAME}" }`,
        "",
      ].join("\n"),
    });
    const call = (args: Record<string, unknown>) => callFleet(fleet, "process_signal", args);
    const remote = await startSleepers(3, { user: TEST_USER });
    const local = await startSleepers(3);
    try {
      await t.step(
        "dry run lists the matches and the exact kill argv, and sends nothing",
        async () => {
          for (const [target, sleepers] of [["web-01", remote], ["gw", local]] as const) {
            const out = await call({ target, name: sleepers.name, dry_run: true });
            assert.equal(out.results[0].status, "planned", out.text);
            const check = (out.results[0].plan as Record<string, unknown>).check as {
              matched: Proc[];
              would_run: string[][];
            };
            assert.deepEqual(check.matched.map((p) => p.pid).sort(), sleepers.pids.toSorted());
            const expected = (pid: number) =>
              target === "gw"
                ? ["kill", "-s", "TERM", "--", String(pid)]
                : ["kill", "-s", "TERM", String(pid)];
            assert.deepEqual(
              check.would_run.toSorted(),
              sleepers.pids.toSorted().map(expected).toSorted(),
            );
            assert.equal(await sleepers.alive(), 3);
          }
        },
      );

      await t.step(
        "by pid, KILL and HUP reach exactly that process, on ssh and local",
        async () => {
          for (const [target, sleepers] of [["web-01", remote], ["gw", local]] as const) {
            const [pid] = sleepers.pids;
            const out = await call({ target, pid, signal: "KILL" });
            assert.equal(out.results[0].status, "ok", out.text);
            assert.deepEqual(processes(out).map((p) => [p.pid, p.outcome]), [[pid, "signalled"]]);
            assert.equal(await sleepers.exitSignal(pid), "SIGKILL");
            const hup = await call({ target, pid: sleepers.pids[1], signal: "HUP" });
            assert.equal(hup.results[0].data?.signalled, 1, hup.text);
            assert.equal(await sleepers.exitSignal(sleepers.pids[1]), "SIGHUP");
          }
        },
      );

      await t.step(
        "a pid that exited between dry run and run is reported, not guessed",
        async () => {
          for (const [target, sleepers] of [["web-01", remote], ["gw", local]] as const) {
            const pid = sleepers.pids[2];
            const dry = await call({ target, pid, dry_run: true });
            assert.equal(dry.results[0].status, "planned", dry.text);
            Deno.kill(pid, "SIGKILL");
            await sleepers.exitSignal(pid);
            const out = await call({ target, pid });
            assert.deepEqual(
              [out.results[0].status, out.results[0].error?.code],
              ["failed", "not_found"],
              out.text,
            );
            // By name, nothing matches any more: nothing sent, said plainly.
            const none = await call({ target, name: sleepers.name });
            assert.deepEqual([none.results[0].status, none.results[0].data?.signalled], ["ok", 0]);
          }
        },
      );

      await t.step("by name, TERM reaches every process of that name and no other", async () => {
        const more = await startSleepers(2, { user: TEST_USER });
        const other = await startSleepers(1, { user: TEST_USER });
        try {
          const out = await call({ target: "web-01", name: more.name });
          assert.deepEqual(processes(out).map((p) => p.outcome), ["signalled", "signalled"]);
          for (const pid of more.pids) assert.equal(await more.exitSignal(pid), "SIGTERM");
          assert.equal(await other.alive(), 1);
        } finally {
          await more.stop();
          await other.stop();
        }
      });

      await t.step(
        "pids and names that are not one plain process are refused before the gate",
        async () => {
          const before = (await readAudit(fleet.gateway.auditFile)).filter((r) =>
            r.event === "decided"
          );
          const bad: [Record<string, unknown>, RegExp][] = [
            [{ pid: -1 }, /process groups/],
            [{ pid: -12345 }, /process groups/],
            [{ pid: 0 }, /process groups/],
            [{ pid: 1 }, /init/],
            [{ pid: 4_194_305 }, /at most/],
            [{ pid: 2 ** 31 }, /at most/],
            [{ pid: 1e20 }, /pid/],
            [{ pid: 1.5 }, /pid/],
            [{ pid: "123" }, /pid/],
            [{ pid: "1; reboot" }, /pid/],
            [{ name: "*" }, /Invalid name/],
            [{ name: "sl*ep" }, /Invalid name/],
            [{ name: "sle?p" }, /Invalid name/],
            [{ name: "[s]leep" }, /Invalid name/],
            [{ name: "^sleep$" }, /Invalid name/],
            [{ name: "sleep|deno" }, /Invalid name/],
            [{ name: "sleep\n" }, /Invalid name/],
            [{ name: "sleep\nK 1 0" }, /Invalid name/],
            [{ name: "sle\0ep" }, /Invalid name/],
            [{ name: "-9" }, /Invalid name/],
            [{ name: "--help" }, /Invalid name/],
            [{ name: "a b" }, /Invalid name/],
            [{ name: "$(reboot)" }, /Invalid name/],
            [{ name: "x".repeat(16) }, /Invalid name/],
            [{ name: "" }, /Invalid name/],
            [{ pid: 1234, name: "x" }, /either pid or name/],
            [{}, /either pid or name/],
            [{ pid: 1234, signal: "STOP" }, /signal/],
            [{ pid: 1234, signal: "-9" }, /signal/],
          ];
          for (const [args, message] of bad) {
            const out = await call({ targets: "tag:sig", ...args });
            assert.equal(out.isError, true, JSON.stringify(args));
            assert.match(out.text, message, `${JSON.stringify(args)}: ${out.text}`);
            assert.doesNotMatch(out.text, /\n\s+at /, "no stack trace");
          }
          const after = (await readAudit(fleet.gateway.auditFile)).filter((r) =>
            r.event === "decided"
          );
          assert.equal(after.length, before.length, "nothing was decided, let alone run");
        },
      );

      await t.step(
        "the gateway itself: its pid is refused, a dry run by its name shows it refused",
        async () => {
          const out = await call({ target: "gw", pid: fleet.gateway.pid, signal: "KILL" });
          assert.deepEqual(
            [out.results[0].status, out.results[0].error?.code],
            ["failed", "forbidden"],
            out.text,
          );
          assert.match(out.results[0].error!.message, /gateway/);
          // Dry run only: by name, deno would also reach other deno processes on this machine.
          const dry = await call({ target: "gw", name: "deno", dry_run: true });
          const check = (dry.results[0].plan as Record<string, unknown>).check as {
            matched: Proc[];
          };
          const self = check.matched.find((p) => p.pid === fleet.gateway.pid);
          assert.equal(self?.refused, "gateway", JSON.stringify(check.matched));
          // Still alive and answering.
          const again = await call({ target: "gw", name: local.name, dry_run: true });
          assert.equal(again.results[0].status, "planned");
        },
      );

      await t.step("the SSH session that runs the call is refused", async () => {
        // The session's sshd processes are the ancestors of the remote script: find them
        // through the dry run of a name they carry would list every sshd on this machine;
        // instead ask each candidate pid (the gateway's connections to this sshd).
        const sshdPids = await sessionCandidates(fleet.testbed.user);
        assert.ok(sshdPids.length > 0, "the gateway has an SSH session");
        let refused = 0;
        for (const pid of sshdPids) {
          const out = await call({ target: "web-01", pid, dry_run: true });
          const check = (out.results[0].plan as Record<string, unknown>).check as {
            matched: Proc[];
          };
          if (check.matched[0]?.refused === "ancestor") {
            refused++;
            const run = await call({ target: "web-01", pid, signal: "KILL" });
            assert.deepEqual([run.results[0].status, run.results[0].error?.code], [
              "failed",
              "forbidden",
            ], run.text);
          }
        }
        assert.ok(refused >= 1, "the session running the call was found and refused");
        const still = await call({ target: "web-01", name: remote.name, dry_run: true });
        assert.equal(still.results[0].status, "planned", still.text);
      });

      await t.step("a policy that limits names refuses other names, and calls by pid", async () => {
        const other = await call({ target: "web-01", name: "sshd" });
        assert.deepEqual(
          [other.results[0].status, other.results[0].error?.code],
          ["denied", "param_constraint"],
        );
        const byPid = await call({ target: "strict-01", pid: 4242 });
        assert.equal(byPid.results[0].status, "denied", byPid.text);
        const byName = await call({ target: "strict-01", name: remote.name, dry_run: true });
        assert.equal(byName.results[0].status, "planned", byName.text);
      });
    } finally {
      await remote.stop();
      await local.stop();
    }
  },
});

/** Pids of sshd processes serving `user` (the gateway's sessions among them). */
async function sessionCandidates(user: string): Promise<number[]> {
  const out = await new Deno.Command("ps", {
    args: ["-e", "-o", "pid=,args="],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((line) => new RegExp(`sshd: ${user}(@notty| \\[priv\\])`).test(line))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}
