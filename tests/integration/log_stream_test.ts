/**
 * Long-running output as MCP log messages, end to end: real sshd targets, a
 * command that prints its progress slowly (an operator-defined operation
 * with `stream_output`), the real gateway over HTTP (both eras) and stdio,
 * and the official SDK client. Messages arrive while the command runs, in
 * order, per target; `logging/setLevel` above `info` (2025) or no log level
 * in the request (2026-07-28) stops them; a known secret the command prints
 * in several encodings never reaches the client.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Fleet, OBSERVE_EVERYTHING, startFleet } from "./_fleet.ts";
import { type Client, connectHttp, type Era, startGateway, startStdioGateway } from "./_gateway.ts";

type McpClient = InstanceType<typeof Client>;

const TOKEN = "tok-Zq9/x+Yw_Sensitive-Credential~0042";

const bytes = (text: string) => new TextEncoder().encode(text);
const base64 = (data: Uint8Array) => btoa(String.fromCharCode(...data));
const hex = (data: Uint8Array) => Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");

/** The credential as a careless program might print it. */
const FORMS = [
  TOKEN,
  base64(bytes(TOKEN)),
  base64(new Uint8Array([0x41, ...bytes(TOKEN)])),
  hex(bytes(TOKEN)),
  hex(bytes(TOKEN)).toUpperCase(),
  encodeURIComponent(TOKEN),
  [...TOKEN].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join(""),
];

/** A POSIX-quoted shell word. */
const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

const SCRIPT = [
  "#!/bin/sh",
  "for i in 1 2 3 4 5; do",
  '  echo "step $i of 5"',
  "  sleep 0.2",
  "done",
  ...FORMS.map((form, i) => `printf '%s\\n' ${quote(`form ${i}: ${form}`)}`),
  // A terminal escape inside the credential must not hide it.
  `printf 'colour: %s\\033[1m%s\\n' ${quote(TOKEN.slice(0, 10))} ${quote(TOKEN.slice(10))}`,
  "echo 'warning: almost done' >&2",
  "echo done",
].join("\n") + "\n";

const OPERATION = (script: string) =>
  [
    "version: 1",
    "name: slow_report",
    "title: Slow report",
    "description: Prints its progress slowly",
    "target_types: [ssh]",
    "capability: system:read",
    "mutates: false",
    "stream_output: true",
    "steps:",
    `  - program: ${script}`,
    "    args: []",
  ].join("\n") + "\n";

const POLICY = [
  ...OBSERVE_EVERYTHING,
  "  - id: refresh",
  "    operations: [package_refresh]",
  "    targets: [web-1]",
].join("\n") + "\n";

interface LogMessage {
  level: string;
  logger?: string;
  data: { target?: string; stream?: string; text?: string; note?: string };
}

/** Whether a call is running, so a message can say it came before the result. */
const calling = { now: false };
/** Messages that arrived while a call was still running. */
const early = new WeakSet<LogMessage>();

/** Collects the client's log messages. */
function listen(client: McpClient): LogMessage[] {
  const messages: LogMessage[] = [];
  client.setNotificationHandler("notifications/message", (notification) => {
    const message = notification.params as LogMessage;
    if (calling.now) early.add(message);
    messages.push(message);
  });
  return messages;
}

/** Waits (bounded) until `done` holds; the SDK may hand a notification over after the result. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(done(), `timed out waiting for ${what}`);
}

async function settle(client: McpClient): Promise<void> {
  await client.listTools();
  await new Promise((r) => setTimeout(r, 500));
}

function outputOf(messages: LogMessage[], target: string, stream = "stdout"): string {
  return messages.filter((m) => m.data.target === target && m.data.stream === stream)
    .map((m) => m.data.text).join("\n");
}

async function slowReport(client: McpClient, meta?: Record<string, unknown>) {
  calling.now = true;
  const result = await client.callTool({
    name: "slow_report",
    arguments: { targets: ["web-1", "web-2"] },
    ...(meta ? { _meta: meta } : {}),
  }).finally(() => calling.now = false);
  assert.ok(!result.isError, JSON.stringify(result.content));
  return result;
}

/** The checks every transport shares, for a client that receives `info`. */
async function checkStreamed(
  messages: LogMessage[],
  client: McpClient,
  meta?: Record<string, unknown>,
) {
  const result = await slowReport(client, meta);
  await until(
    () => ["web-1", "web-2"].every((t) => outputOf(messages, t).endsWith("done")),
    "the last line of both targets",
  );
  // The command prints for a second: its first lines come long before its result.
  assert.ok(messages.some((m) => early.has(m) && /^step 1 /.test(m.data.text ?? "")));
  for (const target of ["web-1", "web-2"]) {
    const out = outputOf(messages, target);
    assert.match(out, /^step 1 of 5\nstep 2 of 5\nstep 3 of 5\nstep 4 of 5\nstep 5 of 5\n/);
    assert.equal(outputOf(messages, target, "stderr"), "warning: almost done");
    assert.equal(out.match(/\[REDACTED\]/g)?.length, FORMS.length + 1, out);
  }
  for (const message of messages) {
    assert.equal(message.level, "info");
    assert.equal(message.logger, "tailops/slow_report");
  }
  const everything = JSON.stringify({ messages, result });
  for (const form of FORMS) assert.ok(!everything.includes(form), `${form} leaked`);
  assert.ok(!everything.includes("Sensitive-Credential"), "a piece of the credential leaked");
}

async function fleet(ops: string): Promise<Fleet> {
  return await startFleet({
    instances: 2,
    targets: () => [
      { id: "web-1", instance: 0, capabilities: ["system:read", "system:admin"] },
      { id: "web-2", instance: 1, capabilities: ["system:read"] },
    ],
    policy: POLICY,
    env: { TAILOPS_OPERATIONS: ops, TAILOPS_IT_TOKEN: TOKEN },
    extraTargets: [
      "  - id: api",
      "    type: http",
      "    capabilities: [http:read]",
      "    connection:",
      "      base_url: http://127.0.0.1:9",
      "      methods: [GET]",
      '      paths: ["/**"]',
      '      auth: { bearer: "${TAILOPS_IT_TOKEN}" }',
    ],
  });
}

async function opsDir(): Promise<{ dir: string; files: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-logops-" });
  await Deno.chmod(dir, 0o755);
  const script = `${dir}/slow_report.sh`;
  await Deno.writeTextFile(script, SCRIPT, { mode: 0o755 });
  await Deno.chmod(script, 0o755);
  await Deno.mkdir(`${dir}/ops`);
  await Deno.writeTextFile(`${dir}/ops/slow_report.yaml`, OPERATION(script));
  return {
    dir,
    files: `${dir}/ops`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("a long-running command's output reaches 2025 HTTP sessions as log messages until setLevel raises the bar", async (t) => {
  await using ops = await opsDir();
  await using running = await fleet(ops.files);
  const messages = listen(running.client);

  await t.step(
    "while it runs, per target, in order, with the credential masked in every form",
    async () => {
      await checkStreamed(messages, running.client);
    },
  );

  await t.step(
    "a built-in long-running operation streams too, without the gateway's own marker",
    async () => {
      messages.length = 0;
      const result = await running.client.callTool({
        name: "package_refresh",
        arguments: { target: "web-1" },
      });
      // Not root on the test host: apt-get refuses, and says why on stderr.
      await until(() => /lock/.test(outputOf(messages, "web-1", "stderr")), "apt-get's complaint");
      assert.ok(!JSON.stringify(messages).includes("tailops:0"), JSON.stringify(messages));
      assert.ok(result.content);
    },
  );

  await t.step("a short tool that does not stream sends nothing", async () => {
    messages.length = 0;
    await running.client.callTool({ name: "system_status", arguments: { target: "web-1" } });
    await settle(running.client);
    assert.deepEqual(messages, []);
  });

  await t.step("setLevel warning stops them, setLevel info brings them back", async () => {
    await running.client.setLoggingLevel("warning");
    messages.length = 0;
    await slowReport(running.client);
    await settle(running.client);
    assert.deepEqual(messages, []);
    await running.client.setLoggingLevel("info");
    await checkStreamed(messages, running.client);
  });
});

Deno.test("2026-07-28 requests get log messages only when they carry a log level", async () => {
  await using ops = await opsDir();
  await using running = await fleet(ops.files);
  const client = await connectHttp(running.gateway, running.gateway.token, { era: "2026" as Era });
  try {
    const messages = listen(client);
    await slowReport(client);
    await settle(client);
    assert.deepEqual(messages, [], "no log level in the request: no messages");
    await slowReport(client, { "io.modelcontextprotocol/logLevel": "error" });
    await settle(client);
    assert.deepEqual(messages, [], "a level above info: no messages");
    await checkStreamed(messages, client, { "io.modelcontextprotocol/logLevel": "info" });
  } finally {
    await client.close();
  }
});

Deno.test("stdio sessions get the same log messages and honour setLevel", async () => {
  await using ops = await opsDir();
  await using running = await fleet(ops.files);
  await using stdio = await startStdioGateway({
    targets: await Deno.readTextFile(`${running.gateway.workDir}/targets.yaml`),
    policy: POLICY,
    env: { TAILOPS_OPERATIONS: ops.files, TAILOPS_IT_TOKEN: TOKEN },
  });
  const messages = listen(stdio.client);
  await checkStreamed(messages, stdio.client);
  await stdio.client.setLoggingLevel("error");
  messages.length = 0;
  await slowReport(stdio.client);
  await settle(stdio.client);
  assert.deepEqual(messages, []);
});

Deno.test("a 2026-07-28 client over stdio opts in per request, and a --stateless 2025 client gets none", async (t) => {
  await using ops = await opsDir();
  await using running = await fleet(ops.files);
  const targets = await Deno.readTextFile(`${running.gateway.workDir}/targets.yaml`);
  const env = { TAILOPS_OPERATIONS: ops.files, TAILOPS_IT_TOKEN: TOKEN };
  await t.step("stdio, 2026-07-28", async () => {
    await using stdio = await startStdioGateway({ targets, policy: POLICY, env, era: "2026" });
    const messages = listen(stdio.client);
    await slowReport(stdio.client);
    await settle(stdio.client);
    assert.deepEqual(messages, []);
    await checkStreamed(messages, stdio.client, { "io.modelcontextprotocol/logLevel": "debug" });
  });
  await t.step(
    "HTTP, 2025 era, --stateless: no session to set a level on, so no messages",
    async () => {
      await using gateway = await startGateway({
        targets,
        policy: POLICY,
        env: { ...env, TAILOPS_STATELESS: "true" },
      });
      const client = await connectHttp(gateway);
      try {
        const messages = listen(client);
        await slowReport(client);
        await settle(client);
        assert.deepEqual(messages, []);
      } finally {
        await client.close();
      }
    },
  );
});
