/**
 * A kept-alive HTTP connection whose server stopped answering never holds up
 * the next request: once one request runs out of time, the other idle
 * connections to that server are closed, and the next request connects
 * afresh. A raw test server answers the first request on each connection and
 * leaves every later one unanswered.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { HttpPlan } from "../../src/exec/plan.ts";
import { ConnPool } from "../../src/exec/workers/_conn_pool.ts";
import { compileConfig } from "../../src/exec/workers/_http_config.ts";
import { runHttpPlan } from "../../src/exec/workers/_http_request.ts";
import { HttpFailure } from "../../src/exec/workers/_http_result.ts";
import { startCountingServer } from "./_counting_server.ts";

Deno.test("after a request times out on a stuck kept-alive connection, the next one connects afresh", async () => {
  const server = startCountingServer((seen) =>
    server.seen.filter((s) => s.conn === seen.conn).length > 1 ? { then: "hang" } : { body: "ok" }
  );
  const pool = new ConnPool<Deno.Conn>();
  const target = compileConfig({
    targets: [{
      id: "api",
      scheme: "http",
      hostname: "127.0.0.1",
      port: server.port,
      basePath: "",
      hostHeader: `127.0.0.1:${server.port}`,
      methods: ["GET"],
      paths: ["/**"],
      headers: {},
      secrets: [],
      caCerts: [],
      redirects: "none",
      allowAddresses: ["127.0.0.0/8"],
      responseCapBytes: 65536,
    }],
  }).get("api")!;
  const plan = (timeoutMs: number): HttpPlan => ({
    kind: "http",
    method: "GET",
    path: "/x",
    timeoutMs,
    outputCapBytes: 65536,
  });
  const run = (timeoutMs: number) =>
    runHttpPlan(target, plan(timeoutMs), new AbortController().signal, pool);
  try {
    // Three connections at once, each answered once and then kept idle in the pool.
    const first = await Promise.all([run(30_000), run(30_000), run(30_000)]);
    assert.deepEqual(first.map((r) => r.body), ["ok", "ok", "ok"]);
    assert.equal(server.accepted, 3);
    await assert.rejects(
      run(1_000),
      (error) => error instanceof HttpFailure && error.code === "timeout",
    );
    // Without closing the other idle connections, this waits its whole timeout on one of them.
    const next = await run(30_000);
    assert.equal(next.body, "ok");
    assert.equal(server.accepted, 4, "the next request used a new connection");
  } finally {
    pool.closeAll();
    server.close();
  }
});
