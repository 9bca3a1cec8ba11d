/**
 * What a deployed gateway must do for a viewer: the SDK client, over HTTP with
 * a minted viewer token, sees the read tools and no control tool, and reads
 * the gateway host.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "../integration/_gateway.ts";

/**
 * The `tailops` arguments that mint the README's viewer token for a gateway.
 *
 * @param resource The gateway's `/mcp` URL (the token's audience).
 * @returns Arguments after `tailops`.
 */
export function viewerMintArgs(resource: string): string[] {
  return [
    "token",
    "mint",
    "--sub",
    "claude",
    "--role",
    "viewer",
    "--ttl",
    "8h",
    "--resource",
    resource,
  ];
}

/**
 * Connects with `token` and checks the viewer's view of `url`.
 *
 * @param url The gateway's `/mcp` URL.
 * @param token A viewer token for it.
 */
export async function assertViewerWorks(url: string, token: string): Promise<void> {
  const client = new Client({ name: "tailops-deploy-test", version: "0.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  try {
    const tools = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes("system_status"), tools.join(", "));
    assert.ok(!tools.includes("service_control"), "a viewer sees no control tools");
    const result = await client.callTool({ name: "system_status", arguments: { target: "local" } });
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
    const results = (result.structuredContent as { results: { status: string }[] }).results;
    assert.equal(results[0].status, "ok", JSON.stringify(results[0]));
  } finally {
    await client.close();
  }
}

/**
 * Polls `url` until it answers 2xx.
 *
 * @param url A health URL.
 * @param why Called on each try; return a string to give up with that message.
 * @throws {Error} After 120 s or when `why` gives up.
 */
export async function waitHealthy(url: string, why: () => string | undefined): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const stop = why();
    if (stop !== undefined) throw new Error(stop);
    const ok = await fetch(url).then(async (r) => (await r.text(), r.ok)).catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no answer on ${url} within 120 s`);
}
