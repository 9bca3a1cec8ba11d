/**
 * The HTTP layer alone, for the gateway suite: answers every POST with the
 * same small Server-Sent Event (an MCP tool answer's shape), a tick after
 * reading its JSON body, as the SDK's transport does. Served by the
 * gateway's own listener (`listenHttp`: accept loop, node:http, the fetch
 * bridge) or, with `--deno-serve`, by `Deno.serve` as the bare server is.
 *
 * Run: `deno run -A scripts/bench/listener_server.ts [--deno-serve]`; logs
 * `{"port":N}` on stderr.
 *
 * @module
 */
import { listenHttp } from "../../src/http/listener.ts";

const event = new TextEncoder().encode(
  `event: message\ndata: ${
    JSON.stringify({
      result: { content: [{ type: "text", text: "x".repeat(600) }] },
      jsonrpc: "2.0",
      id: 1,
    })
  }\n\n`,
);

async function answer(request: Request): Promise<Response> {
  await request.json();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  setTimeout(() => {
    controller.enqueue(event);
    controller.close();
  }, 0);
  return new Response(body, {
    headers: {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache, no-transform",
      "mcp-session-id": "bench",
    },
  });
}

if (import.meta.main) {
  let port: number;
  if (Deno.args.includes("--deno-serve")) {
    port = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, answer).addr.port;
  } else {
    const listener = listenHttp({ hostname: "127.0.0.1", port: 0 });
    listener.serve(answer);
    port = listener.addr.port;
  }
  console.error(JSON.stringify({ port }));
}
