import assert from "node:assert/strict";
import type { DockerPlan, DockerResult } from "../../src/exec/plan.ts";
import { type Reply, type Seen, startCountingServer } from "./_counting_server.ts";
import { dockerHost, dockerRegistry, plan } from "./_docker_fixture.ts";

/**
 * A fake engine on a unix socket that counts connections: `/version` says
 * 1.41, everything else answers `answer(seen)` (default `[]`).
 */
async function countingEngine(answer: (seen: Seen) => Reply = () => ({ body: "[]" })) {
  const dir = await Deno.makeTempDir();
  const socket = `${dir}/docker.sock`;
  const server = startCountingServer(
    (seen) => seen.path === "/version" ? { body: '{"ApiVersion":"1.41"}' } : answer(seen),
    Deno.listen({ transport: "unix", path: socket }),
  );
  const registry = await dockerRegistry([{ id: "fake", socket, capBytes: 1024 }]);
  const host = dockerHost(registry);
  const target = registry.get("fake")!;
  return {
    server,
    run: (p: Omit<DockerPlan, "kind" | "timeoutMs" | "outputCapBytes">) =>
      host.run(target, plan(target, p)),
    async [Symbol.asyncDispose]() {
      host.close();
      server.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const LIST = { method: "GET", path: "/containers/json", response: "json" } as const;
const RESTART = { method: "POST", path: "/containers/web/restart", response: "none" } as const;

Deno.test("sequential container lists over the unix socket share one connection", async () => {
  await using engine = await countingEngine();
  for (let i = 0; i < 5; i++) {
    const outcome = await engine.run(LIST);
    assert.ok(outcome.ok);
    assert.deepEqual((outcome.result as DockerResult).body, []);
  }
  assert.equal(engine.server.accepted, 1);
  assert.equal(engine.server.seen.length, 6); // GET /version, then 5 lists
  assert.ok(engine.server.seen.every((s) => s.conn === 1));
});

Deno.test("a GET on a connection the engine closed while idle is sent again on a new one", async () => {
  await using engine = await countingEngine((s) => ({
    body: "[]",
    then: s.path.includes("idle=close") ? "close" : undefined,
  }));
  assert.ok((await engine.run({ ...LIST, query: { idle: "close" } })).ok);
  await engine.server.serverClosed();
  const outcome = await engine.run({ ...LIST, query: { after: "1" } });
  assert.ok(outcome.ok);
  assert.equal(engine.server.accepted, 2);
  assert.equal(engine.server.seen.filter((s) => s.path.includes("after=1")).length, 1);
});

Deno.test("a mutating POST never takes a pooled connection, even a stale one", async () => {
  await using engine = await countingEngine((s) => ({
    status: s.method === "POST" ? 204 : 200,
    body: s.method === "POST" ? "" : "[]",
    then: s.path.includes("idle=close") ? "close" : undefined,
  }));
  assert.ok((await engine.run({ ...LIST, query: { idle: "close" } })).ok);
  await engine.server.serverClosed();
  const outcome = await engine.run(RESTART);
  assert.ok(outcome.ok);
  assert.deepEqual(engine.server.seen.filter((s) => s.method === "POST").map((s) => s.conn), [2]);
});

Deno.test("a POST the engine drops without answering fails and is never sent again", async () => {
  await using engine = await countingEngine((s) => ({
    body: "[]",
    then: s.method === "POST" ? "drop" : undefined,
  }));
  assert.ok((await engine.run(LIST)).ok);
  const outcome = await engine.run(RESTART);
  assert.ok(!outcome.ok);
  assert.equal(outcome.error.code, "unreachable");
  assert.equal(engine.server.seen.filter((s) => s.method === "POST").length, 1);
});

Deno.test("a response cut by the output cap closes its connection", async () => {
  await using engine = await countingEngine((s) => ({
    body: s.path.includes("big=1") ? `["${"x".repeat(5000)}"]` : "[]",
  }));
  const big = await engine.run({ ...LIST, query: { big: "1" } });
  assert.ok(!big.ok);
  assert.equal(big.error.code, "bad_response");
  assert.ok((await engine.run(LIST)).ok);
  assert.ok((await engine.run(LIST)).ok);
  assert.equal(engine.server.accepted, 2);
  assert.deepEqual(engine.server.seen.map((s) => s.conn), [1, 1, 2, 2]);
});

Deno.test("a Connection: close answer from the engine is not reused", async () => {
  await using engine = await countingEngine(() => ({
    body: "[]",
    headers: { connection: "close" },
  }));
  for (let i = 0; i < 3; i++) assert.ok((await engine.run(LIST)).ok);
  // The /version answer kept its connection for the first list; each list closed its own.
  assert.equal(engine.server.accepted, 3);
});
