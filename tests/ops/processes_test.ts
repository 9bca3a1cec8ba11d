import assert from "node:assert/strict";
import { parsePs, PS_FORMAT, topProcesses } from "../../src/ops/processes.ts";
import { asExec, cmd, exec, has, localTarget, runPlan } from "./_host_helpers.ts";

// procps-ng 4.0.2 output in PS_FORMAT; line 3 is a program whose name holds spaces.
const PS =
  `    1     0 root                              0.3  0.0 11256     638 process_api     /process_api --addr 0.0.0.0:2024
   77     2 root                              0.2  0.0     0     637 kdamond.0       [kdamond.0]
 5864     1 www-data                          7.5  1.2  1708       4 my prog with sp /tmp/my prog with spaces long 30
 6001  5864 postgres                         12.0 25.0 524288   86400 postgres        postgres: checkpointer
`;

Deno.test("top_processes plans one ps with explicit columns", () => {
  const plan = asExec(topProcesses.plan(topProcesses.input.parse({}), localTarget()));
  assert.deepEqual(plan.commands, [["ps", "-eo", PS_FORMAT]]);
  assert.equal(plan.sudo, false);
});

Deno.test("top_processes validates sort and limit", () => {
  assert.deepEqual(topProcesses.input.parse({}), { sort: "cpu", limit: 10 });
  for (
    const bad of [{ limit: 0 }, { limit: 101 }, { limit: 2.5 }, { sort: "io" }, { limit: "5" }, {
      pid: 1,
    }]
  ) {
    assert.equal(topProcesses.input.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

Deno.test("parsePs() reads names and command lines holding spaces", () => {
  const rows = parsePs(PS);
  assert.equal(rows.length, 4);
  assert.deepEqual(rows[2], {
    pid: 5864,
    ppid: 1,
    user: "www-data",
    cpu_percent: 7.5,
    memory_percent: 1.2,
    rss_bytes: 1708 * 1024,
    elapsed_seconds: 4,
    name: "my prog with sp",
    command: "/tmp/my prog with spaces long 30",
  });
  assert.equal(rows[1].command, "[kdamond.0]");
});

Deno.test("top_processes sorts by cpu or memory and applies the limit", () => {
  const result = exec(cmd(["ps", "-eo", PS_FORMAT], PS));
  const cpu = topProcesses.parse(result, { sort: "cpu", limit: 2 });
  assert.deepEqual(cpu.processes.map((p) => p.pid), [6001, 5864]);
  assert.equal(cpu.total_processes, 4);
  const mem = topProcesses.parse(result, { sort: "memory", limit: 10 });
  assert.deepEqual(mem.processes.map((p) => p.pid), [6001, 1, 5864, 77]);
  assert.match(topProcesses.render(cpu), /^2 of 4 processes by cpu:\n6001 postgres/);
});

Deno.test("top_processes reports busybox ps as unsupported and garbage as bad_output", () => {
  const argv = ["ps", "-eo", PS_FORMAT];
  const busybox = cmd(argv, "", {
    exitCode: 1,
    stderr: "ps: bad -o argument 'pcpu', supported arguments: user,group,comm,args,pid",
  });
  const cases: [ReturnType<typeof exec>, string][] = [
    [exec(busybox), "unsupported"],
    [exec(cmd(argv, "", { exitCode: 127, stderr: "sh: ps: not found" })), "program_missing"],
    [exec(cmd(argv, "<html>nope</html>\n")), "bad_output"],
    [exec(cmd(argv, "", { exitCode: null, signal: "SIGKILL" })), "bad_output"],
  ];
  for (const [result, code] of cases) {
    assert.throws(() => topProcesses.parse(result, { sort: "cpu", limit: 10 }), { code });
  }
});

Deno.test({
  name: "top_processes parses this machine's real ps output",
  ignore: !has("ps"),
  fn: async () => {
    const args = topProcesses.input.parse({ sort: "memory", limit: 5 });
    const out = topProcesses.parse(
      await runPlan(asExec(topProcesses.plan(args, localTarget()))),
      args,
    );
    assert.ok(out.total_processes > 1);
    assert.ok(out.processes.length <= 5);
    assert.ok(out.processes.every((p) => p.pid > 0 && p.name.length > 0));
  },
});
