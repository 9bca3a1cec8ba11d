/**
 * Protocol fixes found by running the MCP conformance suite and probing the
 * Streamable HTTP endpoint (`scripts/conformance.sh`), against the real
 * gateway process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startGateway } from "./_gateway.ts";

Deno.test("/mcp answers methods other than GET, POST and DELETE with 405 and Allow, after auth", async () => {
  await using gateway = await startGateway();
  const auth = { authorization: `Bearer ${gateway.token}` };

  for (const method of ["PUT", "PATCH", "OPTIONS"]) {
    const response = await fetch(gateway.url, {
      method,
      headers: { ...auth, "content-type": "application/json" },
      body: method === "OPTIONS" ? undefined : "{}",
    });
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "GET, POST, DELETE", method);
    const body = await response.json();
    assert.equal(body.jsonrpc, "2.0", method);
    assert.equal(body.error.code, -32000, method);
  }

  // Authentication still comes first: no token, no hint about the method.
  const anonymous = await fetch(gateway.url, { method: "PUT", body: "{}" });
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();

  // A path that does not exist is still 404.
  const missing = await fetch(new URL("/nope", gateway.url), { method: "PUT", headers: auth });
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});
