/**
 * MCP resources through the real gateway with the SDK's v2 client: listing
 * and reading each resource per identity (HTTP, both eras; stdio, both
 * eras; 2025 stateless), the same answer for hidden and unknown URIs in
 * many spellings, completion of `{id}` without hidden ids, a bounded read
 * of a large audit log, rate-limited floods, and pending approvals shared
 * through PostgreSQL.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AuditLog } from "../../src/audit/writer.ts";
import {
  type AuditLine,
  Client,
  eraOptions,
  ERAS,
  readAudit,
  startStdioGateway,
  StreamableHTTPClientTransport,
} from "./_gateway.ts";
import { authGateway } from "./_auth_gateway.ts";
import { call } from "./_mcp_checks.ts";
import { cluster, POSTGRES_MISSING, SHARED_POLICY } from "./_shared_state.ts";

type McpClient = InstanceType<typeof Client>;

/** `local`, and two HTTP targets that are never contacted (reading resources runs nothing). */
const TARGETS = [
  "version: 1",
  "targets:",
  "  - id: local",
  "    type: local",
  "    capabilities: [system:read, system:control]",
  ...["web-1", "db-1"].flatMap((id) => [
    `  - id: ${id}`,
    "    type: http",
    `    tags: [${id.split("-")[0]}]`,
    "    capabilities: [http:read]",
    "    connection:",
    "      base_url: http://127.0.0.1:9",
    "      methods: [GET]",
    '      paths: ["/"]',
  ]),
].join("\n");

const POLICY = [
  "version: 1",
  "rules:",
  "  - id: observe",
  "    tiers: [observe]",
  "  - id: no-journal",
  "    effect: deny",
  "    operations: [journal_logs]",
  "    targets: [local]",
  "  - id: restart-nginx",
  "    effect: approve",
  "    operations: [service_control]",
  "    params:",
  "      unit: { enum: [nginx.service] }",
  "    lockouts:",
  "      - { days: [fri], hours: ['16:00-24:00'], reason: no Friday evening changes }",
  "rate_limits:",
  // Refills slower than any loaded machine reads, so the flood below meets the limit.
  "  observe: { per_minute: 6, burst: 100 }",
  "identities:",
  "  roles:",
  "    viewer: { scopes: [system:read, http:read], targets: [local, web-1] }",
  "    ops: { scopes: [system:read, system:control, http:read] }",
  "    auditor: { scopes: [system:read, audit:read] }",
  "    local-auditor: { scopes: [system:read, audit:read], targets: [local] }",
  "    approver: { scopes: [system:read, approvals:grant] }",
  "    web-approver: { scopes: [system:read, approvals:grant], targets: [web-1] }",
  "  bindings:",
  "    - { token: vic, roles: [viewer] }",
  "    - { token: olga, roles: [ops] }",
  "    - { token: aud, roles: [auditor] }",
  "    - { token: lau, roles: [local-auditor] }",
  "    - { token: appr, roles: [approver] }",
  "    - { token: wapp, roles: [web-approver] }",
  "    - { local: '*', roles: [ops, auditor, approver] }",
].join("\n");

interface RpcError extends Error {
  code?: number;
}

async function uris(client: McpClient): Promise<string[]> {
  return (await client.listResources()).resources.map((r) => r.uri).sort();
}

async function readJson(client: McpClient, uri: string): Promise<Record<string, unknown>> {
  const { contents } = await client.readResource({ uri });
  assert.equal(contents.length, 1);
  assert.equal(contents[0].uri, uri);
  return JSON.parse((contents[0] as { text: string }).text);
}

async function readText(client: McpClient, uri: string): Promise<string> {
  const { contents } = await client.readResource({ uri });
  return (contents[0] as { text: string }).text;
}

/** The error a read gets. */
async function readError(client: McpClient, uri: string): Promise<RpcError> {
  try {
    await client.readResource({ uri });
  } catch (error) {
    return error as RpcError;
  }
  throw new Error(`Reading ${JSON.stringify(uri)} succeeded`);
}

/** Asserts a read answers exactly like an unknown URI. */
async function assertNotFound(client: McpClient, uri: string): Promise<void> {
  const error = await readError(client, uri);
  assert.equal(error.code, -32602, `${uri}: ${error.message}`);
  assert.match(error.message, /Resource not found: /, uri);
  assert.ok(error.message.includes(JSON.stringify(uri)), `${uri}: ${error.message}`);
  assert.doesNotMatch(error.message, /\n|audit:read|approvals:grant|scope|hidden|db-1"[^"]*exists/);
}

async function complete(client: McpClient, value: string): Promise<string[]> {
  const result = await client.complete({
    ref: { type: "ref/resource", uri: "tailops://targets/{id}" },
    argument: { name: "id", value },
  });
  return result.completion.values;
}

/** Spellings of resource URIs the viewer must get "not found" for. */
const ATTACKS: readonly string[] = [
  "tailops://targets/db-1",
  "tailops://targets/nope-1",
  "tailops://targets/db%2D1",
  "tailops://targets/web%2D1",
  "tailops://targets/DB-1",
  "tailops://targets/Web-1",
  "TAILOPS://targets/web-1",
  "tailops://TARGETS/web-1",
  "tailops://targets/web-1/",
  "tailops://targets/",
  "tailops://targets//web-1",
  "tailops://targets/../targets/db-1",
  "tailops://targets/./db-1",
  "tailops://targets/%2e%2e/db-1",
  "tailops://targets%2Fdb-1",
  "tailops://targets/web-1%2F..%2Fdb-1",
  "tailops://targets/web-1?id=db-1",
  "tailops://targets/db-1?",
  "tailops://targets/web-1#db-1",
  "tailops://targets/web-1 ",
  "tailops://targets/web-1%00",
  "tailops://targets/*",
  "tailops://targets/tag:db",
  "tailops://targets/",
  "tailops://targets/",
  "tailops://audit/recent",
  "tailops://audit/recent/",
  "tailops://audit/recent?limit=100000",
  "tailops://audit/%72ecent",
  "tailops://Audit/recent",
  "tailops://approvals/pending",
  "tailops://approvals/pending#x",
  "tailops://approvals/../audit/recent",
  "tailops://policy/",
  "tailops://policy?",
  "tailops:policy",
  "tailops:///policy",
  "http://targets",
  "file:///etc/passwd",
  "tailops://",
  "",
];

for (const era of ERAS) {
  Deno.test(`over HTTP a ${era}-era client lists and reads only the resources its identity may read`, async (t) => {
    await using gw = await authGateway(POLICY, { targets: TARGETS });
    const [vic, olga, aud, lau, appr, wapp] = await Promise.all(
      [
        "vic:viewer",
        "olga:ops",
        "aud:auditor",
        "lau:local-auditor",
        "appr:approver",
        "wapp:web-approver",
      ].map((s) => gw.mint(...(s.split(":") as [string, string]))),
    );
    await gw.start();
    const viewer = await gw.connect({ token: vic.token, era });
    const ops = await gw.connect({ token: olga.token, era });
    const auditor = await gw.connect({ token: aud.token, era });
    const localAuditor = await gw.connect({ token: lau.token, era });
    const approver = await gw.connect({ token: appr.token, era });

    await t.step("the resources capability is declared without subscriptions", () => {
      const caps = viewer.getServerCapabilities();
      assert.ok(caps?.resources, JSON.stringify(caps));
      assert.notEqual(caps?.resources?.subscribe, true);
      assert.notEqual(caps?.resources?.listChanged, true);
      assert.ok(caps?.completions, JSON.stringify(caps));
    });

    await t.step("each identity lists exactly what it may read", async () => {
      const base = ["tailops://policy", "tailops://targets"];
      assert.deepEqual(await uris(viewer), base);
      assert.deepEqual(await uris(ops), base);
      assert.deepEqual(await uris(auditor), ["tailops://audit/recent", ...base]);
      // audit:read limited to some targets does not open the whole log.
      assert.deepEqual(await uris(localAuditor), base);
      assert.deepEqual(await uris(approver), ["tailops://approvals/pending", ...base]);
      const { resourceTemplates } = await viewer.listResourceTemplates();
      assert.deepEqual(resourceTemplates.map((r) => r.uriTemplate), ["tailops://targets/{id}"]);
    });

    await t.step(
      "tailops://targets shows the caller's targets and tools, like list_targets",
      async () => {
        const seen = await readJson(viewer, "tailops://targets");
        const targets = seen.targets as { id: string; uri: string; tools: string[] }[];
        assert.deepEqual(targets.map((x) => x.id), ["local", "web-1"]);
        assert.equal(targets[1].uri, "tailops://targets/web-1");
        assert.ok(targets[0].tools.includes("system_status"));
        assert.ok(!targets[0].tools.includes("journal_logs"), "denied by no-journal");
        const listed = await call(viewer, "list_targets", {});
        assert.deepEqual(
          listed.results.map((r) => ({ id: r.target, ...r.data })),
          targets.map(({ uri: _uri, ...rest }) => rest),
        );
        const all = await readJson(ops, "tailops://targets");
        const opsTargets = all.targets as { id: string; approval: string[] }[];
        assert.deepEqual(opsTargets.map((x) => x.id), ["local", "web-1", "db-1"]);
        assert.ok(opsTargets[0].approval.includes("service_control"));
      },
    );

    await t.step("tailops://targets/{id} reads one visible target", async () => {
      const one = await readJson(viewer, "tailops://targets/web-1");
      assert.equal(one.id, "web-1");
      assert.equal(one.type, "http");
      assert.deepEqual(one.tags, ["web"]);
      assert.equal((await readJson(ops, "tailops://targets/db-1")).id, "db-1");
    });

    await t.step(
      "hidden, unknown and unreadable URIs all answer not found, in every spelling",
      async () => {
        for (const uri of ATTACKS) await assertNotFound(viewer, uri);
        for (const uri of ["tailops://audit/recent", "tailops://approvals/pending"]) {
          await assertNotFound(localAuditor, uri);
          await assertNotFound(ops, uri);
        }
        const long = await readError(viewer, `tailops://targets/${"a".repeat(5000)}`);
        assert.equal(long.code, -32602);
        assert.match(long.message, /^[^\n]*expected at most 2048 characters, found 5018[^\n]*$/);
      },
    );

    await t.step("completion of {id} offers only ids the caller may use", async () => {
      assert.deepEqual(await complete(viewer, ""), ["local", "web-1"]);
      assert.deepEqual(await complete(viewer, "d"), []);
      assert.deepEqual(await complete(viewer, "db-1"), []);
      assert.deepEqual(await complete(viewer, "D"), []);
      assert.deepEqual(await complete(viewer, "../"), []);
      assert.deepEqual(await complete(viewer, "x".repeat(500)), []);
      assert.deepEqual(await complete(ops, "d"), ["db-1"]);
    });

    await t.step(
      "completion follows the token of each request, not the session's first",
      async () => {
        const [strong, weak] = await Promise.all([gw.mint("sam", "ops"), gw.mint("sam", "viewer")]);
        let token = strong.token;
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
        assert.deepEqual(await complete(client, "d"), ["db-1"]);
        token = weak.token;
        assert.deepEqual(await complete(client, "d"), []);
        assert.deepEqual(await complete(client, ""), ["local", "web-1"]);
        await assertNotFound(client, "tailops://targets/db-1");
        assert.ok(!JSON.stringify(await readJson(client, "tailops://targets")).includes("db-1"));
        await client.close();
      },
    );

    await t.step("tailops://policy says the caller's rules in words", async () => {
      const text = await readText(viewer, "tailops://policy");
      assert.match(text, /^Policy for token:vic\./);
      assert.match(
        text,
        /Rule "observe": Allows system_status, .* on local; http_request, http_health on web-1\./,
      );
      assert.match(text, /Rule "no-journal": Denies journal_logs on local\./);
      // The viewer cannot control services anywhere: that rule does not concern them.
      assert.doesNotMatch(text, /restart-nginx|db-1|olga|token:aud|token:appr|approver|viewer/);
      assert.match(text, /observe 6\/min \(burst 100\)/);
      const theirs = await readText(ops, "tailops://policy");
      assert.match(theirs, /Rule "restart-nginx": Needs approval .* service_control on local\./);
      assert.match(theirs, /`unit` one of "nginx\.service" \(must be given\)/);
      assert.match(theirs, /No control and admin calls during: fri 16:00-24:00 UTC \(no Friday/);
    });

    await t.step("an approver sees the pending approvals, with redacted arguments", async () => {
      const asked = await call(ops, "service_control", {
        target: "local",
        unit: "nginx.service",
        action: "restart",
      });
      assert.equal(asked.results[0]?.error?.code, "approval_required", asked.text);
      const seen = await readJson(approver, "tailops://approvals/pending");
      const approvals = seen.approvals as { tool: string; requester: string; state: string }[];
      assert.equal(approvals.length, 1, JSON.stringify(seen));
      assert.equal(approvals[0].tool, "service_control");
      assert.equal(approvals[0].requester, "token:olga");
      assert.equal(approvals[0].state, "pending");
      // An approver for web-1 only is not shown the request about local.
      const webApprover = await gw.connect({ token: wapp.token, era });
      assert.ok((await uris(webApprover)).includes("tailops://approvals/pending"));
      assert.deepEqual((await readJson(webApprover, "tailops://approvals/pending")).approvals, []);
    });

    await t.step("an auditor reads the recent records, and every read is audited", async () => {
      const seen = await readJson(auditor, "tailops://audit/recent");
      const records = seen.records as {
        event: string;
        identity?: string;
        detail?: { uri?: string };
      }[];
      assert.ok(records.length > 0 && records.length <= 50);
      assert.ok(records.some((r) => r.event === "approval_requested"), JSON.stringify(records));
      const audit: AuditLine[] = await gw.audit();
      const reads = audit.filter((r) => r.event === "resource_read");
      const byUri = (uri: string) => reads.filter((r) => r.detail?.uri === uri);
      assert.ok(byUri("tailops://audit/recent").some((r) => r.identity === "token:aud"));
      assert.ok(byUri("tailops://approvals/pending").some((r) => r.identity === "token:appr"));
      assert.ok(byUri("tailops://policy").length >= 2);
      assert.ok(byUri("tailops://targets/web-1").some((r) => r.target === "web-1"));
    });

    await t.step(
      "reads beyond the observe budget are refused in one line, and counted",
      async () => {
        let refused: RpcError | undefined;
        for (let i = 0; i < 300 && refused === undefined; i++) {
          try {
            await viewer.readResource({ uri: i % 2 ? "tailops://targets" : "tailops://nope" });
          } catch (error) {
            if ((error as RpcError).code !== -32602) refused = error as RpcError;
          }
        }
        assert.ok(refused, "300 reads were never rate limited");
        assert.equal(refused.code, -32000);
        assert.match(refused.message, /^[^\n]*rate_limited: [^\n]*$/);
        // Another identity's budget is its own.
        assert.equal((await readJson(ops, "tailops://targets/db-1")).id, "db-1");
        const audit: AuditLine[] = await gw.audit();
        assert.ok(
          audit.some((r) => r.event === "refused" && r.reason === "unknown_resource"),
          "probing unknown URIs is audited",
        );
      },
    );
  });

  Deno.test(`over stdio a ${era}-era client lists, reads and completes resources`, async () => {
    await using gw = await startStdioGateway({ targets: TARGETS, policy: POLICY, era });
    // The local user holds every scope: every resource is listed.
    assert.deepEqual(await uris(gw.client), [
      "tailops://approvals/pending",
      "tailops://audit/recent",
      "tailops://policy",
      "tailops://targets",
    ]);
    assert.equal((await readJson(gw.client, "tailops://targets/db-1")).id, "db-1");
    assert.deepEqual(await complete(gw.client, "w"), ["web-1"]);
    const recent = await readJson(gw.client, "tailops://audit/recent");
    assert.ok((recent.records as unknown[]).length > 0);
    await assertNotFound(gw.client, "tailops://targets/db-1/");
    assert.match(await readText(gw.client, "tailops://policy"), /Policy for local:/);
  });
}

Deno.test("with --stateless a 2025-era client lists and reads resources per request", async () => {
  await using gw = await authGateway(POLICY, { targets: TARGETS });
  const vic = await gw.mint("vic", "viewer");
  await gw.start(["--stateless"]);
  const client = await gw.connect({ token: vic.token });
  assert.deepEqual(await uris(client), ["tailops://policy", "tailops://targets"]);
  assert.equal((await readJson(client, "tailops://targets/local")).id, "local");
  await assertNotFound(client, "tailops://targets/db-1");
  assert.deepEqual(await complete(client, ""), ["local", "web-1"]);
});

Deno.test("reading a large audit log returns the last 50 records within a bounded size", async () => {
  await using gw = await authGateway(POLICY, { targets: TARGETS });
  const aud = await gw.mint("aud", "auditor");
  // A long chain written before the gateway starts (it continues it): records
  // of 2 KiB and some of 64 KiB (the writer's own cap on a value).
  await Deno.mkdir(gw.stateDir, { recursive: true, mode: 0o700 });
  const log = await AuditLog.open(`${gw.stateDir}/audit.jsonl`, { fsync: "never" });
  for (let i = 0; i < 4000; i++) {
    const size = i % 500 === 499 ? 64 * 1024 : 2048;
    void log.append({
      event: "decided",
      identity: "token:someone",
      tool: "system_status",
      target: "local",
      args: { filler: "x".repeat(size) },
    });
  }
  await log.append({ event: "finished", detail: { big: "y".repeat(1024 * 1024) } });
  await log.close();
  assert.ok((await Deno.stat(`${gw.stateDir}/audit.jsonl`)).size > 8 * 1024 * 1024);
  await gw.start();
  const client = await gw.connect({ token: aud.token });
  const { contents } = await client.readResource({ uri: "tailops://audit/recent" });
  const text = (contents[0] as { text: string }).text;
  const records = JSON.parse(text).records as { event: string; args?: unknown; cut?: string }[];
  assert.equal(records.length, 50);
  assert.ok(text.length <= 50 * 4096 + 1024, `${text.length} bytes`);
  assert.ok(records.every((r) => JSON.stringify(r).length <= 4096));
  assert.ok(
    records.at(-1)?.event === "config_loaded",
    `the running gateway's own records: ${records.map((r) => r.event)}`,
  );
});

Deno.test(
  "with PostgreSQL shared state an approver on another gateway sees the pending approval",
  { ignore: POSTGRES_MISSING !== undefined },
  async () => {
    await using c = await cluster(2, SHARED_POLICY);
    const alice = await c.mint("alice", "operator");
    const carol = await c.mint("carol", "approver");
    const asking = await c.gateways[0].connect({ token: alice.token });
    const asked = await call(asking, "service_control", {
      target: "local",
      unit: "cron.service",
      action: "restart",
    });
    assert.equal(asked.results[0]?.error?.code, "approval_required", asked.text);
    const approver = await c.gateways[1].connect({ token: carol.token });
    const { contents } = await approver.readResource({ uri: "tailops://approvals/pending" });
    const seen = JSON.parse((contents[0] as { text: string }).text);
    assert.equal(seen.approvals.length, 1, JSON.stringify(seen));
    assert.equal(seen.approvals[0].requester, "token:alice");
    // The requester is no approver: the resource is not there for them.
    await assertNotFound(asking, "tailops://approvals/pending");
    const records = await readAudit(c.gateways[1].auditFile);
    assert.ok(records.some((r) => r.event === "resource_read" && r.identity === "token:carol"));
  },
);
