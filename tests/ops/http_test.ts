import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import type { Target } from "../../src/config/targets_schema.ts";
import type { HttpResult } from "../../src/exec/plan.ts";
import { HTTP_HEALTH, HTTP_REQUEST } from "../../src/ops/http.ts";
import { HTTP_OPERATIONS } from "../../src/ops/http_ops.ts";
import { OperationError } from "../../src/ops/operation.ts";

const registry = await parseTargets(
  `version: 1
targets:
  - id: api
    type: http
    capabilities: [http:read, http:write]
    constraints: { timeout_ms: 5000, output_cap_bytes: 8192 }
    connection:
      base_url: https://api.example.com/v1
      methods: [GET, POST]
      paths: ["/items/**", "/healthz"]
  - id: box
    type: local
    capabilities: [system:read]
`,
  "ops.yaml",
);
const api = registry.get("api")!;
const box = registry.get("box") as Target;

const RESULT: HttpResult = {
  kind: "http",
  status: 200,
  headers: { "content-type": "application/json" },
  body: { ok: true },
  truncated: false,
  latencyMs: 12,
};

Deno.test("HTTP_OPERATIONS holds both operations and is frozen", () => {
  assert.deepEqual(HTTP_OPERATIONS.map((op) => op.name), ["http_request", "http_health"]);
  assert.ok(Object.isFrozen(HTTP_OPERATIONS));
  assert.ok(HTTP_OPERATIONS.every((op) => Object.isFrozen(op) && op.targetTypes.join() === "http"));
});

Deno.test("http_request needs http:read for GET and HEAD and http:write otherwise", () => {
  const capability = (method: string) =>
    HTTP_REQUEST.capabilityFor!(HTTP_REQUEST.input.parse({ method, path: "/x" }));
  assert.equal(HTTP_REQUEST.capability, "http:read");
  assert.equal(HTTP_REQUEST.tier, "observe");
  assert.deepEqual(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"].map(capability), [
    "http:read",
    "http:read",
    "http:write",
    "http:write",
    "http:write",
    "http:write",
  ]);
  assert.equal(HTTP_REQUEST.mutates, true);
  assert.equal(HTTP_HEALTH.capability, "http:read");
  assert.equal(HTTP_HEALTH.mutates, false);
});

Deno.test("http_request's schema refuses unsafe paths, headers, queries and bodies", () => {
  const bad = [
    { path: "items" },
    { path: "//evil.example/x" },
    { path: "/items/../admin" },
    { path: "/items\r\nHost: x" },
    { path: "https://evil.example/" },
    { path: "/items", headers: { authorization: "Bearer x" } },
    { path: "/items", headers: { cookie: "a=b" } },
    { path: "/items", headers: { host: "evil" } },
    { path: "/items", headers: { accept: "a\r\nb" } },
    { path: "/items", query: { "bad key": "x" } },
    { path: "/items", body: { a: 1 } },
    { method: "POST", path: "/items", body: "x".repeat(300_000) },
    { path: "/items", extra: true },
  ];
  for (const args of bad) {
    assert.ok(!HTTP_REQUEST.input.safeParse(args).success, JSON.stringify(args).slice(0, 80));
  }
  const good = HTTP_REQUEST.input.parse({
    method: "POST",
    path: "/items/7",
    query: { q: "a b" },
    headers: { "if-match": '"v1"', "x-request-id": "r1" },
    body: { name: "x" },
  });
  assert.equal(good.method, "POST");
});

Deno.test("http_request's plan is plain data with the target's limits", () => {
  const plan = HTTP_REQUEST.plan(
    HTTP_REQUEST.input.parse({ method: "POST", path: "/items/7", query: { q: "1" }, body: [1] }),
    api,
  );
  assert.deepEqual(plan, {
    kind: "http",
    method: "POST",
    path: "/items/7",
    query: { q: "1" },
    body: [1],
    timeoutMs: 5000,
    outputCapBytes: 8192,
  });
});

Deno.test("http_request's plan refuses methods and paths the target does not allow (dry run shows it)", () => {
  const refuse = (args: Record<string, unknown>, pattern: RegExp) =>
    assert.throws(
      () => HTTP_REQUEST.plan(HTTP_REQUEST.input.parse(args), api),
      (error: unknown) =>
        error instanceof OperationError && error.code === "forbidden" &&
        pattern.test(error.message),
    );
  refuse(
    { method: "DELETE", path: "/items/1" },
    /Method DELETE is not allowed on this target: expected one of GET, POST/,
  );
  refuse(
    { path: "/admin" },
    /Path "\/admin" is not allowed on this target: expected a path matching "\/items\/\*\*", "\/healthz"/,
  );
  assert.throws(
    () => HTTP_REQUEST.plan(HTTP_REQUEST.input.parse({ path: "/items" }), box),
    OperationError,
  );
});

Deno.test("http_health plans a GET with health on and reports days left", () => {
  assert.deepEqual(HTTP_HEALTH.plan(HTTP_HEALTH.input.parse({ path: "/healthz" }), api), {
    kind: "http",
    method: "GET",
    path: "/healthz",
    health: true,
    timeoutMs: 5000,
    outputCapBytes: 8192,
  });
  assert.throws(() => HTTP_HEALTH.plan(HTTP_HEALTH.input.parse({}), api), OperationError);
  const expires = new Date(Date.now() + 10.5 * 86_400_000).toISOString();
  const output = HTTP_HEALTH.parse({ ...RESULT, certificateExpires: expires }, {
    path: "/healthz",
  });
  assert.deepEqual(output, {
    status: 200,
    ok: true,
    latencyMs: 12,
    certificateExpires: expires,
    certificateDaysLeft: 10,
  });
  assert.ok(HTTP_HEALTH.output.safeParse(output).success);
  assert.match(
    HTTP_HEALTH.render(output),
    /HTTP 200 healthy in 12 ms; certificate expires .* \(10 days left\)/,
  );
});

Deno.test("http_request parses and renders a result", () => {
  const args = HTTP_REQUEST.input.parse({ path: "/items" });
  const output = HTTP_REQUEST.parse(RESULT, args);
  assert.ok(HTTP_REQUEST.output.safeParse(output).success);
  assert.equal(HTTP_REQUEST.render(output), 'HTTP 200 in 12 ms\n{\n  "ok": true\n}');
  assert.throws(
    () => HTTP_REQUEST.parse({ kind: "exec", commands: [] }, args),
    (error: unknown) => error instanceof OperationError && error.code === "bad_output",
  );
});
