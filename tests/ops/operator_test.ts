/**
 * Operator-defined operations as operations: parameters fill argv elements as
 * data, the schemas refuse what could read as an option or end a line, and
 * paths stay under the target's roots.
 */
import assert from "node:assert/strict";
import { parseOperationFile } from "../../src/config/operations_load.ts";
import type { Target } from "../../src/config/targets_schema.ts";
import type { ExecPlan } from "../../src/exec/plan.ts";
import { OperationError } from "../../src/ops/operation.ts";
import { operatorOperation } from "../../src/ops/operator.ts";
import { parseTargets } from "../../src/config/load.ts";

const FILE = `version: 1
name: greet
title: Greet
description: Prints its arguments.
target_types: [local, ssh]
capability: system:read
mutates: false
timeout_ms: 5000
parameters:
  word: { type: string, pattern: ".{1,300}", max_length: 64 }
  loud: { type: boolean, default: false }
  count: { type: integer, min: 1, max: 5, default: 1 }
  where: { type: path, optional: true }
  unit: { type: unit, optional: true }
steps:
  - program: printf
    args: ["%s\\\\n", "{{word}}", "x={{word}}", { when: loud, argv: [LOUD] }, "n{{count}}", { when: where, argv: ["{{where}}"] }]
  - program: /usr/bin/test
    args: ["1"]
    sudo: true
`;

const op = operatorOperation(parseOperationFile(FILE, "greet.yaml"));

async function target(): Promise<Target> {
  const registry = await parseTargets(
    `version: 1
targets:
  - id: web
    type: ssh
    capabilities: [system:read]
    sudo: [greet]
    connection: { host: 127.0.0.1, port: 22, user: ops, key: "\${KEY}", host_key: "SHA256:${
      "A".repeat(43)
    }" }
    files: { roots: [/srv] }
`,
    "targets.yaml",
    {
      secrets: { env: () => "k", readFile: () => Promise.resolve("k") } as never,
      checkReferences: false,
    },
  );
  return registry.targets[0];
}

Deno.test("shell syntax in a parameter becomes one argv element, verbatim", async () => {
  const t = await target();
  for (const word of ["a;id", "$(id)", "`id`", "a b", "'q'", '"q"', "a|b&c>d", "*", "~root"]) {
    const args = op.input.parse({ word });
    const plan = op.plan(args, t) as ExecPlan;
    assert.deepEqual(plan.commands[0], ["printf", "%s\\n", word, `x=${word}`, "n1"]);
  }
});

Deno.test("newlines, NUL, control characters, a leading dash and overlong values are refused", () => {
  for (const word of ["a\nb", "a\rb", "a\0b", "\u001b[31m", "-rf", "--help", "x".repeat(65), ""]) {
    const result = op.input.safeParse({ word });
    assert.equal(result.success, false, JSON.stringify(word));
  }
  assert.equal(op.input.safeParse({ word: "ok", program: "sh" }).success, false);
  assert.equal(op.input.safeParse({ word: "ok", count: 0 }).success, false);
  assert.equal(op.input.safeParse({ word: "ok", unit: "-x.service" }).success, false);
  assert.equal(op.input.safeParse({ word: "ok", where: "/srv/../etc" }).success, false);
});

Deno.test("when-groups add their elements only when the parameter is true or given", async () => {
  const t = await target();
  const plan = op.plan(
    op.input.parse({ word: "w", loud: true, count: 3, where: "/srv/a" }),
    t,
  ) as ExecPlan;
  assert.deepEqual(plan.commands[0], ["printf", "%s\\n", "w", "x=w", "LOUD", "n3", "/srv/a"]);
  assert.deepEqual(plan.commands[1], ["/usr/bin/test", "1"]);
  assert.deepEqual(plan.sudoEach, [false, true]);
  assert.equal(plan.stopOnFailure, true);
  assert.equal(plan.timeoutMs, 5000);
  assert.deepEqual(op.programs, ["printf", "/usr/bin/test"]);
});

Deno.test("a path parameter outside the target's roots is refused before anything runs", async () => {
  const t = await target();
  assert.throws(
    () => op.plan(op.input.parse({ word: "w", where: "/etc/shadow" }), t),
    (error: Error) => error instanceof OperationError && error.code === "forbidden",
  );
});

Deno.test("a failed step is reported with its number and first error line", () => {
  const result = {
    kind: "exec" as const,
    commands: [{
      argv: ["printf"],
      exitCode: 2,
      signal: null,
      stdout: "",
      stderr: "printf: bad\n",
      truncated: false,
      bytes: 12,
    }],
  };
  assert.throws(
    () => op.parse(result, {} as never),
    /Step 1 of 2 \(printf\) exited with code 2: printf: bad/,
  );
});
