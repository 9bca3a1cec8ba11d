/**
 * Both MCP eras against the real gateway with the SDK's v2 client: a
 * 2025-11-25 client (`initialize`, a session) and a 2026-07-28 client
 * (stateless requests), over Streamable HTTP and over stdio. Each runs the
 * same matrix: list, call, dry run, denial, a confirm rule's question
 * (elicitation in 2025, an input-required result in 2026; accept and
 * decline), progress over a fan-out, cancellation, and the identity of each
 * request.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  answerElicitation,
  type AuditLine,
  Client,
  connectHttp,
  type Era,
  eraOptions,
  ERAS,
  readAudit,
  startGateway,
  startStdioGateway,
  StreamableHTTPClientTransport,
} from "./_gateway.ts";
import { authGateway } from "./_auth_gateway.ts";
import { call, type Called } from "./_mcp_checks.ts";

type McpClient = InstanceType<typeof Client>;

/** An HTTP API: `/fast` answers at once, `/slow` only when the test lets it go. */
function api() {
  let arrived!: () => void;
  let started = new Promise<void>((resolve) => arrived = resolve);
  let release!: () => void;
  let released = new Promise<void>((resolve) => release = resolve);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      if (new URL(request.url).pathname === "/slow") {
        arrived();
        await Promise.race([
          released,
          new Promise((resolve) => request.signal.addEventListener("abort", resolve)),
        ]);
      }
      return Response.json({ ok: true });
    },
  );
  return {
    port: server.addr.port,
    /** Resolves when a `/slow` request arrived (then re-arms). */
    async slowArrived(): Promise<void> {
      await started;
      started = new Promise<void>((resolve) => arrived = resolve);
    },
    release() {
      release();
      released = new Promise<void>((resolve) => release = resolve);
    },
    async [Symbol.asyncDispose]() {
      release();
      await server.shutdown();
    },
  };
}

/** `local` (observe and control) and two HTTP targets of the test API. */
function targets(port: number): string {
  const http = (id: string) => [
    `  - id: ${id}`,
    "    type: http",
    "    tags: [api]",
    "    capabilities: [http:read]",
    "    connection:",
    `      base_url: http://127.0.0.1:${port}`,
    "      methods: [GET]",
    '      paths: ["/fast", "/slow"]',
  ];
  return [
    "version: 1",
    "targets:",
    "  - id: local",
    "    type: local",
    "    capabilities: [system:read, system:control]",
    ...http("api1"),
    ...http("api2"),
  ].join("\n");
}

const RULES = [
  "version: 1",
  "rules:",
  "  - id: no-api2",
  "    effect: deny",
  "    operations: [http_request]",
  "    targets: [api2]",
  "  - id: observe",
  "    tiers: [observe]",
  "  - id: control-confirm",
  "    effect: approve",
  "    tiers: [control]",
  "    confirm: true",
  // The matrix makes many control calls in a row: keep the rate limit out of it.
  "rate_limits:",
  "  control: { per_minute: 6000, burst: 1000 }",
];

/** Over HTTP: alice operates, bob only reads the system. */
const HTTP_POLICY = [
  ...RULES,
  "identities:",
  "  roles:",
  "    operator: { scopes: [system:read, system:control, http:read] }",
  "    viewer: { scopes: [system:read] }",
  "  bindings:",
  "    - { token: alice, roles: [operator] }",
  "    - { token: bob, roles: [viewer] }",
].join("\n");

const RESTART = { target: "local", unit: "nginx.service", action: "restart" } as const;

function errorCode(called: Called): string | undefined {
  return called.results[0]?.error?.code;
}

/** Approval events of one approval, in order. */
function trail(audit: AuditLine[], id: string): string[] {
  return audit.filter((r) => r.detail?.approval_id === id && r.event.startsWith("approval_"))
    .map((r) => r.event);
}

/** Polls the audit log (not a timing assertion: 60 s cap). */
async function auditUntil(
  file: string,
  predicate: (records: AuditLine[]) => boolean,
  what: string,
): Promise<AuditLine[]> {
  for (let i = 0; i < 600; i++) {
    const records = await readAudit(file).catch(() => []);
    if (predicate(records)) return records;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Gave up waiting for ${what}`);
}

/** The checks every era and transport pass, as steps. */
async function matrix(
  t: Deno.TestContext,
  ctx: {
    era: Era;
    /** A client that accepts elicitation. */
    client: McpClient;
    auditFile: string;
    api: ReturnType<typeof api>;
  },
): Promise<void> {
  const client = ctx.client;

  await t.step("the client speaks the era it asked for", () => {
    assert.equal(client.getProtocolEra(), ctx.era === "2026" ? "modern" : "legacy");
    assert.equal(
      client.getNegotiatedProtocolVersion(),
      ctx.era === "2026" ? "2026-07-28" : "2025-11-25",
    );
  });

  await t.step("tools/list keeps annotations, _meta and output schemas", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    assert.ok(names.includes("service_control") && names.includes("http_request"), `${names}`);
    const control = tools.find((tool) => tool.name === "service_control")!;
    assert.equal(control.annotations?.destructiveHint, true);
    assert.equal(control._meta?.["tailops/capability"], "system:control");
    assert.equal(control.outputSchema?.type, "object");
    assert.equal(control.inputSchema.type, "object");
  });

  await t.step("a call returns structured content", async () => {
    const ran = await call(client, "http_request", { target: "api1", path: "/fast" });
    assert.equal(ran.results[0].status, "ok", ran.text);
  });

  await t.step("a dry run plans without running", async () => {
    const planned = await call(client, "service_control", { ...RESTART, dry_run: true });
    assert.equal(planned.results[0].status, "planned", planned.text);
  });

  await t.step("a policy denial is a tool error naming the rule", async () => {
    const denied = await call(client, "http_request", { target: "api2", path: "/fast" });
    assert.equal(denied.isError, true);
    assert.equal(denied.results[0].status, "denied", denied.text);
    assert.equal(denied.results[0].rule, "no-api2");
  });

  await t.step(
    "bad calls get one line: invalid_arguments, or -32602 for an unknown tool, audited",
    async () => {
      const bad = await call(client, "http_request", { target: "api1", path: 7 });
      assert.equal(bad.isError, true);
      assert.match(bad.text, /^invalid_arguments: Invalid arguments for http_request: .*path/);
      assert.doesNotMatch(bad.text, /\n/);
      await assert.rejects(
        client.callTool({ name: "no_such_tool", arguments: {} }),
        (error: Error & { code?: number }) =>
          error.code === -32602 && /^[^\n]*not found[^\n]*$/.test(error.message),
      );
      await auditUntil(
        ctx.auditFile,
        (records) =>
          records.some((r) => r.event === "refused" && r.reason === "bad_arguments") &&
          records.some((r) => r.event === "refused" && r.reason === "unknown_tool"),
        "the refusals in the audit log",
      );
    },
  );

  await t.step("a confirm rule asks, and the call runs once when accepted", async () => {
    const ran = await call(client, "service_control", RESTART);
    // The host has no systemd: the call ran and failed there, under the approval.
    assert.notEqual(errorCode(ran), "approval_required", ran.text);
    assert.ok(["failed", "ok"].includes(ran.results[0].status), ran.text);
    const records = await readAudit(ctx.auditFile);
    const id = records.findLast((r) => r.event === "approval_requested")?.detail
      ?.approval_id as string;
    assert.deepEqual(trail(records, id), [
      "approval_requested",
      "approval_granted",
      "approval_used",
    ]);
  });

  await t.step("declining the question runs nothing", async () => {
    answerElicitation(client, "decline");
    try {
      const declined = await call(client, "service_control", { ...RESTART, unit: "cron.service" });
      assert.equal(errorCode(declined), "approval_declined", declined.text);
    } finally {
      answerElicitation(client, "accept");
    }
    const records = await readAudit(ctx.auditFile);
    const id = records.findLast((r) => r.event === "approval_requested")?.detail
      ?.approval_id as string;
    assert.deepEqual(trail(records, id), ["approval_requested", "approval_denied"]);
  });

  await t.step("a fan-out reports progress per target", async () => {
    const seen: { progress: number; total?: number }[] = [];
    const result = await client.callTool(
      { name: "http_request", arguments: { targets: "tag:api", path: "/fast" } },
      { onprogress: (p) => void seen.push(p) },
    );
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
    // The gateway sends both before the result, in order; the SDK client may
    // still dispatch the last notification after it has settled the result
    // and dropped the handler (seen once in a full run), so the last one may
    // be missing here, never reordered or wrong.
    const got = seen.map((p) => [p.progress, p.total]);
    assert.ok(got.length >= 1, "no progress at all");
    assert.deepEqual(got, [[1, 2], [2, 2]].slice(0, got.length));
  });

  await t.step("cancelling a call stops it on the gateway", async () => {
    const before = (await readAudit(ctx.auditFile)).length;
    const abort = new AbortController();
    const pending = client.callTool(
      { name: "http_request", arguments: { target: "api1", path: "/slow" } },
      { signal: abort.signal },
    );
    await ctx.api.slowArrived();
    abort.abort();
    await assert.rejects(pending);
    await auditUntil(
      ctx.auditFile,
      (records) =>
        records.slice(before).some((r) =>
          r.event === "finished" && r.tool === "http_request" && r.reason === "cancelled"
        ),
      "the cancelled call's finished record",
    );
    // Still serving.
    const ran = await call(client, "http_request", { target: "api1", path: "/fast" });
    assert.equal(ran.results[0].status, "ok", ran.text);
  });

  await client.close();
}

for (const era of ERAS) {
  Deno.test(`a ${era}-era client over HTTP can list, call, confirm, follow progress and cancel`, async (t) => {
    await using testApi = api();
    await using gw = await authGateway(HTTP_POLICY, { targets: targets(testApi.port) });
    const alice = await gw.mint("alice", "operator");
    await gw.start();
    await matrix(t, {
      era,
      client: await gw.connect({ token: alice.token, elicit: "accept", era }),
      auditFile: gw.auditFile,
      api: testApi,
    });

    await t.step("each request acts as its own token's identity", async () => {
      const bob = await gw.mint("bob", "viewer");
      let token = alice.token;
      const client = new Client({ name: "switching", version: "0" }, eraOptions(era));
      await client.connect(
        new StreamableHTTPClientTransport(gw.url, {
          fetch: (input, init) => {
            const headers = new Headers(init?.headers);
            headers.set("authorization", `Bearer ${token}`);
            return fetch(input, { ...init, headers });
          },
        }),
      );
      const names = async () => (await client.listTools()).tools.map((tool) => tool.name);
      assert.ok((await names()).includes("service_control"));
      token = bob.token;
      if (era === "2026") {
        // No session: the next request is simply bob's.
        assert.ok(!(await names()).includes("service_control"));
        await assert.rejects(
          client.callTool({ name: "service_control", arguments: RESTART }),
          (error: Error & { code?: number }) =>
            error.code === -32602 && /not found/.test(error.message),
        );
      } else {
        // The session is alice's: bob's token is refused on it.
        await assert.rejects(names(), /403|another identity/);
      }
      await client.close();
    });

    await t.step(
      "a client without elicitation is approved out of band, by id or signed grant",
      async () => {
        const client = await gw.connect({ token: alice.token, era });
        for (const how of ["approval_id", "approval_grant"] as const) {
          const args = { ...RESTART, unit: `${how}.service` };
          const asked = await call(client, "service_control", args);
          assert.equal(errorCode(asked), "approval_required", asked.text);
          const structured = (await readAudit(gw.auditFile)).findLast((r) =>
            r.event === "approval_requested"
          );
          const id = structured?.detail?.approval_id as string;
          const approved = await gw.cli(["approvals", "approve", id, "--as", "carol"]);
          assert.equal(approved.code, 0, approved.stderr);
          let presented = id;
          if (how === "approval_grant") {
            const granted = await gw.cli(["approvals", "grant", id]);
            assert.equal(granted.code, 0, granted.stderr);
            presented = granted.stdout.trim();
          }
          const ran = await call(client, "service_control", { ...args, [how]: presented });
          assert.ok(["failed", "ok"].includes(ran.results[0]?.status), ran.text);
          const again = await call(client, "service_control", { ...args, [how]: presented });
          assert.equal(errorCode(again), "approval_already_used", again.text);
        }
      },
    );
  });

  Deno.test(`a ${era}-era client over stdio can list, call, confirm, follow progress and cancel`, async (t) => {
    await using testApi = api();
    await using gw = await startStdioGateway({
      targets: targets(testApi.port),
      policy: RULES.join("\n"),
      era,
      elicit: "accept",
    });
    await matrix(t, { era, client: gw.client, auditFile: gw.auditFile, api: testApi });
  });
}

Deno.test("with --stateless a 2025-era client gets no session, a confirm rule asks for approval out of band, and cancel still works", async () => {
  await using testApi = api();
  await using gw = await authGateway(HTTP_POLICY, { targets: targets(testApi.port) });
  const alice = await gw.mint("alice", "operator");
  await gw.start(["--stateless"]);
  const client = await gw.connect({ token: alice.token, elicit: "accept" });
  assert.equal(client.getNegotiatedProtocolVersion(), "2025-11-25");
  const { tools } = await client.listTools();
  assert.ok(tools.some((tool) => tool.name === "service_control"));
  const ran = await call(client, "http_request", { target: "api1", path: "/fast" });
  assert.equal(ran.results[0].status, "ok", ran.text);
  const seen: number[] = [];
  await client.callTool(
    { name: "http_request", arguments: { targets: "tag:api", path: "/fast" } },
    { onprogress: (p) => void seen.push(p.progress) },
  );
  assert.deepEqual(seen, [1, 2]);
  const asked = await call(client, "service_control", RESTART);
  assert.equal(errorCode(asked), "approval_required", asked.text);
  assert.match(asked.text, /Confirming inside the call needs a 2025-era session/);
  // A cancel arrives as a request of its own and still reaches the call.
  const abort = new AbortController();
  const pending = client.callTool(
    { name: "http_request", arguments: { target: "api1", path: "/slow" } },
    { signal: abort.signal },
  );
  await testApi.slowArrived();
  abort.abort();
  await assert.rejects(pending);
  await auditUntil(
    gw.auditFile,
    (records) =>
      records.some((r) =>
        r.event === "finished" && r.tool === "http_request" && r.reason === "cancelled"
      ),
    "the cancelled call's finished record",
  );
  // No session: nothing to resume, and a bare request is answered on its own.
  const response = await fetch(gw.url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${alice.token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(response.headers.get("mcp-session-id"), null);
  await response.body?.cancel();
});

Deno.test("SIGTERM lets a 2026-era call in flight finish before the gateway exits", async () => {
  await using testApi = api();
  await using gateway = await startGateway({
    targets: targets(testApi.port),
    policy: RULES.join("\n"),
  });
  const client = await connectHttp(gateway, gateway.token, { era: "2026" });
  const pending = call(client, "http_request", { target: "api1", path: "/slow" });
  await testApi.slowArrived();
  Deno.kill(gateway.pid, "SIGTERM");
  testApi.release();
  const result = await pending;
  assert.equal(result.results[0].status, "ok", result.text);
  assert.equal((await gateway.stop()).code, 0, gateway.stderr());
  const records = await readAudit(gateway.auditFile);
  assert.equal(records.filter((r) => r.event !== "checkpoint").at(-1)?.event, "stopped");
});
