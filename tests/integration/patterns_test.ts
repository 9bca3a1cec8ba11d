/**
 * Patterns against data the gateway does not control, through the real
 * gateway process and the SDK client: star-bomb selectors, evil policy
 * patterns, HTTP paths that try to step outside the path allowlist, and
 * parameter limits that fail closed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startCountingServer } from "../exec/_counting_server.ts";
import { SMUGGLED_PATHS } from "../exec/_smuggled_paths.ts";
import { connectHttp, readAudit, startGateway } from "./_gateway.ts";
import { call } from "./_mcp_checks.ts";

const LONG = "a".repeat(58);

function registry(apiPort: number): string {
  const lines = [
    "targets:",
    "  - id: api",
    "    type: http",
    "    capabilities: [http:read]",
    "    connection:",
    `      base_url: http://127.0.0.1:${apiPort}`,
    '      paths: ["/api/**"]',
    "  - id: host",
    "    type: local",
    "    capabilities: [system:read, system:control, system:admin]",
  ];
  // Long ids, so a backtracking matcher would have much to chew on.
  for (let i = 0; i < 40; i++) {
    lines.push(
      `  - id: ${LONG}${String(i).padStart(4, "0")}`,
      "    type: http",
      "    capabilities: [http:read]",
      `    connection: { base_url: "http://127.0.0.1:${apiPort}" }`,
    );
  }
  return lines.join("\n");
}

const POLICY = `
rules:
  - id: reads
    tiers: [observe]
    targets: ["*", "!host"]
    params:
      lines: { max: 100 }
      path: { pattern: "(/?a+)+|/api(/[a-z0-9.%@~-]*)*" }
  - id: nginx-logs-only
    operations: [journal_logs]
    targets: [host]
    params:
      unit: { enum: [nginx, nginx.service] }
  - id: nginx-upgrades-only
    operations: [package_upgrade]
    targets: [host]
    params:
      packages: { enum: [nginx] }
  - id: long-glob
    operations: ["${"*?".repeat(31)}x"]
`;

/** Asks /healthz with a deadline; true when it answered 200. */
async function healthy(port: number): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
    signal: AbortSignal.timeout(20_000),
  });
  await response.body?.cancel();
  return response.status === 200;
}

Deno.test("patterns run in linear time and path allowlists normalise first, through the real gateway", async (t) => {
  const upstream = startCountingServer(() => ({ body: '{"ok":true}' }));
  try {
    await using gateway = await startGateway({
      targets: registry(upstream.port),
      policy: POLICY,
    });
    const client = await connectHttp(gateway);
    try {
      await t.step("star-bomb selectors get an answer and /healthz keeps answering", async () => {
        for (
          const targets of [
            "*".repeat(40) + "x",
            "*".repeat(62) + "x",
            "?*".repeat(31) + "x",
            Array.from({ length: 24 }, (_, i) => "*?".repeat(20) + "x" + (i % 10)),
          ]
        ) {
          const answered = call(client, "http_health", { targets, dry_run: true });
          const [result, ok] = await Promise.all([answered, healthy(gateway.port)]);
          assert.ok(ok, "/healthz answers while the selector is matched");
          assert.equal(result.isError, true, result.text);
          assert.match(result.text, /No target matches/);
        }
        for (
          const targets of [
            "*".repeat(200) + "x",
            "a&".repeat(200) + "a",
            Array.from({ length: 200 }, () => "*".repeat(40) + "x"),
          ]
        ) {
          const result = await client.callTool({
            name: "http_health",
            arguments: { targets, dry_run: true },
          }).catch((error: Error) => ({ isError: true, content: [{ text: error.message }] }));
          assert.equal(result.isError, true);
          assert.match(JSON.stringify(result.content), /at most (63|256|1024) characters/);
        }
        assert.ok(await healthy(gateway.port));
      });

      await t.step(
        "an evil policy pattern cannot be driven into backtracking by an argument",
        async () => {
          // (/?a+)+ against "/aaaa…a!" takes exponential time on a backtracking engine.
          const path = "/" + "a".repeat(2000) + "!";
          const [result, ok] = await Promise.all([
            call(client, "http_health", { target: "api", path, dry_run: true }),
            healthy(gateway.port),
          ]);
          assert.ok(ok);
          assert.equal(result.results[0].status, "denied", result.text);
          assert.match(result.results[0].error?.message ?? "", /must match/);
          assert.equal(upstream.seen.length, 0);
        },
      );

      await t.step(
        "every smuggled path is refused with a clear error and never reaches the upstream",
        async () => {
          const allowed = await call(client, "http_request", { target: "api", path: "/api/items" });
          assert.equal(allowed.results[0].status, "ok", allowed.text);
          assert.equal(upstream.seen.length, 1);
          for (const [kind, paths] of Object.entries(SMUGGLED_PATHS)) {
            for (const path of paths) {
              const result = await client.callTool({
                name: "http_request",
                arguments: { target: "api", path },
              });
              assert.equal(result.isError, true, `${kind}: ${path} was not refused`);
              assert.match(JSON.stringify(result.content), /Invalid path .*expected /, path);
            }
          }
          assert.deepEqual(upstream.seen.map((s) => s.path), ["/api/items"]);
        },
      );

      await t.step(
        "parameter limits fail closed: a left-out or widening parameter is refused",
        async () => {
          const noUnit = await call(client, "journal_logs", { target: "host", dry_run: true });
          assert.equal(noUnit.results[0].status, "denied", noUnit.text);
          assert.match(
            noUnit.results[0].error?.message ?? "",
            /parameter "unit" must be given, found it left out \(which means every unit\)/,
          );
          const nginx = await call(client, "journal_logs", {
            target: "host",
            unit: "nginx",
            dry_run: true,
          });
          assert.equal(nginx.results[0].status, "planned", nginx.text);
          const all = await call(client, "package_upgrade", {
            target: "host",
            all: true,
            dry_run: true,
          });
          assert.equal(all.results[0].status, "denied", all.text);
          assert.match(
            all.results[0].error?.message ?? "",
            /parameter "all" takes the call beyond/,
          );
          const other = await call(client, "package_upgrade", {
            target: "host",
            packages: ["nginx", "openssh-server"],
            dry_run: true,
          });
          assert.equal(other.results[0].status, "denied", other.text);
          assert.match(other.results[0].error?.message ?? "", /found "openssh-server"/);
          const one = await call(client, "package_upgrade", {
            target: "host",
            packages: ["nginx"],
            dry_run: true,
          });
          assert.equal(one.results[0].status, "planned", one.text);
        },
      );
    } finally {
      await client.close();
    }
    assert.ok(await healthy(gateway.port));
    const audit = await readAudit(gateway.auditFile);
    assert.ok(audit.length > 0);
  } finally {
    upstream.close();
  }
});
