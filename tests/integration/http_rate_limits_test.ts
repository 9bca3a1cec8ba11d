/**
 * The HTTP transport's request limits through the real gateway: requests
 * that end unauthenticated are limited per client address, authenticated
 * ones per identity, both set in the policy's `rate_limits.http`.
 */
import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";
import { connectHttp, runCli, startGateway } from "./_gateway.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

const RULES = `
rules:
  - id: observe-everything
    tiers: [observe]
`;

/** Sends `count` requests, `inFlight` at a time, and counts the answers by status. */
async function flood(
  count: number,
  inFlight: number,
  send: () => Promise<Response>,
): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  for (let sent = 0; sent < count; sent += inFlight) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(inFlight, count - sent) }, async () => {
        const response = await send();
        await response.body?.cancel();
        return response.status;
      }),
    );
    for (const status of batch) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  return statuses;
}

/** Sends `count` authenticated pings, 10 at a time, and counts the answers by status. */
function pingFlood(
  gateway: { url: URL; token: string | undefined },
  count: number,
): Promise<Map<number, number>> {
  return flood(count, 10, () =>
    fetch(gateway.url, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${gateway.token}`,
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    }));
}

Deno.test("a bad-token flood from one address is limited, but callers already signed in there keep working", async () => {
  await using gateway = await startGateway({
    policy: `${RULES}rate_limits:
  http:
    unauthenticated_per_address: { per_minute: 60, burst: 20 }
`,
  });
  // A caller signs in from the same address first (everyone behind tailscale serve is 127.0.0.1).
  const client = await connectHttp(gateway);
  try {
    assert.ok((await client.listTools()).tools.length > 0);
    const bad = () =>
      fetch(gateway.url, {
        method: "POST",
        headers: { Authorization: "Bearer not-a-token", "Content-Type": "application/json" },
        body: "{}",
      });
    const statuses = await flood(60, 10, bad);
    assert.ok((statuses.get(429) ?? 0) >= 30, `statuses ${JSON.stringify([...statuses])}`);
    // Without any credential: the same address bucket, refused before anything is read.
    const bare = await fetch(gateway.url, { method: "POST", body: "{}" });
    await bare.body?.cancel();
    assert.equal(bare.status, 429);
    assert.ok(Number(bare.headers.get("retry-after")) >= 1);
    // The address's bucket is empty, yet the signed-in caller is served.
    for (let i = 0; i < 40; i++) await client.listTools();
    const status = await client.callTool({ name: "system_status", arguments: { target: "local" } });
    assert.notEqual(status.isError, true, JSON.stringify(status.content));
  } finally {
    await client.close();
  }
});

Deno.test("authenticated requests are limited per identity when the policy says so", async () => {
  await using gateway = await startGateway({
    policy: `${RULES}rate_limits:
  http:
    authenticated_per_identity: { per_minute: 60, burst: 30 }
`,
  });
  const statuses = await pingFlood(gateway, 60);
  assert.ok((statuses.get(429) ?? 0) >= 20, `statuses ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get(429) ?? 0) <= 30, `statuses ${JSON.stringify([...statuses])}`);
});

Deno.test("--http-rate-identity overrides the policy's http limit; a bad value stops the start in one line", async () => {
  await using gateway = await startGateway({
    policy: `${RULES}rate_limits:
  http:
    authenticated_per_identity: { per_minute: 1000000, burst: 1000000 }
`,
    flags: ["--http-rate-identity", "60:10"],
  });
  const statuses = await pingFlood(gateway, 40);
  assert.ok((statuses.get(429) ?? 0) >= 20, `statuses ${JSON.stringify([...statuses])}`);
  const bad = await runCli(["serve", "--transport", "http", "--http-rate-identity", "lots"]);
  assert.notEqual(bad.code, 0);
  assert.equal(bad.ownStderr.length, 1, bad.stderr);
  assert.match(
    bad.ownStderr[0],
    /Invalid --http-rate-identity "lots": expected requests per minute/,
  );
});

Deno.test("under the default limits an unauthenticated flood from one address is still refused", async () => {
  await using gateway = await startGateway({ policy: RULES });
  // The default allows a burst of 2000 unauthenticated requests per address and refills 200/s:
  // send 50 at a time until some are refused (at most 20,000 or 60 s). A machine too loaded to
  // outrun the refill sees no 429: that is reported, not failed.
  const statuses = new Map<number, number>();
  const started = performance.now();
  let sent = 0;
  while (sent < 20_000 && performance.now() - started < 60_000 && !statuses.has(429)) {
    const batch = await flood(500, 50, () => fetch(gateway.url, { method: "POST", body: "{}" }));
    for (const [status, n] of batch) statuses.set(status, (statuses.get(status) ?? 0) + n);
    sent += 500;
  }
  const seconds = (performance.now() - started) / 1000;
  assert.equal((statuses.get(429) ?? 0) + (statuses.get(401) ?? 0), sent);
  if (!statuses.has(429)) {
    // Only acceptable when the flood never outran burst + refill.
    assert.ok(sent <= 2000 + 200 * seconds, `${sent} in ${seconds.toFixed(1)} s and no 429`);
    console.warn(
      `inconclusive: ${sent} requests in ${seconds.toFixed(1)} s never outran the refill`,
    );
  }
});

Deno.test("a policy with a malformed http limit is refused at load with its position", () => {
  assert.throws(
    () =>
      parsePolicy(`${RULES}rate_limits:\n  http:\n    per_address: { per_minute: 5 }\n`, "p.yaml"),
    /p\.yaml:\d+:\d+: Unknown key "per_address"/,
  );
});
