/**
 * Operator-defined operations through the real gateway (`deno run
 * -P=gateway`, the official SDK client over Streamable HTTP): on the local
 * target and over real sshd. Parameters arrive as data however they are
 * spelled, the local worker may run exactly the programs the files name, and
 * a program the gateway's own permission set lacks stops the start with one
 * clear line.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, readAudit, runCli, startGateway, tempDirWith } from "./_gateway.ts";
import { ALLOW_ALL_POLICY, call, type Entry } from "./_mcp_checks.ts";
import { type Fleet, startFleet } from "./_fleet.ts";
import { loadCatalog } from "../../src/cli/catalog.ts";
import { localPrograms } from "../../src/ops/catalog.ts";
import { LOCAL_KIND, resolveProgram } from "../../src/exec/local_kind.ts";
import { parseTargets } from "../../src/config/load.ts";
import type { LocalTarget } from "../../src/config/targets_schema.ts";
import type { ProbeRequest } from "../exec/_probe_worker.ts";

const PROBE = new URL("../exec/_probe_worker.ts", import.meta.url);

const LOCAL_OPS: Record<string, string> = {
  "os_kernel.yaml": `version: 1
name: os_kernel
title: Kernel name
description: Prints the kernel name.
target_types: [local, ssh]
capability: system:read
mutates: false
steps:
  - program: uname
    args: ["-s"]
`,
  "show_text.yaml": `version: 1
name: show_text
title: Show a text file
description: Prints a file under the roots.
target_types: [local]
capability: file:read
mutates: false
parameters:
  path: { type: path, description: The file }
parse: lines
steps:
  - program: cat
    args: ["--", "{{path}}"]
`,
};

async function only(
  client: Awaited<ReturnType<typeof connectHttp>>,
  name: string,
  args: Record<string, unknown>,
): Promise<Entry> {
  const called = await call(client, name, args);
  assert.equal(called.results.length, 1, called.text);
  return called.results[0];
}

Deno.test({
  name:
    "operator-defined operations run on the local target like built-ins, reading names with shell syntax as data",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const ops = await tempDirWith(LOCAL_OPS);
    const root = await tempDirWith({
      "hello.txt": "hello\n",
      "a;id": "semi\n",
      "$(id)": "dollar\n",
    });
    const targets = `version: 1
targets:
  - id: local
    type: local
    capabilities: [system:read, file:read]
    files: { roots: [${root}] }
`;
    try {
      await using gateway = await startGateway({
        targets,
        policy: ALLOW_ALL_POLICY,
        env: { TAILOPS_OPERATIONS: ops },
      });
      const client = await connectHttp(gateway);
      try {
        await t.step("tools/list shows them with schema, annotations and _meta", async () => {
          const { tools } = await client.listTools();
          const kernel = tools.find((tool) => tool.name === "os_kernel");
          const show = tools.find((tool) => tool.name === "show_text");
          assert.ok(kernel && show, tools.map((tool) => tool.name).join(", "));
          assert.equal(kernel.annotations?.readOnlyHint, true);
          assert.equal(kernel.annotations?.destructiveHint, false);
          assert.equal(
            (kernel._meta as Record<string, unknown>)["tailops/capability"],
            "system:read",
          );
          assert.match(kernel.description ?? "", /operator-defined in os_kernel\.yaml/);
          assert.ok(kernel.outputSchema);
          const props = show.inputSchema.properties as Record<string, { description?: string }>;
          assert.equal(props.path.description, "The file");
          assert.ok(show.inputSchema.required?.includes("path"));
        });

        await t.step("a call runs the argv and returns steps and the parsed result", async () => {
          const entry = await only(client, "os_kernel", { target: "local" });
          assert.equal(entry.status, "ok", JSON.stringify(entry));
          const data = entry.data as { steps: { argv: string[] }[]; result: string };
          assert.deepEqual(data.steps[0].argv, ["uname", "-s"]);
          assert.equal(data.result, "Linux\n");
          const shown = await only(client, "show_text", {
            target: "local",
            path: `${root}/hello.txt`,
          });
          assert.deepEqual((shown.data as { result: string[] }).result, ["hello"]);
        });

        await t.step("file names holding ; and $() are opened as names, not run", async () => {
          for (const [name, text] of [["a;id", "semi"], ["$(id)", "dollar"]]) {
            const entry = await only(client, "show_text", {
              target: "local",
              path: `${root}/${name}`,
            });
            assert.deepEqual(
              (entry.data as { result: string[] }).result,
              [text],
              JSON.stringify(entry),
            );
          }
        });

        await t.step("a path outside the roots is refused before anything runs", async () => {
          const entry = await only(client, "show_text", { target: "local", path: "/etc/passwd" });
          assert.equal(entry.status, "failed");
          assert.equal(entry.error?.code, "forbidden");
        });

        await t.step(
          "a failing step is a failed target with the program's first line",
          async () => {
            const entry = await only(client, "show_text", {
              target: "local",
              path: `${root}/absent`,
            });
            assert.equal(entry.status, "failed");
            assert.equal(entry.error?.code, "step_failed");
            assert.match(
              entry.error?.message ?? "",
              /Step 1 of 1 \(cat\) exited with code 1: .*cat: .*No such file/,
            );
          },
        );

        await t.step("each call has a decided and a finished record", async () => {
          const records = (await readAudit(gateway.auditFile)).filter((r) =>
            r.tool === "os_kernel"
          );
          assert.deepEqual(records.map((r) => r.event), ["decided", "finished"]);
          assert.equal(records[1].status, "ok");
        });
      } finally {
        await client.close();
      }
    } finally {
      await Deno.remove(ops, { recursive: true });
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "a program the gateway's run permission lacks stops the start with one clear line",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const ops = await tempDirWith({
      "who.yaml": LOCAL_OPS["os_kernel.yaml"].replace("name: os_kernel", "name: who_am_i")
        .replace("program: uname", "program: /usr/bin/id").replace('args: ["-s"]', "args: []"),
    });
    try {
      await Deno.writeTextFile(
        `${ops}/targets.yaml.txt`,
        "version: 1\ntargets:\n  - id: local\n    type: local\n    capabilities: [system:read]\n",
      );
      const run = await runCli([
        "serve",
        "--transport",
        "http",
        "--listen",
        "127.0.0.1:0",
        "--targets",
        `${ops}/targets.yaml.txt`,
        "--state-dir",
        `${ops}/state`,
      ], { env: { TAILOPS_OPERATIONS: ops } });
      assert.equal(run.code, 1);
      assert.deepEqual(run.ownStderr, [
        "tailops: Operation who_am_i runs /usr/bin/id on local targets, but the gateway's run " +
        "permission does not include it: start it with `tailops launch serve ...` (which grants " +
        'the programs the configuration names), or add "/usr/bin/id" to deno.json\'s gateway ' +
        "permission set",
      ]);
    } finally {
      await Deno.remove(ops, { recursive: true });
    }
  },
});

Deno.test("the local worker may run exactly the programs the catalog and the operation files name", async () => {
  const ops = await tempDirWith({
    ...LOCAL_OPS,
    "who.yaml": LOCAL_OPS["os_kernel.yaml"].replace("name: os_kernel", "name: who_am_i")
      .replace("program: uname", "program: /usr/bin/id").replace("system:read", "system:control"),
  });
  const root = await tempDirWith({ "inside.txt": "in\n" });
  try {
    const catalog = await loadCatalog(ops);
    const registry = await parseTargets(
      `version: 1\ntargets:\n  - id: local\n    type: local\n    capabilities: [system:read]\n    files: { roots: [${root}] }\n`,
      "t.yaml",
    );
    const targets = registry.targets as LocalTarget[];
    const programs = localPrograms(catalog, new Set(targets[0].capabilities));
    // who_am_i needs system:control, which the target lacks: /usr/bin/id is not granted.
    assert.ok(programs.includes("uname") && !programs.includes("/usr/bin/id"), programs.join(","));
    const permissions = LOCAL_KIND.permissions(targets, { programs });
    const run = permissions.run as string[];
    assert.deepEqual(
      [...run].sort(),
      programs.map(resolveProgram).filter((p): p is string => p !== null).sort(),
    );
    const worker = new Worker(PROBE, { type: "module", deno: { permissions } });
    try {
      const results = await new Promise<Record<string, string>>((resolve, reject) => {
        worker.onmessage = (event) => resolve(event.data);
        worker.onerror = (event) => {
          event.preventDefault();
          reject(new Error(event.message));
        };
        const request: ProbeRequest = {
          type: "probe",
          root,
          port: 9,
          allowedProgram: resolveProgram("uname")!,
          deniedPrograms: ["/usr/bin/id", "/bin/sh", "/usr/bin/env"],
        };
        worker.postMessage(request);
      });
      assert.equal(results.runAllowed, "ok");
      assert.equal(results["run /usr/bin/id"], "NotCapable");
      assert.equal(results["run /bin/sh"], "NotCapable");
      assert.equal(results["run /usr/bin/env"], "NotCapable");
    } finally {
      worker.terminate();
    }
  } finally {
    await Deno.remove(ops, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});

/** echo_words runs anywhere on web-1, and on web-2 only with the word "hello". */
const SSH_POLICY = `version: 1
rules:
  - id: others
    effect: allow
    operations: [sudo_demo, exists_then_echo]
    targets: ["*"]
  - id: echo-on-web-1
    effect: allow
    operations: [echo_words]
    targets: [web-1]
  - id: echo-hello-on-web-2
    effect: allow
    operations: [echo_words]
    targets: [web-2]
    params:
      word: { enum: [hello] }
`;

const SSH_OPS: Record<string, string> = {
  "echo_words.yaml": `version: 1
name: echo_words
title: Echo a word
description: Prints the word twice.
target_types: [ssh]
capability: system:read
mutates: false
parameters:
  word: { type: string, pattern: ".{1,200}", max_length: 200 }
parse: lines
check:
  program: printf
  args: ["would echo %s\\\\n", "{{word}}"]
steps:
  - program: printf
    args: ["%s\\\\n", "{{word}}", "w={{word}}"]
`,
  "sudo_demo.yaml": `version: 1
name: sudo_demo
title: Sudo per step
description: One step without sudo, one with.
target_types: [ssh]
capability: system:control
mutates: true
steps:
  - program: printf
    args: [a]
  - program: printf
    args: [b]
    sudo: true
`,
  "exists_then_echo.yaml": `version: 1
name: exists_then_echo
title: Exists, then echo
description: Tests that a file exists, then prints reached.
target_types: [ssh]
capability: file:read
mutates: false
parameters:
  path: { type: path }
steps:
  - program: test
    args: ["-f", "{{path}}"]
  - program: printf
    args: [reached]
`,
};

Deno.test({
  name:
    "operator-defined operations over real sshd: injection attempts stay data, sudo is per step, dry run runs the check",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const ops = await tempDirWith(SSH_OPS);
    const marker = `/tmp/tailops-pwned-${crypto.randomUUID()}`;
    let fleet: Fleet | undefined;
    try {
      fleet = await startFleet({
        instances: 1,
        targets: (filesDir) => [
          {
            id: "web-1",
            instance: 0,
            tags: ["web"],
            capabilities: ["system:read", "system:control", "file:read"],
            sudo: "[sudo_demo]",
            roots: [filesDir],
          },
          {
            id: "web-2",
            instance: 0,
            tags: ["web"],
            capabilities: ["system:read", "system:control", "file:read"],
            roots: [filesDir],
          },
        ],
        policy: SSH_POLICY,
        env: { TAILOPS_OPERATIONS: ops },
      });
      const client = fleet.client;

      await t.step(
        "policy rules limit an operator operation's parameters like a built-in's",
        async () => {
          const denied = await only(client, "echo_words", { target: "web-2", word: "a;id" });
          assert.equal(denied.status, "denied", JSON.stringify(denied));
          assert.match(denied.error?.message ?? "", /word/);
          const allowed = await only(client, "echo_words", { target: "web-2", word: "hello" });
          assert.equal(allowed.status, "ok", JSON.stringify(allowed));
        },
      );

      await t.step("shell syntax, quotes and globs arrive as one argv element each", async () => {
        const words = [
          `a;touch ${marker}`,
          `$(touch ${marker})`,
          `\`touch ${marker}\``,
          `' ; touch ${marker} ; '`,
          `" && touch ${marker}`,
          `a|touch ${marker}`,
          `a\\`,
          "*",
          "$HOME",
          "~",
          "é✓",
        ];
        for (const word of words) {
          const entry = await only(client, "echo_words", { target: "web-1", word });
          assert.equal(entry.status, "ok", JSON.stringify(entry));
          assert.deepEqual((entry.data as { result: string[] }).result, [word, `w=${word}`]);
        }
        await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
      });

      await t.step(
        "newlines, NUL, a leading dash and overlong words are refused before the gate",
        async () => {
          const before = (await readAudit(fleet!.gateway.auditFile)).length;
          for (const word of [`a\ntouch ${marker}`, "a\0b", "-v", "--help", "x".repeat(201)]) {
            const called = await call(client, "echo_words", { target: "web-1", word });
            assert.equal(called.isError, true, JSON.stringify(word));
            assert.match(called.text, /Invalid word|Too big|expected/, called.text);
          }
          const after = await readAudit(fleet!.gateway.auditFile);
          assert.ok(!after.slice(before).some((r) => r.event === "decided"));
          await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
        },
      );

      await t.step("dry run shows the quoted remote line and the check step's output", async () => {
        const entry = await only(client, "echo_words", {
          target: "web-1",
          word: "a;id",
          dry_run: true,
        });
        assert.equal(entry.status, "planned");
        const plan = entry.plan as {
          remote_command_lines: string[];
          check: { exit_code: number; stdout: string; plan: { remote_command_lines: string[] } };
        };
        assert.deepEqual(plan.remote_command_lines, ["exec 'printf' '%s\\n' 'a;id' 'w=a;id'"]);
        assert.deepEqual(plan.check.plan.remote_command_lines, [
          "exec 'printf' 'would echo %s\\n' 'a;id'",
        ]);
        assert.equal(plan.check.exit_code, 0);
        assert.equal(plan.check.stdout, "would echo a;id\n");
      });

      await t.step(
        "sudo applies per step, only where the target's sudo list names the operation",
        async () => {
          const called = await call(client, "sudo_demo", { targets: "tag:web", dry_run: true });
          const lines = Object.fromEntries(
            called.results.map((
              r,
            ) => [r.target, (r.plan as { remote_command_lines: string[] }).remote_command_lines]),
          );
          assert.deepEqual(lines, {
            "web-1": ["exec 'printf' 'a'", "exec sudo -n -- 'printf' 'b'"],
            "web-2": ["exec 'printf' 'a'", "exec 'printf' 'b'"],
          });
        },
      );

      await t.step("steps stop at the first that fails; fan-out reports each target", async () => {
        const ok = await call(client, "exists_then_echo", {
          targets: "tag:web",
          path: `${fleet!.filesDir}/hello.txt`,
        });
        assert.deepEqual(ok.results.map((r) => [r.target, r.status]), [["web-1", "ok"], [
          "web-2",
          "ok",
        ]]);
        assert.equal((ok.results[0].data as { result: string }).result, "reached");
        const missing = await only(client, "exists_then_echo", {
          target: "web-1",
          path: `${fleet!.filesDir}/absent`,
        });
        assert.equal(missing.status, "failed");
        assert.match(missing.error?.message ?? "", /^Step 1 of 2 \(test\) exited with code 1/);
      });
    } finally {
      await fleet?.close();
      await Deno.remove(ops, { recursive: true });
    }
  },
});

Deno.test("check-config lists operator operations and reports a bad file at FILE:LINE:COLUMN", async () => {
  const ops = await tempDirWith({
    "os_kernel.yaml": LOCAL_OPS["os_kernel.yaml"],
    "bad.yaml": LOCAL_OPS["os_kernel.yaml"].replace("name: os_kernel", "name: bad_one")
      .replace("program: uname", "program: sh"),
  });
  try {
    const bad = await runCli(["check-config", "--operations", ops]);
    assert.equal(bad.code, 1);
    assert.deepEqual(bad.ownStderr, [
      `${ops}/bad.yaml:9:14: Invalid program "sh": a shell, interpreter or program launcher ` +
      "would run parameter text as a program (at steps[0].program)",
    ]);
    await Deno.remove(`${ops}/bad.yaml`);
    const good = await runCli(["check-config"], { env: { TAILOPS_OPERATIONS: ops } });
    assert.equal(good.code, 0, good.stderr);
    assert.match(
      good.stdout,
      /operations: 1 operator-defined\n {2}os_kernel: system:read on local,ssh; runs uname\n/,
    );
  } finally {
    await Deno.remove(ops, { recursive: true });
  }
});
