/**
 * The HTTP transport's request limits through the real gateway: requests
 * that end unauthenticated are limited per client address, authenticated
 * ones per identity, both set in the policy's `rate_limits.http` or by flags.
 * Both are charged when a request arrives, so what is admitted never exceeds
 * burst + rate × time: floods, requests held open at a slow introspection
 * endpoint, HTTP/1.1 pipelining on several connections, a Tailscale login
 * header over TCP and a revoked credential are each held to that bound, and
 * 5,000 calls at 64 in flight still pass under the defaults.
 */
import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";
import { connectHttp, runCli, startGateway } from "./_gateway.ts";
import { authGateway, ROLES_YAML } from "./_auth_gateway.ts";

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

/** Counts 401 and 429 answers and keeps the time the first request left and the last answer came. */
function tally(statuses: Map<number, number>) {
  return { admitted: statuses.get(401) ?? 0, refused: statuses.get(429) ?? 0 };
}

Deno.test("under the default limits an unauthenticated flood is refused beyond burst + rate × time, never admitted beyond it", async () => {
  await using gateway = await startGateway({ policy: RULES });
  // Defaults: burst 2,000 and 200/s per address. Flood 50 at a time until refusals come
  // (at most 20,000 requests or 60 s). Every request is charged when it arrives, so the
  // count admitted can be bounded exactly by the time elapsed on this side (a gateway
  // bucket starts no earlier than our first request); 1 is the slack for rounding.
  const statuses = new Map<number, number>();
  const started = performance.now();
  let sent = 0;
  while (sent < 20_000 && performance.now() - started < 60_000 && !statuses.has(429)) {
    const batch = await flood(500, 50, () => fetch(gateway.url, { method: "POST", body: "{}" }));
    for (const [status, n] of batch) statuses.set(status, (statuses.get(status) ?? 0) + n);
    sent += 500;
  }
  const seconds = (performance.now() - started) / 1000;
  const { admitted, refused } = tally(statuses);
  assert.equal(admitted + refused, sent, `statuses ${JSON.stringify([...statuses])}`);
  assert.ok(
    admitted <= 2000 + 200 * seconds + 1,
    `${admitted} admitted in ${seconds.toFixed(2)} s`,
  );
  assert.ok(refused > 0, `${sent} requests in ${seconds.toFixed(1)} s and none refused`);
});

/**
 * An introspection endpoint that holds every answer until released: the
 * requests whose tokens it is asked about stay in flight at the gateway.
 */
function holdingIssuer() {
  const held: { token: string; answer: (body: Record<string, unknown>) => void }[] = [];
  let onHeld = () => {};
  let issuer = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/.well-known/openid-configuration") {
      return Response.json({ issuer, introspection_endpoint: `${issuer}/introspect` });
    }
    if (path !== "/introspect") return new Response("not found", { status: 404 });
    const token = new URLSearchParams(await req.text()).get("token") ?? "";
    const body = await new Promise<Record<string, unknown>>((answer) => {
      held.push({ token, answer });
      onHeld();
    });
    return Response.json(body);
  });
  issuer = `http://127.0.0.1:${server.addr.port}`;
  return {
    issuer,
    held,
    /** Resolves once `count` requests are held (bounded by the test's own timeout). */
    until(count: number): Promise<void> {
      return new Promise((resolve) => {
        onHeld = () => held.length >= count && resolve();
        onHeld();
      });
    },
    /** Answers every held request, now and from now on. */
    release(body: Record<string, unknown>) {
      for (const { answer } of held.splice(0)) answer(body);
    },
    close: () => server.shutdown(),
  };
}

/** A policy whose only issuer is the holding one (token prefix `slow_`), `svc` bound to a role. */
function holdingPolicy(issuer: string): string {
  return `${RULES}identities:
  roles:
    viewer: { scopes: [system:read] }
  bindings:
    - { oidc_subject: svc, roles: [viewer] }
auth:
  oidc:
    - issuer: "${issuer}"
      introspection:
        endpoint: "${issuer}/introspect"
        token_prefix: slow_
        client_id: tailops
        client_secret: \${SLOW_SECRET}
`;
}

/** A JSON-RPC `ping` POST with a bearer token (no session); resolves to the status. */
async function pingWith(url: URL, token: string): Promise<number> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
  });
  await response.body?.cancel();
  return response.status;
}

/** Runs `promise`, failing the test after `ms` instead of hanging. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("requests still in flight count against the address: 20 held open, the next 10 refused at once", async () => {
  const issuer = holdingIssuer();
  try {
    // Burst 20 and one token a minute: nothing refills while the test runs.
    await using gateway = await startGateway({
      policy: holdingPolicy(issuer.issuer),
      flags: ["--http-rate-unauthenticated", "1:20"],
      env: { SLOW_SECRET: "s3cret" },
    });
    const answers = new Map<number, number>();
    const sent = Array.from(
      { length: 30 },
      (_, i) =>
        pingWith(gateway.url, `slow_inactive-${i}`).then((status) => {
          answers.set(status, (answers.get(status) ?? 0) + 1);
          return status;
        }),
    );
    // 20 wait at the issuer; the 10 beyond the burst are answered while those are still held.
    await within(60_000, "20 held at the issuer", issuer.until(20));
    await within(
      60_000,
      "10 refused",
      (async () => {
        while ((answers.get(429) ?? 0) < 10) await new Promise((r) => setTimeout(r, 20));
      })(),
    );
    assert.equal(issuer.held.length, 20, "no refused request reached the issuer");
    assert.equal(answers.get(401) ?? 0, 0, "the held requests are not answered yet");
    issuer.release({ active: false });
    await within(60_000, "all answered", Promise.all(sent));
    assert.deepEqual([...answers].sort(), [[401, 20], [429, 10]]);
  } finally {
    issuer.release({ active: false });
    await issuer.close();
  }
});

Deno.test("an identity's requests count when they arrive: of 30 authenticating at once, 10 are refused", async () => {
  const issuer = holdingIssuer();
  try {
    await using gateway = await startGateway({
      policy: holdingPolicy(issuer.issuer),
      flags: ["--http-rate-identity", "1:20"],
      env: { SLOW_SECRET: "s3cret" },
    });
    const sent = Array.from({ length: 30 }, (_, i) => pingWith(gateway.url, `slow_ok-${i}`));
    await within(60_000, "30 held at the issuer", issuer.until(30));
    issuer.release({
      active: true,
      sub: "svc",
      iss: issuer.issuer,
      aud: gateway.url.href,
      exp: Math.floor(Date.now() / 1000) + 600,
    });
    // Past the limiter a ping without a session gets the transport's answer to that, not 429.
    const statuses = await within(60_000, "all answered", Promise.all(sent));
    assert.equal(statuses.filter((s) => s === 429).length, 10, `statuses ${statuses}`);
    assert.ok(!statuses.includes(401) && !statuses.includes(403), `statuses ${statuses}`);
  } finally {
    await issuer.close();
  }
});

/**
 * Writes `count` requests back to back on one connection (HTTP/1.1
 * pipelining) and reads the status of every answer.
 */
async function pipelined(port: number, count: number, request: string): Promise<number[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request.repeat(count)));
    const decoder = new TextDecoder();
    let text = "";
    const buffer = new Uint8Array(65_536);
    // An answer's status line follows the previous body without a line break.
    const statuses = () => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    while (statuses().length < count) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    return statuses();
  } finally {
    conn.close();
  }
}

Deno.test("pipelined requests on several connections are charged one by one: 20 admitted of 100", async () => {
  await using gateway = await startGateway({
    policy: RULES,
    flags: ["--http-rate-unauthenticated", "1:20"],
  });
  const request = [
    "POST /mcp HTTP/1.1",
    `Host: 127.0.0.1:${gateway.port}`,
    "Content-Type: application/json",
    "Content-Length: 2",
    "",
    "{}",
  ].join("\r\n");
  const answers = await within(
    120_000,
    "pipelined answers",
    Promise.all(Array.from({ length: 4 }, () => pipelined(gateway.port, 25, request))),
  );
  const all = answers.flat();
  assert.equal(all.length, 100, `answers per connection ${answers.map((a) => a.length)}`);
  const admitted = all.filter((s) => s === 401).length;
  // One token a minute: at most one more than the burst, however long this took.
  assert.ok(admitted >= 20 && admitted <= 21, `${admitted} admitted`);
  assert.equal(all.filter((s) => s === 429).length, 100 - admitted);
});

Deno.test("a Tailscale login header over TCP is no credential: it does not slip past the address limit", async () => {
  await using gateway = await startGateway({
    policy: `${RULES}identities:
  roles:
    viewer: { scopes: [system:read] }
  bindings:
    - { tailscale: someone@example.com, roles: [viewer] }
auth:
  tailscale: { enabled: true }
`,
    flags: ["--http-rate-unauthenticated", "1:20"],
  });
  const unix = Deno.createHttpClient({
    proxy: { transport: "unix", path: `${gateway.stateDir}/tailscale/serve.sock` },
  });
  try {
    const post = (headers: Record<string, string>, client?: Deno.HttpClient) =>
      fetch(gateway.url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
          ...headers,
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
        ...(client ? { client } : {}),
      });
    const login = { "Tailscale-User-Login": "someone@example.com" };
    // The login signs in through the serve socket (tailscaled sets the peer address).
    const signedIn = await post({ ...login, "X-Forwarded-For": "100.64.0.7" }, unix);
    await signedIn.body?.cancel();
    assert.notEqual(signedIn.status, 401);
    // The same header over loopback TCP: unauthenticated, charged, then refused.
    const overTcp = await flood(40, 10, () => post(login));
    assert.deepEqual([...overTcp].sort(), [[401, 20], [429, 20]]);
    // Through the socket each tailnet peer has its own bucket, and the signed-in login
    // keeps working from an address whose bucket is empty.
    const stranger = await flood(25, 5, () => post({ "X-Forwarded-For": "100.64.0.7" }, unix));
    assert.deepEqual([...stranger].sort(), [[401, 20], [429, 5]]);
    const other = await post({ "X-Forwarded-For": "100.64.0.8" }, unix);
    await other.body?.cancel();
    assert.equal(other.status, 401, "another tailnet peer is not limited by the first");
    const again = await post({ ...login, "X-Forwarded-For": "100.64.0.7" }, unix);
    await again.body?.cancel();
    assert.notEqual(again.status, 429);
  } finally {
    unix.close();
  }
});

Deno.test("a credential that stops working loses its pass: its failures are charged to the address", async () => {
  await using gw = await authGateway(
    `${RULES}identities:\n${ROLES_YAML}\n  bindings:\n    - { token: vera, roles: [viewer] }\n`,
  );
  await gw.start(["--http-rate-unauthenticated", "1:20"]);
  const vera = await gw.mint("vera", "viewer");
  // Signed in: the address remembers the credential.
  assert.equal(await pingWith(gw.url, vera.token) !== 401, true);
  const revoked = await gw.cli(["token", "revoke", vera.jti]);
  assert.equal(revoked.code, 0, revoked.stderr);
  // One at a time, so none is in flight when the first failure forgets the credential.
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push(await pingWith(gw.url, vera.token));
  const admitted = statuses.filter((s) => s === 401).length;
  assert.ok(admitted >= 20 && admitted <= 21, `statuses ${statuses}`);
  assert.equal(statuses.filter((s) => s === 429).length, 30 - admitted);
});

/** Sends `count` tool calls `inFlight` at a time through one client; returns the refusals. */
async function callFlood(
  client: Awaited<ReturnType<typeof connectHttp>>,
  count: number,
  inFlight: number,
): Promise<string[]> {
  const refusals: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) {
      next++;
      try {
        const result = await client.callTool({ name: "list_targets", arguments: {} });
        if (result.isError) refusals.push(JSON.stringify(result.content).slice(0, 200));
      } catch (error) {
        const cause = (error as Error).cause;
        refusals.push(`${(error as Error).message} ${cause ?? ""}`.slice(0, 300));
      }
    }
  }));
  return refusals;
}

// The tool calls' own per-tier limit is raised; the transport limits are the defaults.
const MANY_CALLS = `${RULES}rate_limits:
  observe: { per_minute: 1000000, burst: 100000 }
`;

Deno.test("5,000 calls at 64 in flight from one address pass under the default transport limits, signed in or --no-auth", async () => {
  for (const flags of [[], ["--no-auth"]]) {
    await using gateway = await startGateway({ policy: MANY_CALLS, flags });
    const client = await connectHttp(gateway);
    try {
      const refusals = await callFlood(client, 5000, 64);
      assert.deepEqual(refusals.slice(0, 3), [], `${flags}: ${refusals.length} refused`);
    } finally {
      await client.close();
    }
  }
});

Deno.test("a policy with a malformed http limit is refused at load with its position", () => {
  assert.throws(
    () =>
      parsePolicy(`${RULES}rate_limits:\n  http:\n    per_address: { per_minute: 5 }\n`, "p.yaml"),
    /p\.yaml:\d+:\d+: Unknown key "per_address"/,
  );
});
