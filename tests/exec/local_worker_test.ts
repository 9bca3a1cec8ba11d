/**
 * The local executor's sandbox and supervision: a probe worker created with
 * exactly LOCAL_KIND's permissions shows what Deno refuses from inside, and
 * the real worker, run through ExecutorHost, shows missing programs, roots,
 * timeouts, output caps, a cleared environment and crash recovery.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import type { LocalTarget } from "../../src/config/targets_schema.ts";
import { type ExecOutcome, ExecutorHost } from "../../src/exec/host.ts";
import {
  LOCAL_FILE_HELPER,
  LOCAL_KIND,
  resolveProgram,
  SUBPROCESS_ENV,
} from "../../src/exec/local_kind.ts";
import type { ExecPlan, ExecResult, FsReadResult, Plan } from "../../src/exec/plan.ts";
import { NO_PERMISSIONS, type WorkerKind } from "../../src/exec/worker_kind.ts";
import type { ProbeRequest } from "./_probe_worker.ts";

const PROBE = new URL("./_probe_worker.ts", import.meta.url);

/** A registry with one local target whose only file root is `root`. */
async function localRegistry(root: string) {
  return await parseTargets(
    [
      "version: 1",
      "targets:",
      "  - id: local",
      "    type: local",
      "    capabilities: [system:read, file:read]",
      "    files:",
      `      roots: [${root}]`,
    ].join("\n"),
    "test.yaml",
  );
}

/** A temp root with `inside.txt` and a symlink `escape` → /etc/passwd. */
async function makeRoot(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "tailops-local-" });
  await Deno.writeTextFile(`${root}/inside.txt`, "inside\n");
  await Deno.symlink("/etc/passwd", `${root}/escape`);
  return root;
}

function exec(commands: string[][], limits: Partial<ExecPlan> = {}): ExecPlan {
  return {
    kind: "exec",
    commands,
    mode: "all",
    sudo: false,
    timeoutMs: 10_000,
    outputCapBytes: 1024 * 1024,
    ...limits,
  };
}

function expectOk(outcome: ExecOutcome) {
  if (!outcome.ok) {
    assert.fail(`expected ok, found ${outcome.error.code}: ${outcome.error.message}`);
  }
  return outcome.result;
}

function expectFailure(outcome: ExecOutcome, code: string): string {
  if (outcome.ok) assert.fail(`expected ${code}, found ok: ${JSON.stringify(outcome.result)}`);
  assert.equal(outcome.error.code, code, outcome.error.message);
  return outcome.error.message;
}

Deno.test("LOCAL_KIND grants run for the resolved programs and read for the roots, nothing else", async () => {
  const root = await makeRoot();
  try {
    const registry = await localRegistry(root);
    const targets = registry.targets as LocalTarget[];
    const permissions = LOCAL_KIND.permissions(targets, { programs: ["uname", "cat", "dnf-none"] });
    assert.deepEqual(permissions, {
      ...NO_PERMISSIONS,
      run: [resolveProgram("uname"), resolveProgram("cat")],
      read: [root],
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("inside a worker with LOCAL_KIND's permissions, reads outside roots, other programs, network, env, writes and sys fail with NotCapable", async () => {
  const root = await makeRoot();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  const registry = await localRegistry(root);
  const permissions = LOCAL_KIND.permissions(registry.targets as LocalTarget[], {
    programs: ["uname", "cat"],
  });
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
        port: (listener.addr as Deno.NetAddr).port,
        allowedProgram: resolveProgram("uname")!,
        deniedPrograms: [
          "/bin/sh",
          "/usr/bin/id",
          "/usr/bin/env",
          resolveProgram("deno") ?? Deno.execPath(),
        ],
      };
      worker.postMessage(request);
    });
    assert.deepEqual(results, {
      // What the worker needs still works.
      readInsideRoot: "ok",
      runAllowed: "ok",
      // Deno checks the path as written, not where a symlink leads: a link under a root
      // reaches outside it. The worker's realPath check is what refuses this (see the
      // ExecutorHost test below), not the sandbox.
      readViaSymlink: "ok",
      // Everything else is refused by Deno itself.
      readOutsideRoot: "NotCapable",
      readPasswd: "NotCapable",
      statOutsideRoot: "NotCapable",
      net: "NotCapable",
      listen: "NotCapable",
      env: "NotCapable",
      envAll: "NotCapable",
      writeInsideRoot: "NotCapable",
      writeTmp: "NotCapable",
      sys: "NotCapable",
      "run /bin/sh": "NotCapable",
      "run /usr/bin/id": "NotCapable",
      "run /usr/bin/env": "NotCapable",
      [`run ${resolveProgram("deno") ?? Deno.execPath()}`]: "NotCapable",
    });
    assert.ok(!(await exists(`${root}/written.txt`)), "nothing was written");
  } finally {
    worker.terminate();
    listener.close();
    await accepting;
    await Deno.remove(root, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("the real local worker under ExecutorHost enforces programs, roots, timeouts, caps and a clean env", async (t) => {
  const root = await makeRoot();
  Deno.env.set("TAILOPS_SECRET_TEST", "do-not-leak-7f3a");
  const registry = await localRegistry(root);
  const target = registry.get("local")!;
  const host = new ExecutorHost(registry, {
    kinds: [LOCAL_KIND as WorkerKind],
    context: { programs: ["uname", "cat", "sleep", "head", "env", LOCAL_FILE_HELPER] },
  });
  try {
    await t.step("an allowlisted program runs with argv and no shell", async () => {
      const result = expectOk(
        await host.run(target, exec([["uname", "-s"], ["cat", "--", `${root}/inside.txt`]])),
      ) as ExecResult;
      assert.equal(result.commands[0].stdout, "Linux\n");
      assert.equal(result.commands[0].exitCode, 0);
      assert.equal(result.commands[1].stdout, "inside\n");
    });

    await t.step("a program outside the worker's configuration is program_missing", async () => {
      for (const program of ["id", "sh", "/bin/sh", "bash"]) {
        const message = expectFailure(await host.run(target, exec([[program]])), "program_missing");
        assert.match(message, /is not installed on this host/);
      }
      const none = await host.run(target, { ...exec([["dnf"], ["apk"]]), mode: "first_available" });
      expectFailure(none, "program_missing");
    });

    await t.step(
      "first_available chooses a command by its probe's exit, and says noneMessage for none",
      async () => {
        const pick = async (probes: (string[] | null)[]) => {
          const plan = { ...exec([["uname", "-s"], ["uname", "-m"]]), probes };
          const result = expectOk(
            await host.run(target, { ...plan, mode: "first_available" }),
          ) as ExecResult;
          return result.commands.map((c) => c.argv);
        };
        assert.deepEqual(await pick([["cat", "/nonexistent/tailops"], null]), [["uname", "-m"]]);
        assert.deepEqual(await pick([["uname"], null]), [["uname", "-s"]]);
        // A probe whose program the worker may not run does not choose its command.
        assert.deepEqual(await pick([["id"], null]), [["uname", "-m"]]);
        const none = await host.run(target, {
          ...exec([["dnf"], ["apk"]]),
          mode: "first_available",
          noneMessage: "Neither dnf nor apk is here",
        });
        assert.equal(expectFailure(none, "program_missing"), "Neither dnf nor apk is here");
      },
    );

    await t.step("fs_read outside the roots is forbidden, by the worker and by Deno", async () => {
      const inside = expectOk(
        await host.run(target, {
          kind: "fs_read",
          path: `${root}/inside.txt`,
          roots: [root],
          offset: 0,
          timeoutMs: 5_000,
          outputCapBytes: 1024,
        }),
      ) as FsReadResult;
      assert.equal(inside.content, "inside\n");
      const read = (path: string, roots: string[]): Plan => ({
        kind: "fs_read",
        path,
        roots,
        offset: 0,
        timeoutMs: 5_000,
        outputCapBytes: 1024,
      });
      // The plan's own roots exclude the path.
      expectFailure(await host.run(target, read("/etc/passwd", [root])), "forbidden");
      // A symlink under the root that leads outside.
      expectFailure(await host.run(target, read(`${root}/escape`, [root])), "forbidden");
      // A plan that lies about its roots still cannot read: the worker's sandbox refuses.
      expectFailure(await host.run(target, read("/etc/passwd", ["/etc"])), "forbidden");
      const list: Plan = {
        kind: "fs_list",
        path: "/etc",
        roots: ["/etc"],
        maxEntries: 10,
        timeoutMs: 5_000,
        outputCapBytes: 1024,
      };
      expectFailure(await host.run(target, list), "forbidden");
    });

    await t.step("a root that does not exist yet works once it is created", async () => {
      const later = `${root}/later`;
      const read: Plan = {
        kind: "fs_read",
        path: `${later}/file.txt`,
        roots: [later],
        offset: 0,
        timeoutMs: 5_000,
        outputCapBytes: 1024,
      };
      expectFailure(await host.run(target, read), "not_found");
      await Deno.mkdir(later);
      await Deno.writeTextFile(`${later}/file.txt`, "later\n");
      assert.equal((expectOk(await host.run(target, read)) as FsReadResult).content, "later\n");
      // A symlink escaping the (now cached) root is still refused.
      await Deno.symlink("/etc/passwd", `${later}/escape`);
      expectFailure(
        await host.run(target, { ...read, path: `${later}/escape` } as Plan),
        "forbidden",
      );
    });

    await t.step(
      "a command past its timeout is killed and reported as timeout within a second",
      async () => {
        const started = performance.now();
        const message = expectFailure(
          await host.run(target, exec([["sleep", "5"]], { timeoutMs: 300 })),
          "timeout",
        );
        const elapsed = performance.now() - started;
        assert.ok(elapsed < 1_300, `took ${Math.round(elapsed)} ms`);
        assert.match(message, /300 ms/);
        // The worker is still usable.
        expectOk(await host.run(target, exec([["uname"]])));
      },
    );

    await t.step("output over the cap is cut and marked, and bytes counts all of it", async () => {
      const result = expectOk(
        await host.run(
          target,
          exec([["head", "-c", "5000000", "/dev/zero"]], { outputCapBytes: 64 * 1024 }),
        ),
      ) as ExecResult;
      const [command] = result.commands;
      assert.equal(command.exitCode, 0);
      assert.equal(command.truncated, true);
      assert.equal(command.bytes, 5_000_000);
      assert.equal(command.stdout.length, 64 * 1024);
    });

    await t.step("subprocesses see only the fixed SUBPROCESS_ENV", async () => {
      const result = expectOk(await host.run(target, exec([["env"]]))) as ExecResult;
      const stdout = result.commands[0].stdout;
      const env = Object.fromEntries(
        stdout.trimEnd().split("\n").map((line) => {
          const eq = line.indexOf("=");
          return [line.slice(0, eq), line.slice(eq + 1)];
        }),
      );
      assert.deepEqual(env, { ...SUBPROCESS_ENV });
      assert.ok(!stdout.includes("do-not-leak-7f3a"));
    });
  } finally {
    host.close();
    Deno.env.delete("TAILOPS_SECRET_TEST");
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a worker crash fails the call in flight as crashed, and the next call gets a fresh worker", async () => {
  const root = await makeRoot();
  try {
    const registry = await localRegistry(root);
    const target = registry.get("local")!;
    const crashingKind: WorkerKind = {
      type: "local",
      module: PROBE,
      permissions: () => NO_PERMISSIONS,
      config: () => ({}),
    };
    const host = new ExecutorHost(registry, {
      kinds: [crashingKind],
      context: { programs: [] },
    });
    try {
      expectOk(await host.run(target, exec([["fine"]])));
      const [crashed, alongside] = await Promise.all([
        host.run(target, exec([["crash"]])),
        host.run(target, exec([["crash"]])),
      ]);
      const message = expectFailure(crashed, "crashed");
      assert.match(message, /crashed/);
      expectFailure(alongside, "crashed");
      expectOk(await host.run(target, exec([["fine"]])));
    } finally {
      host.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
