import assert from "node:assert/strict";
import type { DockerResult } from "../../src/exec/plan.ts";
import { demuxLogs } from "../../src/exec/workers/_docker_body.ts";
import { negotiateApiVersion } from "../../src/exec/workers/_docker_client.ts";
import { dockerHost, dockerRegistry, plan } from "./_docker_fixture.ts";

/** A fake engine on a unix socket that records every request. */
async function fakeEngine(
  apiVersion: string,
  handler: (request: Request, path: string) => Response | Promise<Response>,
) {
  const dir = await Deno.makeTempDir();
  const socket = `${dir}/docker.sock`;
  const seen: string[] = [];
  const server = Deno.serve({ path: socket, onListen() {} }, (request) => {
    const url = new URL(request.url);
    seen.push(`${request.method} ${url.pathname}${url.search}`);
    if (url.pathname === "/version") return Response.json({ ApiVersion: apiVersion });
    return handler(request, url.pathname);
  });
  return {
    socket,
    seen,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function setup(socket: string, timeoutMs = 30_000) {
  const registry = await dockerRegistry([{ id: "fake", socket, timeoutMs }]);
  return { host: dockerHost(registry), target: registry.get("fake")! };
}

Deno.test("negotiateApiVersion() takes the lower version and refuses old engines", () => {
  assert.equal(negotiateApiVersion("1.41"), "1.41");
  assert.equal(negotiateApiVersion("1.45"), "1.45");
  assert.equal(negotiateApiVersion("1.52"), "1.47");
  assert.throws(() => negotiateApiVersion("1.30"), /expected 1\.40 or newer/);
});

Deno.test("the worker prefixes paths with the negotiated version", async () => {
  await using engine = await fakeEngine("1.52", () => Response.json([]));
  const { host, target } = await setup(engine.socket);
  try {
    const outcome = await host.run(
      target,
      plan(target, {
        method: "GET",
        path: "/containers/json",
        query: { all: "1" },
        response: "json",
      }),
    );
    assert.ok(outcome.ok);
    assert.equal((outcome.result as DockerResult).apiVersion, "1.47");
    assert.deepEqual(engine.seen, ["GET /version", "GET /v1.47/containers/json?all=1"]);
  } finally {
    host.close();
  }
});

Deno.test("a mutation on a missing container sends no mutating request", async () => {
  await using engine = await fakeEngine(
    "1.41",
    () => Response.json({ message: "No such container: ghost" }, { status: 404 }),
  );
  const { host, target } = await setup(engine.socket);
  try {
    const outcome = await host.run(
      target,
      plan(target, {
        method: "POST",
        path: "/containers/ghost/restart",
        response: "none",
        requireContainer: "ghost",
      }),
    );
    assert.ok(!outcome.ok);
    assert.equal(outcome.error.code, "not_found");
    assert.doesNotMatch(outcome.error.message, /No such container/);
    assert.deepEqual(engine.seen, ["GET /version", "GET /v1.41/containers/ghost/json"]);
  } finally {
    host.close();
  }
});

Deno.test("engine refusals come back with the engine's short message, capped", async () => {
  const long = `conflict ${"x".repeat(1000)}\r\nInjected: line`;
  await using engine = await fakeEngine(
    "1.41",
    () => Response.json({ message: long }, { status: 409 }),
  );
  const { host, target } = await setup(engine.socket);
  try {
    const outcome = await host.run(
      target,
      plan(target, { method: "DELETE", path: "/containers/web", response: "none" }),
    );
    assert.ok(outcome.ok);
    const result = outcome.result as DockerResult;
    assert.equal(result.status, 409);
    const message = (result.body as { message: string }).message;
    assert.ok(message.length <= 301);
    assert.doesNotMatch(message, /[\r\n]/);
  } finally {
    host.close();
  }
});

Deno.test("a call that outlives its timeout is stopped with code timeout", async () => {
  await using engine = await fakeEngine("1.41", async (request) => {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 3000);
      request.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
    return Response.json([]);
  });
  const { host, target } = await setup(engine.socket, 300);
  try {
    const started = performance.now();
    const outcome = await host.run(
      target,
      plan(target, { method: "GET", path: "/containers/json", response: "json" }),
    );
    assert.ok(!outcome.ok);
    assert.equal(outcome.error.code, "timeout");
    assert.ok(
      performance.now() - started < 20_000,
      "not hung (the code says which deadline ended it)",
    );
  } finally {
    host.close();
  }
});

Deno.test("a cancelled call stops with code cancelled", async () => {
  await using engine = await fakeEngine(
    "1.41",
    (request) =>
      new Promise((resolve) =>
        request.signal.addEventListener("abort", () => resolve(new Response(null)))
      ),
  );
  const { host, target } = await setup(engine.socket);
  try {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const outcome = await host.run(
      target,
      plan(target, { method: "GET", path: "/events", response: "stream_json" }),
      {
        signal: controller.signal,
      },
    );
    assert.ok(!outcome.ok);
    assert.equal(outcome.error.code, "cancelled");
  } finally {
    host.close();
  }
});

Deno.test("a missing socket reads as unreachable", async () => {
  const { host, target } = await setup("/tmp/tailops-no-such-dir/docker.sock");
  try {
    const outcome = await host.run(
      target,
      plan(target, { method: "GET", path: "/info", response: "json" }),
    );
    assert.ok(!outcome.ok);
    assert.equal(outcome.error.code, "unreachable");
    assert.match(outcome.error.message, /the socket does not exist/);
  } finally {
    host.close();
  }
});

function frame(stream: number, text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + payload.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, payload.length);
  out.set(payload, 8);
  return out;
}

async function* chunks(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

Deno.test("demuxLogs() reassembles frames split across reads and caps the total", async () => {
  const all = [frame(1, "hello "), frame(2, "oops\n"), frame(1, "world\n")];
  const bytes = new Uint8Array(all.reduce((n, f) => n + f.length, 0));
  all.reduce((at, f) => (bytes.set(f, at), at + f.length), 0);
  const whole = await demuxLogs(chunks(bytes, 3), { cap: 1000, multiplexed: true });
  assert.deepEqual(whole, { stdout: "hello world\n", stderr: "oops\n", truncated: false });
  const capped = await demuxLogs(chunks(bytes, 5), { cap: 8, multiplexed: true });
  assert.deepEqual(capped, { stdout: "hello ", stderr: "oo", truncated: true });
  await assert.rejects(
    () =>
      demuxLogs(chunks(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 1, 65]), 4), {
        cap: 10,
        multiplexed: true,
      }),
    RangeError,
  );
});

Deno.test("a call cancelled while its worker is still starting ends as cancelled, not at its timeout", async () => {
  await using engine = await fakeEngine("1.41", () => Response.json([]));
  const { host, target } = await setup(engine.socket);
  try {
    const controller = new AbortController();
    // Aborted before the worker can have started: the host is brand new.
    const running = host.run(
      target,
      plan(target, { method: "GET", path: "/containers/json", response: "json" }),
      { signal: controller.signal },
    );
    controller.abort();
    const outcome = await running;
    assert.ok(!outcome.ok);
    assert.equal(outcome.error.code, "cancelled");
  } finally {
    host.close();
  }
});
