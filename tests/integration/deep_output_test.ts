/**
 * Targets that answer with JSON nested hundreds or thousands of levels deep,
 * through the real gateway: each such target gets its own `bad_output`
 * result and its own `finished` record, and the healthy targets of the same
 * fan-out keep theirs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, readAudit, startGateway } from "./_gateway.ts";
import { call } from "./_mcp_checks.ts";

/** JSON arrays or objects nested `depth` levels deep. */
function deepJson(depth: number, shape: "array" | "object"): string {
  return shape === "array"
    ? "[".repeat(depth) + "]".repeat(depth)
    : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

/** Each target sends its own `X-Depth` header; the test API nests its answer that deep. */
const DEEP: Record<string, { depth: number; shape: "array" | "object" }> = {
  "deep-256": { depth: 256, shape: "object" },
  "deep-1000": { depth: 1000, shape: "array" },
  "deep-100000": { depth: 100_000, shape: "array" },
};

function targets(port: number): string {
  const http = (id: string, depth: number) => [
    `  - id: ${id}`,
    "    type: http",
    "    tags: [api]",
    "    capabilities: [http:read]",
    "    connection:",
    `      base_url: http://127.0.0.1:${port}`,
    "      methods: [GET]",
    '      paths: ["/**"]',
    `      headers: { X-Depth: "${depth}", X-Shape: ${DEEP[id]?.shape ?? "array"} }`,
  ];
  return [
    "targets:",
    ...http("api-1", 0),
    ...Object.entries(DEEP).flatMap(([id, { depth }]) => http(id, depth)),
    ...http("api-2", 0),
  ].join("\n");
}

Deno.test("deeply nested JSON from a target is a per-target bad_output with its own finished record", async (t) => {
  const api = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const depth = Number(req.headers.get("x-depth") ?? "0");
    const shape = req.headers.get("x-shape") === "object" ? "object" : "array";
    if (depth > 0) {
      return new Response(deepJson(depth, shape), {
        headers: { "content-type": "application/json" },
      });
    }
    return Response.json({ ok: true, path: new URL(req.url).pathname });
  });
  try {
    await using gateway = await startGateway({ targets: targets(api.addr.port) });
    const client = await connectHttp(gateway);
    try {
      for (const [id, { depth }] of Object.entries(DEEP)) {
        await t.step(`a target answering ${depth} levels deep fails with bad_output`, async () => {
          const outcome = await call(client, "http_request", { target: id, path: "/x" });
          assert.equal(outcome.results.length, 1, outcome.text);
          assert.equal(outcome.results[0].status, "failed", outcome.text);
          assert.equal(outcome.results[0].error?.code, "bad_output", outcome.text);
          assert.match(outcome.results[0].error?.message ?? "", /nested/);
        });
      }

      await t.step("healthy targets of a fan-out keep their results beside deep ones", async () => {
        for (let round = 0; round < 2; round++) {
          const outcome = await call(client, "http_request", { targets: "tag:api", path: "/x" });
          const statuses = Object.fromEntries(outcome.results.map((r) => [r.target, r.status]));
          assert.deepEqual(statuses, {
            "api-1": "ok",
            "deep-256": "failed",
            "deep-1000": "failed",
            "deep-100000": "failed",
            "api-2": "ok",
          }, outcome.text);
          for (const entry of outcome.results.filter((r) => r.target.startsWith("deep-"))) {
            assert.equal(entry.error?.code, "bad_output", outcome.text);
          }
          const healthy = outcome.results.find((r) => r.target === "api-1");
          assert.deepEqual(healthy?.data?.body, { ok: true, path: "/x" });
        }
      });

      await t.step("the gateway still answers after all of it", async () => {
        const again = await call(client, "http_request", { target: "api-2", path: "/x" });
        assert.equal(again.results[0].status, "ok", again.text);
      });
    } finally {
      await client.close();
    }
    await gateway.stop();
    const records = await readAudit(gateway.auditFile);
    const decided = records.filter((r) => r.event === "decided");
    const finished = new Map(records.filter((r) => r.event === "finished").map((r) => [r.call, r]));
    assert.equal(decided.length, 3 + 2 * 5 + 1, "every target of every call was decided");
    for (const record of decided) {
      const end = finished.get(record.call);
      assert.ok(end, `decided ${record.call} on ${record.target} has no finished record`);
    }
    const bad = [...finished.values()].filter((r) => r.reason === "bad_output");
    assert.equal(bad.length, 3 + 2 * 3, "one bad_output finished record per deep answer");
  } finally {
    await api.shutdown();
  }
});

Deno.test("arguments nested deeper than 128 levels are refused before the gate, and nothing runs", async () => {
  let seen = 0;
  const api = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    seen++;
    return Response.json({ ok: true });
  });
  try {
    const registry = targets(api.addr.port).replaceAll("[http:read]", "[http:read, http:write]")
      .replaceAll("methods: [GET]", "methods: [GET, POST]");
    await using gateway = await startGateway({
      targets: registry,
      policy: ["rules:", "  - id: all", "    tiers: [observe, control]"].join("\n"),
    });
    const client = await connectHttp(gateway);
    try {
      // 200 would pass the audit's canonical JSON (256) but not validation's walk;
      // 300 and 1000 would break the audit digest of every target.
      for (const depth of [200, 300, 1000]) {
        const body = JSON.parse("[".repeat(depth) + "]".repeat(depth));
        const result = await client.callTool({
          name: "http_request",
          arguments: { targets: "tag:api", method: "POST", path: "/x", body },
        });
        assert.equal(result.isError, true);
        const text = (result.content as { text: string }[])[0].text;
        assert.match(text, /^invalid_arguments: .*nested more than 128 levels deep$/, text);
      }
      assert.equal(seen, 0, "nothing reached the API");
      const fine = await call(client, "http_request", {
        target: "api-1",
        method: "POST",
        path: "/x",
        body: { a: [1] },
      });
      assert.equal(fine.results[0].status, "ok", fine.text);
    } finally {
      await client.close();
    }
    await gateway.stop();
    const records = await readAudit(gateway.auditFile);
    const refused = records.filter((r) => r.event === "refused" && r.reason === "bad_arguments");
    assert.ok(refused.length >= 1 && refused.length <= 3, `${refused.length} refusal records`);
    assert.equal(records.filter((r) => r.event === "decided").length, 1);
  } finally {
    await api.shutdown();
  }
});
