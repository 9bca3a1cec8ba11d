/**
 * `serve --operations DIR` through the real gateway and the official SDK
 * client: the flag wins over `TAILOPS_OPERATIONS`, the launcher grants the
 * local worker exactly the programs the files name (absolute paths, resolved
 * at start), and `check-config --operations` reports every problem of every
 * file at FILE:LINE:COLUMN; `serve --stacks DIR` likewise wins over `TAILOPS_STACKS`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, runCli, startGateway, tempDirWith } from "./_gateway.ts";
import { ALLOW_ALL_POLICY, call } from "./_mcp_checks.ts";
import { launchArgs } from "../../src/cli/launch.ts";
import { resolveProgram } from "../../src/exec/local_kind.ts";

function operation(name: string, program: string, capability = "system:read"): string {
  return `version: 1
name: ${name}
title: ${name}
description: Runs ${program}.
target_types: [local]
capability: ${capability}
mutates: false
steps:
  - program: ${program}
`;
}

const TARGETS = `version: 1
targets:
  - id: local
    type: local
    capabilities: [system:read]
`;

Deno.test({
  name:
    "serve --operations DIR serves that directory's operations and wins over TAILOPS_OPERATIONS",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const flagged = await tempDirWith({ "kernel.yaml": operation("flag_kernel", "uname") });
    const fromEnv = await tempDirWith({ "env.yaml": operation("env_only", "uname") });
    try {
      await using gateway = await startGateway({
        targets: TARGETS,
        policy: ALLOW_ALL_POLICY,
        flags: ["--operations", flagged],
        env: { TAILOPS_OPERATIONS: fromEnv },
      });
      const client = await connectHttp(gateway);
      try {
        const names = (await client.listTools()).tools.map((tool) => tool.name);
        assert.ok(names.includes("flag_kernel"), names.join(", "));
        assert.ok(!names.includes("env_only"), names.join(", "));
        const called = await call(client, "flag_kernel", { target: "local" });
        assert.equal(called.results[0]?.status, "ok", called.text);
        assert.equal((called.results[0].data as { result: string }).result, "Linux\n");
      } finally {
        await client.close();
      }
    } finally {
      await Deno.remove(flagged, { recursive: true });
      await Deno.remove(fromEnv, { recursive: true });
    }
  },
});

function runGrants(args: string[]): Set<string> {
  const flag = args.find((arg) => arg.startsWith("--allow-run="));
  return new Set(flag ? flag.slice("--allow-run=".length).split(",") : []);
}

Deno.test("the launcher grants run for exactly the programs the operation files name, by absolute path", async () => {
  const dir = await tempDirWith({
    "targets.yaml": TARGETS,
    "policy.yaml": ALLOW_ALL_POLICY,
  });
  const ops = await tempDirWith({
    "count.yaml": operation("count_cpus", "nproc"),
    "who.yaml": operation("who_am_i", "/usr/bin/id"),
    // The target lacks system:control: its program is not granted.
    "date.yaml": operation("set_nothing", "/usr/bin/tty", "system:control"),
  });
  try {
    const base = ["--targets", `${dir}/targets.yaml`, "--policy", `${dir}/policy.yaml`];
    const without = runGrants(await launchArgs([...base, "--state-dir", `${dir}/s`]));
    const granted = runGrants(
      await launchArgs([...base, "--state-dir", `${dir}/s`, "--operations", ops]),
    );
    const added = [...granted].filter((p) => !without.has(p)).sort();
    const expected = [resolveProgram("nproc"), "/usr/bin/id"]
      .filter((p): p is string => p !== null && !without.has(p)).sort();
    assert.ok(expected.length > 0, "nproc and id are not among the built-ins' programs");
    assert.deepEqual(added, expected);
    assert.ok([...granted].every((p) => p.startsWith("/")), [...granted].join(","));
    assert.ok(!granted.has("/usr/bin/tty"));
    const args = await launchArgs([...base, "--state-dir", `${dir}/s`, "--operations", ops]);
    assert.ok(
      args.some((arg) => arg.startsWith("--allow-read=") && arg.includes(ops)),
      "the operations directory is readable",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(ops, { recursive: true });
  }
});

Deno.test("the launcher grants the templates directory and their secret references", async () => {
  const dir = await tempDirWith({ "targets.yaml": TARGETS, "token.txt": "file-secret-0001\n" });
  const templates = await tempDirWith({
    "t.yaml": `version: 1
name: t
description: d
variables:
  a: { type: secret, from: "\${TPL_ENV_SECRET}" }
  b: { type: secret, from: "file:${dir}/token.txt" }
body: "{{a}} {{b}}"
`,
  });
  try {
    const args = await launchArgs([
      "--targets",
      `${dir}/targets.yaml`,
      "--state-dir",
      `${dir}/s`,
      "--templates",
      templates,
    ]);
    const list = (flag: string) =>
      (args.find((arg) => arg.startsWith(`${flag}=`)) ?? "").slice(flag.length + 1).split(",");
    assert.ok(list("--allow-read").includes(templates), list("--allow-read").join(","));
    assert.ok(list("--allow-read").includes(`${dir}/token.txt`));
    assert.ok(list("--allow-env").includes("TPL_ENV_SECRET"));
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(templates, { recursive: true });
  }
});

Deno.test("check-config --operations reports every problem of every file at FILE:LINE:COLUMN", async () => {
  const ops = await tempDirWith({
    "a.yaml": operation("twice", "uname").replace("mutates: false", "mutates: maybe"),
    "b.yaml": operation("twice", "bash").replace("title: twice", "title: ''"),
    "c.yaml": operation("twice", "uname"),
    "e.yaml": operation("twice", "uname"),
    "d.yaml": operation("file_write", "uname"),
  });
  try {
    const run = await runCli(["check-config", "--operations", ops], {
      env: { TAILOPS_OPERATIONS: "/nonexistent" },
    });
    assert.equal(run.code, 1, run.stderr);
    const lines = run.ownStderr;
    const expect = [
      new RegExp(`^${ops}/a\\.yaml:7:10: .*boolean`),
      new RegExp(`^${ops}/b\\.yaml:3:8: `),
      new RegExp(`^${ops}/b\\.yaml:9:14: Invalid program "bash"`),
      new RegExp(`^${ops}/d\\.yaml:2:7: Operation "file_write" collides with a built-in`),
      new RegExp(`^${ops}/e\\.yaml:2:7: Operation "twice" is already declared in ${ops}/c\\.yaml`),
    ];
    for (const pattern of expect) {
      assert.ok(
        lines.some((line) => pattern.test(line)),
        `${pattern} not in:\n${lines.join("\n")}`,
      );
    }
  } finally {
    await Deno.remove(ops, { recursive: true });
  }
});

/** A stacks directory holding one stack. */
async function stacksWith(name: string, compose: string): Promise<string> {
  const dir = await tempDirWith();
  await Deno.mkdir(`${dir}/${name}`);
  await Deno.writeTextFile(`${dir}/${name}/compose.yaml`, compose);
  return dir;
}

Deno.test({
  name: "serve --stacks DIR serves that directory's stacks and wins over TAILOPS_STACKS",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const compose = "services:\n  web:\n    image: busybox:1.36\n";
    const flagged = await stacksWith("flagged", compose);
    const fromEnv = await stacksWith("from-env", compose);
    const root = await tempDirWith();
    try {
      await using gateway = await startGateway({
        targets: `version: 1
targets:
  - id: local
    type: local
    capabilities: [file:write, stack:read]
    files: { write_roots: [${root}] }
`,
        policy: ALLOW_ALL_POLICY,
        flags: ["--stacks", flagged],
        env: { TAILOPS_STACKS: fromEnv },
      });
      const client = await connectHttp(gateway);
      try {
        const tools = (await client.listTools()).tools;
        const deploy = tools.find((tool) => tool.name === "stack_deploy");
        assert.match(deploy?.description ?? "", /\(flagged\)/, JSON.stringify(deploy));
        const dry = await call(client, "stack_diff", { target: "local", stack: "from-env" });
        assert.equal(dry.isError, true, dry.text);
        assert.match(dry.text, /Invalid stack: expected one of flagged/);
      } finally {
        await client.close();
      }
    } finally {
      for (const dir of [flagged, fromEnv, root]) await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the launcher grants read on the --stacks directory", async () => {
  const dir = await tempDirWith({ "targets.yaml": TARGETS });
  const stacks = await stacksWith("web", "services: {}\n");
  try {
    const args = await launchArgs([
      "--targets",
      `${dir}/targets.yaml`,
      "--state-dir",
      `${dir}/s`,
      "--stacks",
      stacks,
    ]);
    const read = (args.find((arg) => arg.startsWith("--allow-read=")) ?? "").split(",");
    assert.ok(read.some((p) => p.endsWith(stacks)), read.join(","));
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(stacks, { recursive: true });
  }
});
