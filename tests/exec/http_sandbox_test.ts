import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import type { HttpTarget } from "../../src/config/targets_schema.ts";
import { ExecutorHost } from "../../src/exec/host.ts";
import { HTTP_KIND, httpNetAddress } from "../../src/exec/http_kind.ts";
import { NO_PERMISSIONS, type WorkerKind } from "../../src/exec/worker_kind.ts";

const CONTEXT = { programs: [] };

async function httpTargets(
  entries: string[],
  env: Record<string, string> = {},
): Promise<HttpTarget[]> {
  const yaml = `version: 1\ntargets:\n${
    entries.map((connection, i) =>
      `  - id: t${i}\n    type: http\n    capabilities: [http:read]\n    connection: ${connection}\n`
    ).join("")
  }`;
  const registry = await parseTargets(yaml, "sandbox.yaml", {
    secrets: { env: (name) => env[name], readFile: () => Promise.reject(new Error("no files")) },
    // Placeholder secrets: the key and CA checks at load have their own tests.
    checkReferences: false,
  });
  return registry.targets as HttpTarget[];
}

/** Runs inside a worker created with the kind's permissions and reports what each probe hit. */
const PROBE = `
const attempt = async (fn) => {
  try { await fn(); return "allowed"; } catch (error) { return error.name; }
};
self.onmessage = async ({ data: { allowed, other } }) => {
  self.postMessage({
    connectTarget: await attempt(async () => (await Deno.connect({ hostname: "127.0.0.1", port: allowed })).close()),
    connectOtherPort: await attempt(async () => (await Deno.connect({ hostname: "127.0.0.1", port: other })).close()),
    connectOtherName: await attempt(async () => (await Deno.connect({ hostname: "localhost", port: allowed })).close()),
    fetchOtherPort: await attempt(() => fetch("http://127.0.0.1:" + other + "/")),
    resolveDns: await attempt(() => Deno.resolveDns("localhost", "A")),
    readFile: await attempt(() => Deno.readTextFile("/etc/hostname")),
    writeFile: await attempt(() => Deno.writeTextFile("/tmp/tailops-http-probe", "x")),
    env: await attempt(() => Deno.env.get("PATH")),
    run: await attempt(() => new Deno.Command("true").output()),
    sys: await attempt(() => Deno.hostname()),
  });
};`;

Deno.test("HTTP_KIND.permissions() allows net to exactly the targets' host:port list", async () => {
  const targets = await httpTargets([
    "{ base_url: https://api.example.com/v1 }",
    "{ base_url: http://example.org }",
    '{ base_url: "http://[::1]:8080/" }',
    "{ base_url: http://10.0.0.5:9000 }",
    "{ base_url: https://api.example.com:443/other }",
  ]);
  assert.deepEqual(targets.map(httpNetAddress), [
    "api.example.com:443",
    "example.org:80",
    "[::1]:8080",
    "10.0.0.5:9000",
    "api.example.com:443",
  ]);
  assert.deepEqual(HTTP_KIND.permissions(targets, CONTEXT), {
    ...NO_PERMISSIONS,
    net: ["api.example.com:443", "example.org:80", "[::1]:8080", "10.0.0.5:9000"],
  });
  assert.deepEqual(HTTP_KIND.permissions([], CONTEXT), NO_PERMISSIONS);
});

Deno.test("the registry refuses allow_addresses entries that are not IP ranges", async () => {
  await assert.rejects(
    () =>
      httpTargets([
        '{ base_url: "http://a.example", allow_addresses: ["10.0.0.0/8", "intranet"] }',
      ]),
    /Invalid allow_addresses entry "intranet": expected an IP address or CIDR range/,
  );
  await assert.rejects(
    () => httpTargets(['{ base_url: "http://a.example", allow_addresses: ["10.0.0.0/40"] }']),
    /Invalid allow_addresses entry/,
  );
  assert.equal(
    (await httpTargets([
      '{ base_url: "http://a.example", allow_addresses: ["fd00::/8", "10.1.2.3"] }',
    ])).length,
    1,
  );
});

Deno.test("HTTP_KIND.config() reveals credentials and CAs only in the configure message", async () => {
  const [bearer, basic, header] = await httpTargets([
    '{ base_url: "https://a.example/api/", auth: { bearer: "${TOKEN}" }, tls: { ca: "${CA}" } }',
    '{ base_url: "http://b.example:8080", auth: { basic: { username: u, password: "${PW}" } } }',
    '{ base_url: "http://c.example", auth: { header: { name: X-Api-Key, value: "${KEY}" } } }',
  ], { TOKEN: "t0ken-value", CA: "-----BEGIN CERTIFICATE-----", PW: "pa55word", KEY: "k3y-value" });
  const config = HTTP_KIND.config([bearer, basic, header], CONTEXT) as {
    targets: Record<string, unknown>[];
  };
  assert.deepEqual(config.targets.map((t) => t.auth), [
    { name: "authorization", value: "Bearer t0ken-value" },
    { name: "authorization", value: `Basic ${btoa("u:pa55word")}` },
    { name: "x-api-key", value: "k3y-value" },
  ]);
  assert.deepEqual(config.targets[0].caCerts, ["-----BEGIN CERTIFICATE-----"]);
  assert.equal(config.targets[0].basePath, "/api");
  assert.equal(config.targets[0].hostHeader, "a.example");
  assert.equal(config.targets[1].hostHeader, "b.example:8080");
  assert.ok((config.targets[1].secrets as string[]).includes("pa55word"));
  assert.ok(!JSON.stringify([bearer, basic, header]).includes("t0ken-value"));
});

Deno.test("a worker with HTTP_KIND's permissions can reach only its target's host:port", async () => {
  const allowed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const targets = await httpTargets([`{ base_url: "http://127.0.0.1:${allowed.addr.port}" }`]);
  const url = URL.createObjectURL(new Blob([PROBE], { type: "application/javascript" }));
  const worker = new Worker(url, {
    type: "module",
    deno: { permissions: HTTP_KIND.permissions(targets, CONTEXT) },
  });
  try {
    const report = await new Promise((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      worker.postMessage({ allowed: allowed.addr.port, other: other.addr.port });
    });
    assert.deepEqual(report, {
      connectTarget: "allowed",
      connectOtherPort: "NotCapable",
      connectOtherName: "NotCapable",
      fetchOtherPort: "NotCapable",
      resolveDns: "NotCapable",
      readFile: "NotCapable",
      writeFile: "NotCapable",
      env: "NotCapable",
      run: "NotCapable",
      sys: "NotCapable",
    });
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
    allowed.close();
    other.close();
  }
});

Deno.test("the http worker cannot reach its target without the net permission", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok"),
  );
  const targets = await httpTargets([`{ base_url: "http://127.0.0.1:${server.addr.port}" }`]);
  const denied: WorkerKind<HttpTarget> = { ...HTTP_KIND, permissions: () => NO_PERMISSIONS };
  const registry = { targets, get: (id: string) => targets.find((t) => t.id === id) };
  const plan = {
    kind: "http",
    method: "GET",
    path: "/",
    timeoutMs: 2000,
    outputCapBytes: 4096,
  } as const;
  const run = async (kind: WorkerKind<HttpTarget>) => {
    const host = new ExecutorHost(registry as never, {
      kinds: [kind as WorkerKind],
      context: CONTEXT,
    });
    try {
      return await host.run(targets[0], plan);
    } finally {
      host.close();
    }
  };
  try {
    const without = await run(denied);
    assert.ok(!without.ok);
    assert.equal(without.error.code, "forbidden");
    assert.match(without.error.message, /sandbox does not allow/);
    const granted = await run(HTTP_KIND);
    assert.ok(granted.ok, JSON.stringify(granted));
  } finally {
    await server.shutdown();
  }
});
