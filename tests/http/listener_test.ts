import assert from "node:assert/strict";
import { ConnSocket } from "../../src/http/_conn_socket.ts";
import { DEFAULT_LISTENER_LIMITS, listenHttp } from "../../src/http/listener.ts";

const encoder = new TextEncoder();

/** A connected loopback TCP pair: the accepted side and the client side. */
async function tcpPair(): Promise<{ server: Deno.Conn; client: Deno.Conn; close(): void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [server, client] = await Promise.all([
    listener.accept(),
    Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port }),
  ]);
  listener.close();
  return {
    server,
    client,
    close() {
      for (const conn of [server, client]) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
    },
  };
}

/** Reads from a connection until `bytes` have arrived (or it ends). */
async function readBytes(conn: Deno.Conn, bytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(64 * 1024);
  while (total < bytes) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
    total += n;
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

Deno.test("pieces written to a corked ConnSocket reach the connection in one write", async () => {
  const pair = await tcpPair();
  // The accepted connection, counting the writes made on it.
  let writes = 0;
  const real = pair.server;
  const counted = new Proxy(real, {
    get(target, name) {
      if (name === "write") {
        return (bytes: Uint8Array) => {
          writes++;
          return target.write(bytes);
        };
      }
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const socket = new ConnSocket(counted);
  try {
    socket.cork();
    socket.write("HTTP/1.1 200 OK\r\n\r\n");
    socket.write(encoder.encode("2\r\n"));
    socket.write(encoder.encode("ab\r\n"));
    socket.write("0\r\n\r\n", "latin1");
    const flushed = new Promise<void>((resolve) => socket.write("", () => resolve()));
    socket.uncork();
    await flushed;
    assert.equal(writes, 1, `expected the four pieces in one write, found ${writes} writes`);
    const expected = "HTTP/1.1 200 OK\r\n\r\n2\r\nab\r\n0\r\n\r\n";
    assert.equal(await readBytes(pair.client, expected.length), expected);
  } finally {
    socket.destroy();
    pair.close();
  }
});

/** A listener on a free loopback port serving `handler`, closed by the returned function. */
function serve(
  handler: (request: Request) => Response | Promise<Response>,
): { origin: string; close(): Promise<void> } {
  const listener = listenHttp({ hostname: "127.0.0.1", port: 0 });
  listener.serve(handler);
  return { origin: listener.origin, close: () => listener.close(0) };
}

function eventStream(source: UnderlyingDefaultSource<Uint8Array>): Response {
  return new Response(new ReadableStream(source), {
    headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" },
  });
}

Deno.test("an event stream answered at once arrives whole: headers, every event and the end", async () => {
  const events = ["event: message\ndata: 1\n\n", "event: message\ndata: 2\n\n", "data: 3\n\n"];
  const server = serve(() =>
    eventStream({
      start(controller) {
        for (const event of events) controller.enqueue(encoder.encode(event));
        controller.close();
      },
    })
  );
  try {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.origin}/sse`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "text/event-stream");
      assert.equal(await response.text(), events.join(""));
    }
  } finally {
    await server.close();
  }
});

Deno.test("a quiet event stream sends its headers before its first event", async () => {
  let push!: (text: string | null) => void;
  const server = serve(() =>
    eventStream({
      start(controller) {
        push = (text) =>
          text === null ? controller.close() : controller.enqueue(encoder.encode(text));
      },
    })
  );
  try {
    // fetch resolves on the headers: the first event is sent only after that.
    const response = await fetch(`${server.origin}/sse`, { signal: AbortSignal.timeout(30_000) });
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    push("data: first\n\n");
    assert.equal((await reader.read()).value, "data: first\n\n");
    push("data: second\n\n");
    push(null);
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      rest += chunk.value;
    }
    assert.equal(rest, "data: second\n\n");
  } finally {
    await server.close();
  }
});

Deno.test("a client that drops an event stream cancels it, whether quiet or mid-event", async () => {
  for (const firstEvent of [false, true]) {
    const { promise: cancelled, resolve } = Promise.withResolvers<void>();
    const server = serve(() =>
      eventStream({
        start(controller) {
          if (firstEvent) controller.enqueue(encoder.encode("data: one\n\n"));
        },
        cancel: () => resolve(),
      })
    );
    try {
      const aborter = new AbortController();
      const response = await fetch(`${server.origin}/sse`, { signal: aborter.signal });
      assert.equal(response.status, 200);
      if (firstEvent) {
        const reader = response.body!.getReader();
        assert.equal(new TextDecoder().decode((await reader.read()).value), "data: one\n\n");
      }
      aborter.abort();
      await response.body?.cancel().catch(() => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        cancelled.then(() => "cancelled"),
        new Promise((r) => timer = setTimeout(() => r("still open after 30 s"), 30_000)),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, "cancelled");
    } finally {
      await server.close();
    }
  }
});

Deno.test("a large event stream read slowly arrives complete and in order", async () => {
  const chunk = 64 * 1024;
  const count = 64; // 4 MiB: well past every buffer, so the writer waits for drains.
  let sent = 0;
  const server = serve(() =>
    eventStream({
      pull(controller) {
        if (sent === count) return controller.close();
        const bytes = new Uint8Array(chunk).fill(97 + (sent % 26));
        sent++;
        controller.enqueue(bytes);
      },
    })
  );
  try {
    const response = await fetch(`${server.origin}/sse`);
    const reader = response.body!.getReader();
    let received = 0;
    let reads = 0;
    const expectedAt = (offset: number) => 97 + (Math.floor(offset / chunk) % 26);
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      const last = received + r.value.byteLength - 1;
      assert.equal(r.value[0], expectedAt(received), `byte ${received}`);
      assert.equal(r.value[r.value.byteLength - 1], expectedAt(last), `byte ${last}`);
      received += r.value.byteLength;
      // A slow reader: the writer has to wait for it.
      if (++reads % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(received, chunk * count);
  } finally {
    await server.close();
  }
});

Deno.test("a kept-alive connection answers again, then is closed once idle past the keep-alive time", async () => {
  const listener = listenHttp({ hostname: "127.0.0.1", port: 0 }, {
    ...DEFAULT_LISTENER_LIMITS,
    keepAliveTimeoutMs: 300,
  });
  listener.serve(() => Response.json({ ok: true }));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  try {
    const request = encoder.encode("GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const buffer = new Uint8Array(4096);
    for (let i = 0; i < 3; i++) {
      await conn.write(request);
      let text = "";
      while (!text.endsWith('{"ok":true}')) {
        const n = await conn.read(buffer);
        assert.notEqual(n, null, `the connection closed before answer ${i + 1}: ${text}`);
        text += new TextDecoder().decode(buffer.subarray(0, n!));
      }
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\nConnection: keep-alive\r\n/i);
    }
    // Idle now: the listener closes it (the read sees the end), not the test.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      conn.read(buffer).then((n) => (n === null ? "closed" : `read ${n} more bytes`)),
      new Promise((r) => timer = setTimeout(() => r("still open after 30 s"), 30_000)),
    ]);
    clearTimeout(timer);
    assert.equal(outcome, "closed");
  } finally {
    conn.close();
    await listener.close(0);
  }
});

Deno.test("request bodies reach the handler whole, small or large, with their headers", async () => {
  const server = serve(async (request) => {
    const body = new Uint8Array(await request.arrayBuffer());
    let sum = 0;
    for (const byte of body) sum = (sum + byte) % 65_521;
    return Response.json({
      length: body.byteLength,
      sum,
      type: request.headers.get("content-type"),
      custom: request.headers.get("x-custom"),
    });
  });
  try {
    for (const size of [0, 1, 300, 64 * 1024, 64 * 1024 + 1, 300_000]) {
      const body = new Uint8Array(size).map((_, i) => (i * 7) % 251);
      let sum = 0;
      for (const byte of body) sum = (sum + byte) % 65_521;
      const response = await fetch(`${server.origin}/echo`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json", "x-custom": "a, b" },
      });
      assert.deepEqual(await response.json(), {
        length: size,
        sum,
        type: "application/json",
        custom: "a, b",
      }, `a body of ${size} bytes`);
    }
  } finally {
    await server.close();
  }
});

Deno.test("a request that stops short of its Content-Length never reaches the handler", async () => {
  let handled = 0;
  const server = serve(async (request) => {
    handled++;
    await request.arrayBuffer();
    return Response.json({ ok: true });
  });
  try {
    for (const declared of [100, 70_000]) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: Number(new URL(server.origin).port),
      });
      await conn.write(encoder.encode(
        `POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${declared}\r\n\r\n0123456789`,
      ));
      conn.closeWrite();
      // The listener ends the connection without an answer from the handler.
      const buffer = new Uint8Array(4096);
      let text = "";
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      conn.close();
      assert.doesNotMatch(text, /"ok":true/, `declared ${declared}`);
    }
    // Below the whole-body size the handler never ran; above it, it ran and
    // failed to read the body. Either way the listener still answers.
    assert.ok(handled <= 1, `the handler ran ${handled} times`);
    const response = await fetch(`${server.origin}/x`);
    assert.deepEqual(await response.json(), { ok: true });
  } finally {
    await server.close();
  }
});

Deno.test("a refusal of a large body goes out before the client has sent the body", async () => {
  const server = serve(() => Response.json({ error: "too large" }, { status: 413 }));
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: Number(new URL(server.origin).port),
  });
  try {
    // Headers only: a body of 10 MB is announced and never sent.
    await conn.write(encoder.encode(
      "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000\r\n\r\n",
    ));
    const buffer = new Uint8Array(4096);
    let text = "";
    while (!text.includes('"too large"')) {
      const n = await conn.read(buffer);
      assert.notEqual(n, null, `closed before the refusal: ${text}`);
      text += new TextDecoder().decode(buffer.subarray(0, n!));
    }
    assert.match(text, /^HTTP\/1\.1 413 /);
  } finally {
    conn.close();
    await server.close();
  }
});
