import assert from "node:assert/strict";
import type { Target } from "../../src/config/targets_schema.ts";
import type { ExecPlan } from "../../src/exec/plan.ts";
import {
  commandLine,
  runsAsOneScript,
  sequenceScript,
  SHOWN_BOUNDARY,
} from "../../src/exec/ssh_command_line.ts";
import { describePlan } from "../../src/mcp/describe_plan.ts";
import { execPlan } from "../exec/_ssh_fixture.ts";

// Only the fields dry run reads.
const SSH = {
  id: "web",
  type: "ssh",
  connection: { user: "ops", host: "127.0.0.1", port: 22 },
} as unknown as Target;

const plan = (commands: string[][], extra: Partial<ExecPlan> = {}) =>
  execPlan(commands, { outputCapBytes: 1024, ...extra });

type Shown = { remote_command_lines: string[]; commands_in_script?: string[]; runs_as?: string };

Deno.test("dry run of an SSH plan of several commands shows the one script the worker runs", () => {
  const status = plan([["uname", "-nr"], ["cat", "/proc/uptime"], ["df", "-kP"]]);
  assert.ok(runsAsOneScript(status));
  const shown = describePlan(status, SSH) as Shown;
  assert.equal(shown.remote_command_lines.length, 1);
  // With the per-call boundary put in, it is byte for byte what the worker sends.
  const boundary = "0123456789abcdef0123456789abcdef";
  assert.equal(
    shown.remote_command_lines[0].replaceAll(SHOWN_BOUNDARY, boundary),
    sequenceScript(status, boundary),
  );
  assert.deepEqual(shown.commands_in_script, [
    "exec 'uname' '-nr'",
    "exec 'cat' '/proc/uptime'",
    "exec 'df' '-kP'",
  ]);
  assert.match(shown.runs_as ?? "", /one exec/);
});

Deno.test("dry run shows sudo only on the commands of a sequence that use it", () => {
  const mixed = plan([["systemctl", "restart", "x"], ["systemctl", "show", "x"]], {
    sudoEach: [true, false],
  });
  const shown = describePlan(mixed, SSH) as Shown;
  assert.ok(shown.remote_command_lines[0].startsWith("(exec sudo -n -- 'systemctl' 'restart'"));
  assert.ok(shown.remote_command_lines[0].includes("(exec 'systemctl' 'show' 'x')"));
});

Deno.test("dry run of a plan that stops at the first failure shows one line per exec", () => {
  const steps = plan([["true"], ["false"], ["id"]], { stopOnFailure: true });
  assert.ok(!runsAsOneScript(steps));
  const shown = describePlan(steps, SSH) as Shown;
  assert.deepEqual(
    shown.remote_command_lines,
    steps.commands.map((argv) => commandLine(argv, false)),
  );
  assert.equal(shown.runs_as, undefined);
});

Deno.test("dry run of one command shows its line without a script around it", () => {
  const shown = describePlan(plan([["uptime"]]), SSH) as Shown;
  assert.deepEqual(shown.remote_command_lines, ["exec 'uptime'"]);
  assert.equal(shown.commands_in_script, undefined);
});
