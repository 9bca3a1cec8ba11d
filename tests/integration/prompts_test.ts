/**
 * MCP prompts and completions through the real gateway process and the
 * official SDK client, over HTTP in both eras and over stdio: each identity
 * lists only the prompts whose tools it may use, a prompt's text names only
 * tools in that identity's tools/list, bad arguments get one line of
 * -32602, and completions never name a target, tag or group the caller
 * cannot see.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Client, type Era, ERAS, startStdioGateway } from "./_gateway.ts";
import { authGateway } from "./_auth_gateway.ts";

type McpClient = InstanceType<typeof Client>;

const TARGETS = [
  "version: 1",
  "targets:",
  "  - id: local",
  "    type: local",
  "    tags: [gw]",
  "    groups: [home]",
  "    capabilities: [system:read, system:admin, file:write]",
  "    files:",
  "      roots: [/tmp]",
  "      write_roots: [/tmp]",
  "  - id: engine",
  "    type: docker",
  "    tags: [containers]",
  "    capabilities: [container:read, container:control]",
  "    connection: { socket: /nonexistent/docker.sock }",
  "  - id: hidden-engine",
  "    type: docker",
  "    tags: [hidden-tag]",
  "    groups: [hidden-group]",
  "    capabilities: [container:read]",
  "    connection: { socket: /nonexistent/other.sock }",
  "  - id: secret-api",
  "    type: http",
  "    tags: [hidden-tag]",
  "    groups: [hidden-group]",
  "    capabilities: [http:read]",
  "    connection:",
  "      base_url: http://127.0.0.1:9",
  "      methods: [GET]",
  '      paths: ["/**"]',
].join("\n");

const POLICY = [
  "version: 1",
  "rules:",
  "  - id: everything",
  "    tiers: [observe, control, admin]",
  "identities:",
  "  roles:",
  "    viewer: { scopes: [system:read] }",
  "    ops: { scopes: [system:read, system:admin, file:write, container:read, container:control] }",
  "  bindings:",
  "    - { local: carol, roles: [viewer] }",
].join("\n");

const ALL_PROMPTS = [
  "investigate_high_cpu",
  "security_audit",
  "update_packages",
  "troubleshoot_container",
  "deploy_stack",
  "health_check",
];
const VIEWER_PROMPTS = ["investigate_high_cpu", "security_audit", "health_check"];
const HIDDEN = /secret-api|hidden|engine|containers/;

/** Tool names a prompt text calls (`name {`). */
function namedTools(text: string): string[] {
  return [...text.matchAll(/\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+) \{/g)].map((m) => m[1]);
}

async function promptNames(client: McpClient): Promise<string[]> {
  return (await client.listPrompts()).prompts.map((p) => p.name);
}

async function text(client: McpClient, name: string, args: Record<string, string>) {
  const got = await client.getPrompt({ name, arguments: args });
  const content = got.messages[0].content;
  assert.equal(content.type, "text");
  return (content as { text: string }).text;
}

async function rpcError(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: number; message: string };
  }
  assert.fail("expected a JSON-RPC error");
}

async function complete(client: McpClient, prompt: string, argument: string, value: string) {
  const got = await client.complete({
    ref: { type: "ref/prompt", name: prompt },
    argument: { name: argument, value },
  });
  return got.completion.values;
}

/** What every identity's checks share, for one connected client. */
async function checkViewer(client: McpClient) {
  assert.deepEqual(await promptNames(client), VIEWER_PROMPTS);
  const tools = new Set((await client.listTools()).tools.map((t) => t.name));
  for (const name of VIEWER_PROMPTS) {
    const guide = await text(client, name, { selector: "tag:gw" });
    assert.ok(guide.includes('"targets":"tag:gw"'), guide);
    const named = namedTools(guide);
    assert.ok(named.length > 0, guide);
    for (const tool of named) assert.ok(tools.has(tool), `${name} names ${tool}:\n${guide}`);
  }
  const unknown = await rpcError(client.getPrompt({ name: "no_such_prompt", arguments: {} }));
  const hidden = await rpcError(
    client.getPrompt({ name: "update_packages", arguments: { selector: "local" } }),
  );
  assert.equal(unknown.code, -32602);
  assert.equal(hidden.code, -32602);
  assert.equal(hidden.message, unknown.message.replace("no_such_prompt", "update_packages"));
  // A selection of hidden targets reads like a selection of none.
  const onHidden = await text(client, "health_check", { selector: "secret-api" });
  const onNone = await text(client, "health_check", { selector: "nope-1" });
  assert.match(onHidden, /^You may not use system_status on any target matching "secret-api"/);
  assert.equal(onHidden.replace("secret-api", "nope-1"), onNone);

  const everything = await complete(client, "health_check", "selector", "");
  assert.deepEqual(everything.sort(), ["group:home", "local", "tag:gw"]);
  for (const value of ["", "s", "h", "tag:", "group:", "e", "local,!", "tag:gw&"]) {
    for (const got of await complete(client, "investigate_high_cpu", "selector", value)) {
      assert.doesNotMatch(got, HIDDEN, `completing ${JSON.stringify(value)}`);
    }
  }
  assert.deepEqual(await complete(client, "health_check", "selector", "tag:"), ["tag:gw"]);
  assert.deepEqual(await complete(client, "health_check", "selector", "local,!l"), [
    "local,!local",
  ]);
  const hiddenCompletion = await rpcError(
    client.complete({
      ref: { type: "ref/prompt", name: "troubleshoot_container" },
      argument: { name: "target", value: "" },
    }),
  );
  assert.equal(hiddenCompletion.code, -32602);
}

async function checkOps(client: McpClient) {
  assert.deepEqual(await promptNames(client), ALL_PROMPTS);
  const tools = new Set((await client.listTools()).tools.map((t) => t.name));
  const args: Record<string, Record<string, string>> = {
    troubleshoot_container: { target: "engine", container: "web-1" },
    deploy_stack: { stack: "web", selector: "local" },
  };
  for (const name of ALL_PROMPTS) {
    const guide = await text(client, name, args[name] ?? { selector: "local" });
    for (const tool of namedTools(guide)) {
      assert.ok(tools.has(tool), `${name} names ${tool}:\n${guide}`);
    }
  }
  const upgrade = await text(client, "update_packages", { selector: "local" });
  const order = ["package_refresh", "package_updates", "package_upgrade", "reboot_required"]
    .map((tool) => upgrade.indexOf(`${tool} {`));
  assert.ok(order.every((at, i) => at > 0 && (i === 0 || at > order[i - 1])), upgrade);
  assert.match(upgrade, /"dry_run":true/);
  assert.match(upgrade, /approval/);
  assert.deepEqual(await complete(client, "troubleshoot_container", "target", ""), [
    "engine",
    "hidden-engine",
  ]);
  assert.deepEqual(await complete(client, "troubleshoot_container", "container", "w"), []);
  assert.deepEqual(await complete(client, "deploy_stack", "stack", "w"), ["web"]);
  const badStack = await rpcError(
    client.getPrompt({ name: "deploy_stack", arguments: { stack: "nope", selector: "local" } }),
  );
  assert.equal(badStack.code, -32602);
  assert.match(badStack.message, /stack: expected one of web, found "nope"/);
}

async function checkBadArguments(client: McpClient) {
  const cases: Record<string, string>[] = [
    { selector: "Bad Selector!" },
    {},
    { selector: "x".repeat(300) },
    { selector: "local", extra: "1" },
    { selector: ",,," },
  ];
  for (const args of cases) {
    const error = await rpcError(client.getPrompt({ name: "health_check", arguments: args }));
    assert.equal(error.code, -32602, JSON.stringify(args));
    assert.match(error.message, /Invalid arguments for prompt health_check: /);
    assert.doesNotMatch(error.message, /\n/);
    assert.ok(error.message.length < 600, error.message);
  }
}

for (const era of ERAS) {
  Deno.test(`prompts follow the caller over HTTP (${era} era): list, text, bad arguments, completions`, async (t) => {
    const stacks = await Deno.makeTempDir({ prefix: "tailops-stacks-" });
    await using _stacks = { [Symbol.asyncDispose]: () => Deno.remove(stacks, { recursive: true }) };
    await Deno.mkdir(`${stacks}/web`);
    await Deno.writeTextFile(
      `${stacks}/web/compose.yaml`,
      "services:\n  web:\n    image: busybox\n",
    );
    await using gw = await authGateway(POLICY, {
      targets: TARGETS,
      env: { TAILOPS_STACKS: stacks },
    });
    const viewer = await gw.mint("vera", "viewer");
    const ops = await gw.mint("otto", "ops");
    await gw.start();
    const connect = (token: string) => gw.connect({ token, era: era as Era });
    await t.step(
      "a viewer sees three prompts, naming only its tools, and completes only what it sees",
      async () => {
        await checkViewer(await connect(viewer.token));
      },
    );
    await t.step(
      "an operator sees all six, in order, with the stack and engine completions",
      async () => {
        await checkOps(await connect(ops.token));
      },
    );
    await t.step("bad arguments get one line of -32602", async () => {
      await checkBadArguments(await connect(viewer.token));
    });
  });
}

Deno.test("prompts over stdio follow the local user's role", async () => {
  await using stdio = await startStdioGateway({
    targets: TARGETS,
    policy: POLICY,
    env: { USER: "carol", LOGNAME: null },
  });
  await checkViewer(stdio.client);
  await checkBadArguments(stdio.client);
});

Deno.test("prompts follow the caller of each request under --stateless (2025 era, no session)", async () => {
  await using gw = await authGateway(POLICY, { targets: TARGETS });
  const viewer = await gw.mint("vera", "viewer");
  await gw.start(["--stateless"]);
  const client = await gw.connect({ token: viewer.token });
  await checkViewer(client);
  await checkBadArguments(client);
});
