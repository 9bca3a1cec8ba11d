import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { parseTargets } from "../../src/config/load.ts";
import type { Registry } from "../../src/config/registry.ts";
import type { SshTarget, Target } from "../../src/config/targets_schema.ts";
import { type ExecOutcome, ExecutorHost } from "../../src/exec/host.ts";
import type {
  ExecResult,
  FsListPlan,
  FsListResult,
  FsReadResult,
  Plan,
} from "../../src/exec/plan.ts";
import { SSH_KIND, type SshWorkerConfig } from "../../src/exec/ssh_kind.ts";
import { generateClientKey, SshdTestbed } from "../../scripts/testbed/sshd.ts";
import { run as runProgram } from "../../scripts/testbed/_sshd_util.ts";
import { execPlan } from "./_ssh_fixture.ts";
import { BUSYBOX, busyboxPath } from "./_busybox_shell.ts";

const PASSWORD = "tr0ub4dor&3 swordfish";
const WRONG_PASSWORD = "hunter2 is not it";

/** Starts `ssh-agent -D -a socket` in the foreground and waits for its socket. */
async function startAgent(socket: string): Promise<Deno.ChildProcess> {
  const agent = new Deno.Command("ssh-agent", {
    args: ["-D", "-a", socket],
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if ((await Deno.lstat(socket).catch(() => null))?.isSocket) return agent;
    await new Promise((r) => setTimeout(r, 10));
  }
  agent.kill("SIGKILL");
  await agent.status;
  throw new Error(`Cannot start ssh-agent: expected ${socket} within 5 s, found nothing`);
}

async function stopAgent(agent: Deno.ChildProcess | undefined): Promise<void> {
  if (!agent) return;
  try {
    Deno.kill(agent.pid, "SIGTERM");
  } catch {
    // Already gone.
  }
  await agent.status;
}

async function addKey(socket: string, keyPath: string): Promise<void> {
  const out = await new Deno.Command("ssh-add", {
    args: ["-q", keyPath],
    clearEnv: true,
    env: { SSH_AUTH_SOCK: socket },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`Cannot add a key to the agent: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** One ssh target's YAML; `auth` lines replace the usual `key:`. */
function target(
  id: string,
  instance: { host: string; port: number },
  pin: string,
  auth: string[],
  extra: string[] = [],
): string[] {
  return [
    `  - id: ${id}`,
    "    type: ssh",
    "    capabilities: [system:read]",
    "    connection:",
    `      host: ${instance.host}`,
    `      port: ${instance.port}`,
    "      user: tailops-test",
    `      host_key: ${pin}`,
    "      connect_timeout_ms: 5000",
    ...auth.map((line) => `      ${line}`),
    ...extra,
  ];
}

/** Runs a one-line probe module in a worker with the given permissions. */
async function probe(
  code: string,
  permissions: Deno.PermissionOptionsObject,
  input: unknown,
): Promise<Record<string, string>> {
  const url = URL.createObjectURL(new Blob([code], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module", deno: { permissions } });
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      worker.postMessage(input);
    });
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}

const UNIX_PROBE = `
self.onmessage = async (event) => {
  const results = {};
  for (const [name, path] of Object.entries(event.data)) {
    try {
      (await Deno.connect({ transport: "unix", path })).close();
      results[name] = "ok";
    } catch (error) {
      results[name] = error.name;
    }
  }
  self.postMessage(results);
};`;

Deno.test({
  name: "ssh executor logs in with a password or an agent and lists directories on busybox hosts",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "tailops-ssh-auth-" });
    await Deno.chmod(dir, 0o755);
    const records: LogRecord[] = [];
    let testbed: SshdTestbed | undefined;
    let host: ExecutorHost | undefined;
    const agents: Deno.ChildProcess[] = [];
    let other: Deno.UnixListener | undefined;
    try {
      await configure({
        reset: true,
        sinks: { capture: (record) => void records.push(record) },
        loggers: [
          { category: ["tailops"], lowestLevel: "debug", sinks: ["capture"] },
          { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
        ],
      });
      const [agentKey, plainKey] = await Promise.all([
        generateClientKey(dir, "ed25519", { name: "id_agent" }),
        generateClientKey(dir, "ed25519", { name: "id_plain" }),
      ]);
      const bin = `${dir}/busybox-bin`;
      await Deno.mkdir(bin, { mode: 0o755 });
      const setPath = await busyboxPath(bin);
      testbed = await SshdTestbed.start({
        authorizedKeys: [agentKey.publicKey, plainKey.publicKey],
        password: PASSWORD,
        count: 2,
      });
      // Instance 1 serves sessions whose PATH holds busybox applets only.
      await Deno.writeTextFile(testbed.instances[1].configPath, `${setPath}\n`, { append: true });
      await testbed.restart(1);

      const agentSock = `${dir}/agent.sock`;
      const emptySock = `${dir}/empty-agent.sock`;
      agents.push(await startAgent(agentSock));
      agents.push(await startAgent(emptySock));
      await addKey(agentSock, agentKey.path);
      const goneSock = `${dir}/no-agent-here.sock`;
      const otherSock = `${dir}/other.sock`;
      other = Deno.listen({ transport: "unix", path: otherSock });

      const base = `${dir}/files`;
      const root = `${base}/root`;
      await Deno.mkdir(`${root}/sub dir`, { recursive: true });
      await Deno.mkdir(`${base}/outside`);
      await Deno.writeTextFile(`${root}/hello.txt`, "hello, wörld\n");
      await Deno.writeTextFile(`${root}/empty`, "");
      await Deno.writeTextFile(`${root}/.hidden`, "shh");
      await Deno.writeTextFile(`${root}/new\nline`, "12345");
      await Deno.chmod(`${root}/hello.txt`, 0o664);
      await Deno.writeTextFile(`${base}/outside/secret.txt`, "do not read\n");
      await Deno.symlink("hello.txt", `${root}/inside-link`);
      await Deno.symlink(`${base}/outside`, `${root}/escape-dir`);
      await Deno.symlink(`${base}/outside/secret.txt`, `${root}/escape`);
      await Deno.utime(`${root}/hello.txt`, 1_700_000_000, 1_700_000_000.75);
      await Deno.utime(`${root}/sub dir`, 1_600_000_000, 1_600_000_000);
      for (const path of [base, root, `${root}/sub dir`, `${base}/outside`]) {
        await Deno.chmod(path, 0o755);
      }

      const [gnu, busy] = testbed.instances;
      const pin = testbed.hostKeys[0].fingerprint;
      const files = ["    files:", `      roots: [${root}]`];
      const yaml = [
        "version: 1",
        "targets:",
        ...target("password", gnu, pin, ["password: ${PASSWORD}"]),
        ...target("password-wrong", gnu, pin, ["password: ${WRONG_PASSWORD}"]),
        ...target("agent", gnu, pin, [`agent: ${agentSock}`]),
        ...target("agent-empty", gnu, pin, [`agent: ${emptySock}`]),
        ...target("agent-gone", gnu, pin, [`agent: ${goneSock}`]),
        ...target("gnu", gnu, pin, ["key: ${PLAIN}"], files),
        ...target("busybox", busy, pin, ["key: ${PLAIN}"], files),
      ].join("\n");
      const env: Record<string, string> = {
        PASSWORD,
        WRONG_PASSWORD,
        PLAIN: plainKey.privateKey,
      };
      const registry: Registry = await parseTargets(yaml, "auth.yaml", {
        secrets: { env: (name) => env[name], readFile: (path) => Deno.readTextFile(path) },
      });
      const executor = host = new ExecutorHost(registry, {
        kinds: [SSH_KIND],
        context: { programs: [] },
        watchdogGraceMs: 3_000,
      });
      const runOn = (id: string, plan: Plan = execPlan([["echo", id]])): Promise<ExecOutcome> =>
        executor.run(registry.get(id) as Target, plan);
      const ok = async (id: string) => {
        const outcome = await runOn(id);
        assert.ok(outcome.ok, `${id}: ${JSON.stringify(outcome)}`);
        assert.equal((outcome.result as ExecResult).commands[0].stdout, `${id}\n`);
      };
      const authFails = async (id: string) => {
        const outcome = await runOn(id);
        assert.ok(!outcome.ok, `${id} unexpectedly succeeded`);
        assert.equal(outcome.error.code, "auth_failed", outcome.error.message);
        assert.equal(
          outcome.error.message,
          `Cannot log in to ${gnu.host}:${gnu.port} as "tailops-test": the server refused every configured credential`,
        );
        assert.ok(outcome.durationMs < 5_000, `${id} took ${outcome.durationMs} ms`);
        return outcome;
      };
      const list = (id: string, path: string) =>
        runOn(
          id,
          {
            kind: "fs_list",
            path,
            roots: [root],
            maxEntries: 100,
            timeoutMs: 5_000,
            outputCapBytes: 1 << 20,
          } satisfies FsListPlan,
        );

      await t.step("the password reaches the worker only through its ${ENV} secret", () => {
        const [config] = (SSH_KIND.config([registry.get("password") as SshTarget], {
          programs: [],
        }) as SshWorkerConfig).targets;
        assert.equal(config.password, PASSWORD);
        assert.equal(config.privateKey, undefined);
        assert.ok(!yaml.includes(PASSWORD), "the YAML must hold a reference, not the password");
      });

      await t.step("the right password logs in", () => ok("password"));

      await t.step("a wrong password fails with auth_failed and is never shown", async () => {
        const outcome = await authFails("password-wrong");
        const seen = JSON.stringify(outcome) + JSON.stringify(records.map((r) => ({
          message: r.message,
          raw: r.rawMessage,
          properties: r.properties,
        })));
        assert.ok(records.length > 0, "expected the worker to log something");
        for (const secret of [PASSWORD, WRONG_PASSWORD]) {
          assert.ok(!seen.includes(secret), `a password appeared in a message or log record`);
        }
        assert.ok(
          records.some((r) => r.level === "warning" && r.properties.code === "auth_failed"),
          "expected a warning log for the failed login",
        );
      });

      await t.step(
        "an agent holding an authorized key logs in without a key secret",
        () => ok("agent"),
      );

      await t.step("an agent holding no key fails with auth_failed", async () => {
        await authFails("agent-empty");
      });

      await t.step("an agent socket nobody listens on fails with auth_failed", async () => {
        const outcome = await runOn("agent-gone");
        assert.ok(!outcome.ok, "agent-gone unexpectedly succeeded");
        assert.deepEqual(outcome.error, {
          code: "auth_failed",
          message: `Cannot log in to ${gnu.host}:${gnu.port}: the SSH agent could not be used`,
        });
      });

      await t.step("the worker may open the configured agent sockets and no other", async () => {
        const targets = registry.targets.filter((t): t is SshTarget => t.type === "ssh");
        const permissions = SSH_KIND.permissions(targets, { programs: [] });
        assert.deepEqual(permissions, {
          env: false,
          ffi: false,
          import: false,
          net: [
            `${gnu.host}:${gnu.port}`,
            `${busy.host}:${busy.port}`,
            `unix:${agentSock}`,
            `unix:${emptySock}`,
            `unix:${goneSock}`,
          ],
          read: [agentSock, emptySock, goneSock],
          run: false,
          sys: false,
          write: [agentSock, emptySock, goneSock],
        });
        const results = await probe(UNIX_PROBE, permissions, {
          agent: agentSock,
          other: otherSock,
        });
        assert.deepEqual(results, { agent: "ok", other: "NotCapable" });
      });

      await t.step("the busybox host's find lacks -printf", async () => {
        const outcome = await runOn(
          "busybox",
          execPlan([
            ["readlink", "-f", "/proc/self/exe"],
            ["find", "/", "-maxdepth", "0", "-printf", ""],
          ]),
        );
        assert.ok(outcome.ok, JSON.stringify(outcome));
        const [readlink, find] = (outcome.result as ExecResult).commands;
        assert.equal(readlink.stdout, `${await Deno.realPath(BUSYBOX)}\n`);
        assert.notEqual(find.exitCode, 0);
        assert.match(find.stderr, /unrecognized: -printf/);
      });

      await t.step("fs_list on busybox returns names, types, sizes, modes and mtimes", async () => {
        const outcome = await list("busybox", root);
        assert.ok(outcome.ok, JSON.stringify(outcome));
        const result = outcome.result as FsListResult;
        assert.equal(result.path, root);
        assert.equal(result.truncated, false);
        const expected = await Promise.all(
          [
            ".hidden",
            "empty",
            "escape",
            "escape-dir",
            "hello.txt",
            "inside-link",
            "new\nline",
            "sub dir",
          ]
            .map(async (name) => {
              const info = await Deno.lstat(`${root}/${name}`);
              return {
                name,
                type: info.isSymlink ? "symlink" : info.isDirectory ? "directory" : "file",
                size: info.size,
                mtime: new Date(Math.floor(info.mtime!.getTime() / 1000) * 1000).toISOString(),
                mode: (info.mode! & 0o7777).toString(8).padStart(4, "0"),
              };
            }),
        );
        assert.deepEqual(result.entries, expected);
        const hello = result.entries.find((e) => e.name === "hello.txt")!;
        assert.deepEqual([hello.size, hello.mode, hello.mtime], [
          14,
          "0664",
          "2023-11-14T22:13:20.000Z",
        ]);
      });

      await t.step(
        "fs_list on busybox agrees with GNU find apart from sub-second mtimes",
        async () => {
          const [fromGnu, fromBusybox] = await Promise.all([
            list("gnu", root),
            list("busybox", root),
          ]);
          assert.ok(fromGnu.ok && fromBusybox.ok);
          const seconds = (r: ExecOutcome) =>
            (r.ok ? (r.result as FsListResult).entries : []).map((e) => ({
              ...e,
              mtime: e.mtime &&
                new Date(Math.floor(Date.parse(e.mtime) / 1000) * 1000).toISOString(),
            }));
          assert.deepEqual(seconds(fromBusybox), seconds(fromGnu));
        },
      );

      await t.step("fs_list of an empty directory on busybox returns no entries", async () => {
        const outcome = await list("busybox", `${root}/sub dir`);
        assert.ok(outcome.ok, JSON.stringify(outcome));
        assert.deepEqual((outcome.result as FsListResult).entries, []);
      });

      await t.step("on busybox a symlink escaping the roots is still refused", async () => {
        const outcome = await list("busybox", `${root}/escape-dir`);
        assert.ok(!outcome.ok);
        assert.equal(outcome.error.code, "forbidden");
        assert.doesNotMatch(JSON.stringify(outcome), /secret\.txt/);
        const read = await runOn("busybox", {
          kind: "fs_read",
          path: `${root}/escape`,
          roots: [root],
          offset: 0,
          timeoutMs: 5_000,
          outputCapBytes: 1 << 20,
        });
        assert.ok(!read.ok);
        assert.equal(read.error.code, "forbidden");
        assert.doesNotMatch(JSON.stringify(read), /do not read/);
      });

      await t.step("fs_read on busybox follows an inside symlink and reads the file", async () => {
        const outcome = await runOn("busybox", {
          kind: "fs_read",
          path: `${root}/inside-link`,
          roots: [root],
          offset: 7,
          timeoutMs: 5_000,
          outputCapBytes: 1 << 20,
        });
        assert.ok(outcome.ok, JSON.stringify(outcome));
        const result = outcome.result as FsReadResult;
        assert.deepEqual([result.path, result.size, result.content, result.truncated], [
          `${root}/hello.txt`,
          14,
          "wörld\n",
          false,
        ]);
      });
    } finally {
      host?.close();
      for (const agent of agents) await stopAgent(agent);
      other?.close();
      await testbed?.stop();
      // Password login was for this test only: lock the password again.
      await runProgram("usermod", ["-p", "*", "tailops-test"]).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await reset();
    }
  },
});
