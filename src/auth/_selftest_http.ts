/**
 * HTTP helpers for the self-test: JSON-RPC posts to `/mcp`, and a raw HTTP/1.1
 * request for the one check `fetch` cannot make (a forged `Host` header).
 *
 * @module
 */

/** An `initialize` request, as an MCP client sends it first. */
export const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "tailops-selftest", version: "1" },
  },
};

/**
 * Posts a JSON-RPC message to the MCP endpoint.
 *
 * Needs `net` permission for the gateway.
 *
 * @param url The MCP endpoint.
 * @param body The message.
 * @param headers Extra headers (authorization, session id, origin).
 * @returns The response; its body is consumed.
 */
export async function postMcp(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

/**
 * Sends one HTTP/1.1 request with a chosen `Host` header and returns the
 * status code.
 *
 * Needs `net` permission for the gateway.
 *
 * @param url The MCP endpoint (http or https).
 * @param host The `Host` header to send.
 * @param headers Extra headers.
 * @returns The status code, or 0 when the connection failed.
 */
export async function statusWithHost(
  url: string,
  host: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const target = new URL(url);
  const port = Number(target.port || (target.protocol === "https:" ? 443 : 80));
  const body = JSON.stringify(INITIALIZE);
  const lines = [
    `POST ${target.pathname || "/"} HTTP/1.1`,
    `Host: ${host}`,
    "Content-Type: application/json",
    "Accept: application/json, text/event-stream",
    `Content-Length: ${new TextEncoder().encode(body).length}`,
    "Connection: close",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  const hostname = target.hostname.replace(/^\[|\]$/g, "");
  let conn: Deno.Conn | undefined;
  try {
    conn = target.protocol === "https:"
      ? await Deno.connectTls({ hostname, port })
      : await Deno.connect({ hostname, port });
    await conn.write(new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n${body}`));
    const buffer = new Uint8Array(1024);
    const read = await conn.read(buffer);
    const head = new TextDecoder().decode(buffer.subarray(0, read ?? 0));
    return Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  } catch {
    return 0;
  } finally {
    conn?.close();
  }
}
