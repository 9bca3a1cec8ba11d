/**
 * A small JSON endpoint for the http suite: `GET /json` answers a fixed
 * object of about 200 bytes. Run: `deno run -A scripts/bench/json_endpoint.ts`;
 * logs `{"message":"Listening on ...","port":N}` on stderr.
 *
 * @module
 */

const BODY = JSON.stringify({
  status: "ok",
  service: "bench",
  items: Array.from({ length: 5 }, (_, i) => ({ id: i, name: `item-${i}`, healthy: true })),
});

if (import.meta.main) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) =>
      new URL(request.url).pathname === "/json"
        ? new Response(BODY, { headers: { "content-type": "application/json" } })
        : new Response("Not found", { status: 404 }),
  );
  console.error(JSON.stringify({ message: "Listening on /json", port: server.addr.port }));
  const stop = () => server.shutdown().finally(() => Deno.exit(0));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
