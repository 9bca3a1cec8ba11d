import assert from "node:assert/strict";
import { literalPattern, logSearch, SCAN_LIMIT, searchText } from "../../src/ops/log_search.ts";
import { OperationError } from "../../src/ops/operation.ts";
import { asExec, cmd, exec, has, localTarget, runPlan, sshTarget } from "./_host_helpers.ts";

const parse = (args: unknown) => logSearch.input.safeParse(args);
const grepOf = (args: unknown) =>
  asExec(logSearch.plan(logSearch.input.parse(args), localTarget())).commands[0].at(-1);

Deno.test("log_search binds the pattern to --grep= in one argv element, escaped unless regex", () => {
  const plan = asExec(logSearch.plan(
    logSearch.input.parse({
      pattern: "Failed password",
      unit: "ssh.service",
      priority: "warning",
      since: "2h",
      until: "2024-05-01T12:00:00Z",
    }),
    localTarget(),
  ));
  assert.deepEqual(plan.commands, [[
    "journalctl",
    "--no-pager",
    "--quiet",
    "-o",
    "short-iso",
    `--lines=${SCAN_LIMIT}`,
    "--unit=ssh.service",
    "--since=-2h",
    "--until=2024-05-01 12:00:00 UTC",
    "--priority=warning",
    "--grep=Failed password",
  ]]);
  assert.equal(grepOf({ pattern: "-n 1 --merge" }), "--grep=-n 1 --merge");
  assert.equal(grepOf({ pattern: "a.b(c)*" }), "--grep=a\\.b\\(c\\)\\*");
  assert.equal(grepOf({ pattern: "a.b(c)*", regex: true }), "--grep=a.b(c)*");
  assert.equal(literalPattern("[x]{2}|^$\\"), "\\[x\\]\\{2\\}\\|\\^\\$\\\\");
});

Deno.test("log_search uses sudo only where the target's sudo list names it", () => {
  const args = logSearch.input.parse({ pattern: "x" });
  assert.equal(asExec(logSearch.plan(args, sshTarget("none"))).sudo, false);
  assert.equal(asExec(logSearch.plan(args, sshTarget(["journal_logs"]))).sudo, false);
  assert.equal(asExec(logSearch.plan(args, sshTarget(["log_search"]))).sudo, true);
  assert.equal(asExec(logSearch.plan(args, sshTarget("all"))).sudo, true);
  assert.equal(asExec(logSearch.plan(args, localTarget())).sudo, false);
});

Deno.test("log_search refuses oversize, control-character, malformed and backtracking patterns", () => {
  const bad: unknown[] = [
    {},
    { pattern: "" },
    { pattern: "x".repeat(201) },
    { pattern: "a\nb" },
    { pattern: "a\u0000b" },
    { pattern: "a\u001b[2Jb" },
    { pattern: "\ud800" },
    { pattern: "(a+)+$", regex: true },
    { pattern: "(x*y){2,}", regex: true },
    { pattern: "((ab)*c)+", regex: true },
    { pattern: "(a)\\1", regex: true },
    { pattern: "(?=x)y", regex: true },
    { pattern: "(a", regex: true },
    { pattern: "x", unit: "-x" },
    { pattern: "x", unit: "--merge" },
    { pattern: "x", since: "-1h" },
    { pattern: "x", since: "2024-05-01T12:00:00+02:00" },
    { pattern: "x", until: "yesterday" },
    { pattern: "x", until: "2024-02-30" },
    { pattern: "x", since: "99999999999m" },
    { pattern: "x", lines: 501 },
    { pattern: "x", priority: "panic" },
    { pattern: "x", file: "/etc/shadow" },
  ];
  for (const args of bad) assert.equal(parse(args).success, false, JSON.stringify(args));
  const good: unknown[] = [
    { pattern: "(a+)+$" },
    { pattern: "Ünïcødé ✓ 日本" },
    { pattern: "x".repeat(200) },
    { pattern: "Failed (password|publickey) for", regex: true },
    { pattern: "port [0-9]+", regex: true },
    { pattern: "x", since: "1w", until: "15m" },
  ];
  for (const args of good) assert.equal(parse(args).success, true, JSON.stringify(args));
});

const OUT =
  `2024-05-06T10:15:01+00:00 h sshd[10]: Failed password for root from 10.0.0.9 port 22 ssh2
2024-05-06T10:15:02+00:00 h sshd[11]: Failed password for bob from 10.0.0.8 port 22 ssh2
2024-05-06T10:15:03+00:00 h sshd[12]: Failed password for eve from 10.0.0.7 port 22 ssh2
`;

Deno.test("log_search counts every match and returns the last lines asked for", () => {
  const argv = ["journalctl"];
  const out = logSearch.parse(
    exec(cmd(argv, OUT)),
    logSearch.input.parse({ pattern: "F", lines: 2 }),
  );
  assert.equal(out.count, 3);
  assert.equal(out.count_capped, false);
  assert.deepEqual(out.entries.map((e) => e.pid), [11, 12]);
  const none = logSearch.parse(
    exec(cmd(argv, "", { exitCode: 1 })),
    logSearch.input.parse({ pattern: "zzz" }),
  );
  assert.deepEqual(none, { count: 0, count_capped: false, entries: [] });
  const capped = logSearch.parse(
    exec(cmd(argv, OUT, { truncated: true })),
    logSearch.input.parse({ pattern: "F" }),
  );
  assert.equal(capped.count_capped, true);
  assert.throws(
    () =>
      logSearch.parse(
        exec(cmd(argv, "", { exitCode: 1, stderr: "Failed to parse timestamp: x\n" })),
        logSearch.input.parse({ pattern: "x" }),
      ),
    (e) => e instanceof OperationError && /refused the search: Failed to parse/.test(e.message),
  );
});

Deno.test({
  name: "this machine's journalctl accepts every log_search plan, hostile patterns included",
  ignore: !has("journalctl"),
  fn: async () => {
    const cases: unknown[] = [
      { pattern: "Failed password", unit: "ssh.service", since: "1d", until: "1m" },
      { pattern: "-n 1 --merge --file=/etc/shadow" },
      { pattern: "$(touch /tmp/i10-pwned) `id` ; | & >" },
      { pattern: "Ünïcødé ✓" },
      { pattern: "(a+)+$" },
      { pattern: "Failed (password|publickey)", regex: true, priority: "err" },
      { pattern: "x", since: "2024-05-01T12:00:00Z", until: "2024-05-02" },
    ];
    for (const args of cases) {
      const parsed = logSearch.input.parse(args);
      const result = await runPlan(asExec(logSearch.plan(parsed, localTarget())));
      const out = logSearch.parse(result, parsed);
      assert.equal(typeof out.count, "number", JSON.stringify(args));
    }
    assert.equal(await Deno.stat("/tmp/i10-pwned").then(() => true, () => false), false);
  },
});

Deno.test("log_search on a file reads it under the roots and matches with RE2, literal unless regex", () => {
  const args = logSearch.input.parse({
    pattern: "failed (x",
    path: "/srv/logs/app.log",
    offset: 10,
  });
  const plan = logSearch.plan(args, localTarget(["/srv/logs"]));
  assert.equal(plan.kind, "fs_read");
  assert.equal(logSearch.capabilityFor!(args), "file:read");
  assert.throws(
    () =>
      logSearch.plan(
        logSearch.input.parse({ pattern: "x", path: "/etc/shadow" }),
        localTarget(["/srv"]),
      ),
    (e) => e instanceof OperationError && e.code === "forbidden",
  );
  assert.equal(
    logSearch.input.safeParse({ pattern: "x", path: "/srv/a", unit: "ssh" }).success,
    false,
  );
  assert.equal(
    logSearch.input.safeParse({ pattern: "x", path: "/srv/../etc/shadow" }).success,
    false,
  );
  const text = "ok\nFAILED (x) once\nfailed (x) twice\nfailed x thrice\n" + "a".repeat(100_000) +
    "!\n";
  const literal = searchText(text, { pattern: "failed (x", regex: false, lines: 1 }, false);
  assert.equal(literal.count, 2);
  assert.deepEqual(literal.entries, [{
    time: null,
    identifier: null,
    pid: null,
    message: "failed (x) twice",
  }]);
  assert.equal(searchText(text, { pattern: "FAILED", regex: false, lines: 5 }, true).count, 1);
  assert.equal(
    searchText(text, { pattern: "failed \\(?x", regex: true, lines: 5 }, false).count,
    3,
  );
  // RE2 is linear: a pattern that backtracks in PCRE2 costs nothing special here.
  assert.equal(searchText(text, { pattern: "(a|a)*!", regex: false, lines: 5 }, false).count, 0);
  const out = logSearch.parse(
    {
      kind: "fs_read",
      path: "/srv/logs/app.log",
      size: 30,
      encoding: "utf-8",
      content: "x failed (x\n",
      truncated: false,
    } as never,
    args,
  );
  assert.equal(out.count, 1);
});
