import assert from "node:assert/strict";
import { journalLogs, parseJournal } from "../../src/ops/logs.ts";
import { OperationError } from "../../src/ops/operation.ts";
import { sinceSchema, toJournalSince } from "../../src/ops/_host_schemas.ts";
import { asExec, cmd, exec, has, localTarget, runPlan } from "./_host_helpers.ts";

const BASE = ["journalctl", "--no-pager", "--quiet", "-o", "short-iso"];

// systemd 252 prints "+00:00"; systemd 245 (Ubuntu 20.04) "+0000". Line 4 continues line 3.
const JOURNAL = `-- Boot 3f1c2b9a8e7d4c6b --
2024-05-06T10:15:01+00:00 web-1 systemd[1]: Started nginx.service - A high performance web server.
2024-05-06T10:15:02+0000 web-1 kernel: EXT4-fs (sda2): re-mounted. Quota mode: none.
2024-05-06T10:16:40+02:00 web-1 python3[4242]: Traceback (most recent call last):
    File "/srv/app.py", line 3, in <module>
2024-05-06T10:17:00.123456+00:00 web-1 CRON[5120]: (root) CMD (run-parts /etc/cron.hourly)
`;

Deno.test("journal_logs plans journalctl with --opt=value arguments only", () => {
  const target = localTarget();
  const plan = (args: unknown) => asExec(journalLogs.plan(journalLogs.input.parse(args), target));
  assert.deepEqual(plan({}).commands, [[...BASE, "--lines=100"]]);
  assert.deepEqual(
    plan({ unit: "nginx.service", lines: 20, since: "15m", priority: "err" }).commands,
    [[...BASE, "--lines=20", "--unit=nginx.service", "--since=-15min", "--priority=err"]],
  );
  assert.deepEqual(
    plan({ since: "2024-05-01T12:00:00Z" }).commands[0].at(-1),
    "--since=2024-05-01 12:00:00 UTC",
  );
  assert.equal(plan({}).sudo, false);
});

Deno.test("journal_logs validates lines, unit, since and priority", () => {
  const bad = [
    { lines: 0 },
    { lines: 5001 },
    { lines: "10" },
    { unit: "nginx; rm -rf /" },
    { unit: "-fooflag" },
    { since: "yesterday" },
    { since: "15 minutes" },
    { since: "-15m" },
    { since: "2024-13-01" },
    { since: "2024-02-30" },
    { since: "2024-05-01T25:00" },
    { since: "2024-05-01T12:00:00+02:00" },
    { since: "$(reboot)" },
    { priority: "panic" },
    { grep: "error" },
  ];
  for (const args of bad) {
    assert.equal(journalLogs.input.safeParse(args).success, false, JSON.stringify(args));
  }
  assert.equal(journalLogs.paramNames.includes("lines"), true);
});

Deno.test("toJournalSince() writes what journalctl 252 accepts", () => {
  const cases: [string, string][] = [
    ["30s", "-30s"],
    ["15m", "-15min"],
    ["2h", "-2h"],
    ["1d", "-1d"],
    ["1w", "-1w"],
    ["2024-05-01", "2024-05-01"],
    ["2024-05-01T12:00", "2024-05-01 12:00"],
    ["2024-05-01 12:00:00", "2024-05-01 12:00:00"],
    ["2024-05-01T12:00:00Z", "2024-05-01 12:00:00 UTC"],
  ];
  for (const [since, expected] of cases) {
    assert.equal(sinceSchema.safeParse(since).success, true, since);
    assert.equal(toJournalSince(since), expected);
  }
  assert.throws(() => toJournalSince("bogus"), RangeError);
});

Deno.test({
  name: "toJournalSince() values are accepted by this machine's journalctl",
  ignore: !has("journalctl"),
  fn: async () => {
    for (const since of ["15m", "2024-05-01", "2024-05-01T12:00:00Z", "2024-05-01T12:00"]) {
      const out = await new Deno.Command("journalctl", {
        args: ["--no-pager", "--quiet", "--lines=1", `--since=${toJournalSince(since)}`],
        clearEnv: true,
      }).output();
      assert.doesNotMatch(new TextDecoder().decode(out.stderr), /Failed to parse/, since);
    }
  },
});

Deno.test("parseJournal() reads entries, pids, offsets and continuation lines", () => {
  const entries = parseJournal(JOURNAL);
  assert.equal(entries.length, 4);
  assert.deepEqual(entries[0], {
    time: "2024-05-06T10:15:01+00:00",
    host: "web-1",
    identifier: "systemd",
    pid: 1,
    message: "Started nginx.service - A high performance web server.",
  });
  assert.equal(entries[1].identifier, "kernel");
  assert.equal(entries[1].pid, null);
  assert.equal(
    entries[2].message,
    'Traceback (most recent call last):\nFile "/srv/app.py", line 3, in <module>',
  );
  assert.equal(entries[3].message, "(root) CMD (run-parts /etc/cron.hourly)");
  assert.deepEqual(parseJournal("-- No entries --\n"), []);
  assert.deepEqual(parseJournal(""), []);
});

Deno.test("journal_logs maps failures to stable codes and renders briefly", () => {
  const argv = [...BASE, "--lines=100"];
  const args = journalLogs.input.parse({});
  const out = journalLogs.parse(exec(cmd(argv, JOURNAL, { truncated: true })), args);
  assert.equal(out.truncated, true);
  assert.equal(journalLogs.render(out).split("\n").length, 5);
  const cases: [ReturnType<typeof exec>, string][] = [
    [exec(cmd(argv, "", { exitCode: 127 })), "program_missing"],
    [exec(cmd(argv, "", { exitCode: 1, stderr: "Failed to parse timestamp: x\n" })), "bad_output"],
    [exec(cmd(argv, "<!doctype html>\n<p>hi</p>\n")), "bad_output"],
  ];
  for (const [result, code] of cases) {
    assert.throws(
      () => journalLogs.parse(result, args),
      (e) => e instanceof OperationError && e.code === code,
    );
  }
});

Deno.test({
  name: "journal_logs parses this machine's real journalctl output",
  ignore: !has("journalctl"),
  fn: async () => {
    const args = journalLogs.input.parse({ lines: 5 });
    const out = journalLogs.parse(
      await runPlan(asExec(journalLogs.plan(args, localTarget()))),
      args,
    );
    assert.ok(out.entries.length <= 5);
  },
});
