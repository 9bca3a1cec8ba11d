import assert from "node:assert/strict";
import type { HttpPlan, HttpResult } from "../../src/exec/plan.ts";
import { ConnPool, idleTimeoutMs, MAX_IDLE_PER_KEY } from "../../src/exec/workers/_conn_pool.ts";
import { compileConfig, type HttpTargetSettings } from "../../src/exec/workers/_http_config.ts";
import { runHttpPlan } from "../../src/exec/workers/_http_request.ts";
import { HttpFailure } from "../../src/exec/workers/_http_result.ts";
import { startCountingServer } from "./_counting_server.ts";
import { makeCertificates } from "./_http_server.ts";

function target(port: number, options: { https?: string; cap?: number } = {}) {
  const settings: HttpTargetSettings = {
    id: "api",
    scheme: options.https ? "https" : "http",
    hostname: options.https ? "localhost" : "127.0.0.1",
    port,
    basePath: "",
    hostHeader: `${options.https ? "localhost" : "127.0.0.1"}:${port}`,
    methods: ["GET", "HEAD", "POST", "PUT", "DELETE"],
    paths: ["/**"],
    headers: {},
    auth: { name: "authorization", value: "Bearer tok-keepalive" },
    secrets: ["tok-keepalive"],
    caCerts: options.https ? [options.https] : [],
    redirects: "same_origin",
    allowAddresses: ["127.0.0.0/8"],
    responseCapBytes: options.cap ?? 65536,
  };
  return compileConfig({ targets: [settings] }).get("api")!;
}

const plan = (method: HttpPlan["method"], path: string, extra: Partial<HttpPlan> = {}) =>
  ({ kind: "http", method, path, timeoutMs: 2000, outputCapBytes: 65536, ...extra }) as HttpPlan;

async function call(
  t: ReturnType<typeof target>,
  p: HttpPlan,
  pool: ConnPool<Deno.Conn>,
): Promise<HttpResult> {
  return await runHttpPlan(t, p, new AbortController().signal, pool);
}

Deno.test("sequential GETs to a plain HTTP target share one TCP connection", async () => {
  const server = startCountingServer(() => ({ body: '{"ok":true}' }));
  const pool = new ConnPool<Deno.Conn>();
  try {
    const t = target(server.port);
    for (let i = 0; i < 5; i++) {
      const result = await call(t, plan("GET", `/n/${i}`), pool);
      assert.equal(result.status, 200);
      assert.equal(result.body, '{"ok":true}');
    }
    assert.equal(server.accepted, 1);
    assert.deepEqual(server.seen.map((s) => s.conn), [1, 1, 1, 1, 1]);
    assert.equal(pool.size("api http://127.0.0.1:" + server.port), 1);
  } finally {
    pool.closeAll();
    server.close();
  }
});

Deno.test("sequential GETs to an HTTPS target share one TLS connection until the server closes it", async () => {
  const certs = await makeCertificates();
  const server = startCountingServer(
    (s) => ({ then: s.path === "/then-idle-close" ? "close" : undefined }),
    Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: certs.cert, key: certs.key }),
  );
  const pool = new ConnPool<Deno.Conn>();
  try {
    const t = target(server.port, { https: certs.ca });
    for (let i = 0; i < 5; i++) assert.equal((await call(t, plan("GET", "/"), pool)).status, 200);
    assert.equal(server.accepted, 1);
    // A TLS connection the server closes while idle is replaced too.
    await call(t, plan("GET", "/then-idle-close"), pool);
    await server.serverClosed();
    assert.equal((await call(t, plan("GET", "/after"), pool)).status, 200);
    assert.equal(server.accepted, 2);
    assert.equal(server.seen.filter((s) => s.path === "/after").length, 1);
  } finally {
    pool.closeAll();
    server.close();
  }
});

Deno.test("without a pool every request uses its own connection with Connection: close", async () => {
  const server = startCountingServer(() => ({}));
  try {
    const t = target(server.port);
    for (let i = 0; i < 3; i++) {
      await runHttpPlan(t, plan("GET", "/"), new AbortController().signal);
    }
    assert.equal(server.accepted, 3);
  } finally {
    server.close();
  }
});

Deno.test("a GET on a connection the server closed while idle is sent again on a new one", async () => {
  const server = startCountingServer((s) => ({
    then: s.path === "/then-idle-close" ? "close" : undefined,
  }));
  const pool = new ConnPool<Deno.Conn>();
  try {
    const t = target(server.port);
    await call(t, plan("GET", "/then-idle-close"), pool);
    await server.serverClosed();
    // The pooled connection is now stale; the client does not know yet.
    const result = await call(t, plan("GET", "/after"), pool);
    assert.equal(result.status, 200);
    assert.equal(server.accepted, 2);
    assert.deepEqual(server.seen.map((s) => s.path), ["/then-idle-close", "/after"]);
  } finally {
    pool.closeAll();
    server.close();
  }
});

Deno.test("a POST never takes a pooled connection, so a stale one is never sent twice", async () => {
  const server = startCountingServer((s) => ({
    then: s.path === "/then-idle-close" ? "close" : undefined,
  }));
  const pool = new ConnPool<Deno.Conn>();
  try {
    const t = target(server.port);
    await call(t, plan("GET", "/then-idle-close"), pool);
    await server.serverClosed();
    const result = await call(t, plan("POST", "/create", { body: { a: 1 } }), pool);
    assert.equal(result.status, 200);
    assert.equal(server.accepted, 2);
    assert.deepEqual(server.seen.filter((s) => s.method === "POST").map((s) => s.conn), [2]);
  } finally {
    pool.closeAll();
    server.close();
  }
});

Deno.test("a POST the server drops without answering fails clearly and is not retried", async () => {
  const server = startCountingServer((s) => ({ then: s.method === "POST" ? "drop" : undefined }));
  const pool = new ConnPool<Deno.Conn>();
  try {
    const t = target(server.port);
    await call(t, plan("GET", "/"), pool);
    await assert.rejects(
      call(t, plan("POST", "/create", { body: {} }), pool),
      (error) => error instanceof HttpFailure && error.code === "bad_response",
    );
    assert.equal(server.seen.filter((s) => s.method === "POST").length, 1);
  } finally {
    pool.closeAll();
    server.close();
  }
});

Deno.test("a Connection: close response's connection is not reused", async () => {
  const server = startCountingServer(() => ({ headers: { connection: "close" } }));
  const pool = new ConnPool<Deno.Conn>();
  try {
    const t = target(server.port);
    for (let i = 0; i < 3; i++) await call(t, plan("GET", "/"), pool);
    assert.equal(server.accepted, 3);
  } finally {
    pool.closeAll();
    server.close();
  }
});

Deno.test("a response with Keep-Alive: timeout=0 leaves its connection unpooled", async () => {
  const server = startCountingServer(() => ({ headers: { "keep-alive": "timeout=0" } }));
  const pool = new ConnPool<Deno.Conn>();
  try {
    const t = target(server.port);
    for (let i = 0; i < 2; i++) await call(t, plan("GET", "/"), pool);
    assert.equal(server.accepted, 2);
  } finally {
    pool.closeAll();
    server.close();
  }
});

Deno.test("a capped (truncated) response's connection is closed, not pooled", async () => {
  const server = startCountingServer((s) => ({
    body: s.path === "/big" ? "x".repeat(5000) : "{}",
  }));
  const pool = new ConnPool<Deno.Conn>();
  try {
    const t = target(server.port, { cap: 1000 });
    const big = await call(t, plan("GET", "/big"), pool);
    assert.equal(big.truncated, true);
    await call(t, plan("GET", "/small"), pool);
    await call(t, plan("GET", "/small"), pool);
    assert.equal(server.accepted, 2);
    assert.deepEqual(server.seen.map((s) => s.conn), [1, 2, 2]);
  } finally {
    pool.closeAll();
    server.close();
  }
});

Deno.test("a same-origin redirect hop reuses the pooled connection", async () => {
  const server = startCountingServer((s) =>
    s.path === "/old" ? { status: 302, headers: { location: "/new" }, body: "" } : {}
  );
  const pool = new ConnPool<Deno.Conn>();
  try {
    const result = await call(target(server.port), plan("GET", "/old"), pool);
    assert.equal(result.status, 200);
    assert.deepEqual(server.seen.map((s) => `${s.path}@${s.conn}`), ["/old@1", "/new@1"]);
  } finally {
    pool.closeAll();
    server.close();
  }
});

Deno.test("a cancelled request's connection is not pooled", async () => {
  const server = startCountingServer(() => ({ then: undefined }));
  const pool = new ConnPool<Deno.Conn>();
  try {
    const t = target(server.port);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(runHttpPlan(t, plan("GET", "/"), controller.signal, pool));
    assert.equal(pool.size(`api http://127.0.0.1:${server.port}`), 0);
  } finally {
    pool.closeAll();
    server.close();
  }
});

Deno.test("idleTimeoutMs() honours a shorter Keep-Alive timeout and never exceeds 30 s", () => {
  assert.equal(idleTimeoutMs(undefined), 30_000);
  assert.equal(idleTimeoutMs("timeout=5, max=100"), 5_000);
  assert.equal(idleTimeoutMs("timeout=600"), 30_000);
  assert.equal(idleTimeoutMs("timeout=0"), 0);
});

Deno.test("ConnPool keeps at most MAX_IDLE_PER_KEY idle connections and closes the rest", () => {
  const closed: number[] = [];
  const pool = new ConnPool<{ id: number; close(): void }>();
  for (let id = 0; id < MAX_IDLE_PER_KEY + 2; id++) {
    pool.give("k", { id, close: () => closed.push(id) });
  }
  assert.equal(pool.size("k"), MAX_IDLE_PER_KEY);
  assert.deepEqual(closed, [MAX_IDLE_PER_KEY, MAX_IDLE_PER_KEY + 1]);
  assert.equal(pool.take("other"), undefined);
  assert.equal(pool.take("k")?.id, MAX_IDLE_PER_KEY - 1);
  pool.give("k", { id: 99, close: () => closed.push(99) }, 0);
  assert.deepEqual(closed.at(-1), 99);
  pool.closeAll();
  assert.equal(pool.size("k"), 0);
  assert.equal(closed.length, 3 + MAX_IDLE_PER_KEY - 1);
});
