/**
 * Operation files: every problem at FILE:LINE:COLUMN, programs only as
 * written, placeholders only for declared parameters.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { loadOperations, parseOperationFile } from "../../src/config/operations_load.ts";
import type { StepSpec } from "../../src/config/operations_schema.ts";
import { CATALOG } from "../../src/ops/catalog.ts";
import { withOperatorOperations } from "../../src/ops/operator.ts";
import { loadCatalog } from "../../src/cli/catalog.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

const GOOD = `version: 1
name: disk_of
title: Disk use of a path
description: Shows the disk use of a path under the roots.
target_types: [local, ssh]
capability: file:read
mutates: false
parameters:
  path: { type: path }
  depth: { type: integer, min: 0, max: 3, default: 1 }
steps:
  - program: du
    args: [-h, "--max-depth={{depth}}", --, "{{path}}"]
`;

function problemsOf(text: string, file = "op.yaml"): string {
  try {
    parseOperationFile(text, file);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("a valid operation file parses with its defaults filled in", () => {
  const { spec } = parseOperationFile(GOOD, "op.yaml");
  assert.equal(spec.name, "disk_of");
  assert.equal(spec.destructive, false);
  assert.equal(spec.parse, "text");
  assert.deepEqual((spec.steps[0] as StepSpec).args, [
    "-h",
    "--max-depth={{depth}}",
    "--",
    "{{path}}",
  ]);
});

Deno.test("a placeholder naming no parameter is reported at its file:line:column", () => {
  const message = problemsOf(GOOD.replace("{{path}}", "{{paht}}"));
  assert.match(message, /^op\.yaml:13:\d+: Unknown parameter "paht"/);
});

Deno.test("a program holding a placeholder, or a shell, or a launcher, is refused", () => {
  assert.match(
    problemsOf(GOOD.replace("program: du", 'program: "/usr/bin/{{path}}"')),
    /op\.yaml:12:\d+: .*placeholder/,
  );
  for (const program of ["sh", "/bin/bash", "env", "xargs", "python3", "/usr/bin/sudo", "awk"]) {
    assert.match(
      problemsOf(GOOD.replace("program: du", `program: ${program}`)),
      /would run parameter text as a program/,
      program,
    );
  }
  assert.match(problemsOf(GOOD.replace("program: du", 'program: "du;id"')), /Invalid program/);
  assert.match(problemsOf(GOOD.replace("program: du", "program: ../du")), /Invalid program/);
});

Deno.test("an optional parameter outside a when-group, and unknown keys, are refused", () => {
  const optional = GOOD.replace("path: { type: path }", "path: { type: path, optional: true }");
  assert.match(problemsOf(optional), /"path" is optional: it may only appear inside a group/);
  const fixed = optional.replace('"{{path}}"]', '{ when: path, argv: ["{{path}}"] }]');
  assert.equal(parseOperationFile(fixed, "op.yaml").spec.name, "disk_of");
  assert.match(
    problemsOf(GOOD.replace("mutates: false", "mutates: false\nshell: true")),
    /Unknown key "shell"/,
  );
});

Deno.test("a string parameter without an allowlist and a negative integer range are refused", () => {
  const loose = GOOD.replace("path: { type: path }", "path: { type: string }");
  assert.match(problemsOf(loose), /exactly one of "pattern" or "enum"/);
  const negative = GOOD.replace("min: 0, max: 3", "min: -3, max: 3");
  assert.match(problemsOf(negative), /op\.yaml:10:\d+/);
  assert.match(
    problemsOf(GOOD.replace("path: { type: path }", 'path: { type: string, pattern: "(a" }')),
    /expected an RE2 regular expression/,
  );
});

Deno.test("a capability its target types cannot hold is refused", () => {
  assert.match(
    problemsOf(GOOD.replace("capability: file:read", "capability: container:read")),
    /Capability "container:read" cannot be held by local targets/,
  );
  assert.match(
    problemsOf(GOOD.replace("capability: file:read", "capability: root")),
    /Unknown capability "root"/,
  );
});

Deno.test("a directory reports every file's problems, a duplicate name and a built-in name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.yaml`, GOOD);
    await Deno.writeTextFile(`${dir}/b.yaml`, GOOD);
    await Deno.writeTextFile(`${dir}/c.yml`, "version: 1\nname: [x\n");
    await Deno.writeTextFile(`${dir}/notes.txt`, "ignored");
    await assert.rejects(loadOperations(dir), (error: Error) => {
      assert.match(error.message, new RegExp(`${dir}/c\\.yml:\\d+:\\d+: Invalid YAML`));
      assert.match(
        error.message,
        new RegExp(
          `${dir}/b\\.yaml:2:7: Operation "disk_of" is already declared in ${dir}/a\\.yaml`,
        ),
      );
      return true;
    });
    await Deno.remove(`${dir}/b.yaml`);
    await Deno.remove(`${dir}/c.yml`);
    await Deno.writeTextFile(`${dir}/a.yaml`, GOOD.replace("name: disk_of", "name: read_file"));
    await assert.rejects(
      loadCatalog(dir),
      new RegExp(`${dir}/a\\.yaml:2:7: Operation "read_file" collides with a built-in operation`),
    );
    await Deno.writeTextFile(`${dir}/a.yaml`, GOOD.replace("default: 1", "default: 9"));
    await assert.rejects(loadCatalog(dir), /a\.yaml:10:\d+: Invalid default of "depth"/);
    await Deno.writeTextFile(
      `${dir}/a.yaml`,
      GOOD.replace("path: { type: path }", "target: { type: path }").replace(
        "{{path}}",
        "{{target}}",
      ),
    );
    await assert.rejects(
      loadCatalog(dir),
      /a\.yaml:9:\d+: Parameter "target" is reserved by the call envelope/,
    );
    await assert.rejects(loadOperations(`${dir}/missing`), /Cannot read the operations directory/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the shipped example operations load and join the catalog after the built-ins", async () => {
  const catalog = await loadCatalog(new URL("../../operations", import.meta.url).pathname);
  // list_targets comes first, rebuilt to report on the operator's tools too.
  assert.equal(catalog[0].name, "list_targets");
  assert.deepEqual(
    catalog.slice(1, CATALOG.length).map((op) => op.name),
    CATALOG.slice(1).map((op) => op.name),
  );
  assert.deepEqual(
    catalog.slice(CATALOG.length).map((op) => op.name),
    ["apt_update", "certbot_renew", "fail2ban_status", "nginx_reload"],
  );
  assert.ok(Object.isFrozen(catalog));
  assert.deepEqual(withOperatorOperations(CATALOG, []), CATALOG);
});
