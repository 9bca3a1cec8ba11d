import assert from "node:assert/strict";
import {
  BadResponseError,
  exchange,
  type WireResponse,
} from "../../src/exec/workers/_http_wire.ts";

/** Serves one raw response to one connection; resolves with the request bytes the server read. */
async function rawExchange(
  response: string,
  options: { cap?: number; method?: string; body?: string } = {},
): Promise<{ response?: WireResponse; error?: unknown; request: string }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(8192);
    const n = await conn.read(buf);
    await conn.write(new TextEncoder().encode(response));
    conn.close();
    return new TextDecoder().decode(buf.subarray(0, n ?? 0));
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const body = options.body === undefined ? undefined : new TextEncoder().encode(options.body);
  const request = {
    method: options.method ?? "GET",
    target: "/p?q=1",
    host: "api.test",
    headers: [["accept", "*/*"]] as const,
    body,
  };
  try {
    return { response: await exchange(conn, request, options.cap ?? 1024), request: await served };
  } catch (error) {
    return { error, request: await served };
  } finally {
    conn.close();
    listener.close();
  }
}

const text = (r: WireResponse | undefined) => new TextDecoder().decode(r?.body);

Deno.test("exchange() writes one request head with Host, Connection: close and Content-Length", async () => {
  const { request } = await rawExchange("HTTP/1.1 204 No Content\r\n\r\n", {
    method: "POST",
    body: "{}",
  });
  assert.equal(
    request,
    "POST /p?q=1 HTTP/1.1\r\nHost: api.test\r\naccept: */*\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
  );
});

Deno.test("exchange() decodes chunked bodies and skips 1xx interim responses", async () => {
  const { response } = await rawExchange(
    "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" +
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n" +
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
  );
  assert.equal(response?.status, 200);
  assert.equal(text(response), "hello world");
  assert.equal(response?.headers.get("x-a"), "1, 2");
});

Deno.test("exchange() reads close-delimited bodies and cuts every body at the cap", async () => {
  const close = await rawExchange("HTTP/1.0 200 OK\r\n\r\nuntil the end");
  assert.equal(text(close.response), "until the end");
  const cut = await rawExchange(
    `HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n${"z".repeat(3000)}`,
  );
  assert.equal(cut.response?.body.length, 1024);
  assert.equal(cut.response?.truncated, true);
  const chunked = await rawExchange(
    `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${"c".repeat(2048)}\r\n0\r\n\r\n`,
  );
  assert.equal(chunked.response?.body.length, 1024);
  assert.equal(chunked.response?.truncated, true);
});

Deno.test("exchange() reads no body for HEAD, 204 and 304", async () => {
  const head = await rawExchange("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", {
    method: "HEAD",
  });
  assert.equal(head.response?.body.length, 0);
  const notModified = await rawExchange("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
  assert.equal(notModified.response?.status, 304);
});

Deno.test("exchange() refuses malformed responses with BadResponseError", async () => {
  for (
    const bad of [
      "garbage\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello",
      "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Cut: ",
    ]
  ) {
    const { error } = await rawExchange(bad);
    assert.ok(
      error instanceof BadResponseError,
      `expected a refusal for ${JSON.stringify(bad)}, found ${error}`,
    );
  }
});
