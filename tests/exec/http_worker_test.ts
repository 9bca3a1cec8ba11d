import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import type { Registry } from "../../src/config/registry.ts";
import { type ExecOutcome, ExecutorHost } from "../../src/exec/host.ts";
import { HTTP_KIND } from "../../src/exec/http_kind.ts";
import type { HttpPlan, HttpResult } from "../../src/exec/plan.ts";
import { HTTP_HEALTH, HTTP_REQUEST } from "../../src/ops/http.ts";
import { makeCertificates, startHttpServer, startTrickleHeadServer } from "./_http_server.ts";
import { SMUGGLED_PATHS } from "./_smuggled_paths.ts";

const TOKEN = `tok-${crypto.randomUUID()}`;
const PASSWORD = `pw-${crypto.randomUUID()}`;
const API_KEY = `key-${crypto.randomUUID()}`;

function targetsYaml(ports: { plain: number; tls: number; slowHead: number }): string {
  const paths =
    `["/", "/echo", "/whoami", "/big", "/big-stream", "/slow", "/trickle", "/redirect", "/loop"]`;
  const http = (id: string, extra: string, base = `http://127.0.0.1:${ports.plain}`) => `
  - id: ${id}
    type: http
    capabilities: [http:read, http:write]
    constraints: { timeout_ms: 2000, output_cap_bytes: 65536 }
    connection:
      base_url: ${base}
      methods: [GET, HEAD, POST]
      paths: ${paths}${extra}`;
  const loopback = `\n      allow_addresses: ["127.0.0.0/8", "::1/128"]`;
  return `version: 1
targets:${
    http(
      "api",
      `
      headers: { X-Default: yes-default }
      auth: { bearer: "\${API_TOKEN}" }
      redirects: same_origin
      response_cap_bytes: 4096`,
    )
  }${
    http("api-basic", `\n      auth: { basic: { username: ops, password: "\${API_PASSWORD}" } }`)
  }${http("api-key", `\n      auth: { header: { name: X-Api-Key, value: "\${API_KEY}" } }`)}${
    http("slow-head", "", `http://127.0.0.1:${ports.slowHead}`)
  }${
    http("tls", `\n      tls: { ca: "\${CA_PEM}" }${loopback}`, `https://localhost:${ports.tls}`)
  }${http("tls-ip", `\n      tls: { ca: "\${CA_PEM}" }`, `https://127.0.0.1:${ports.tls}`)}${
    http(
      "tls-wrong-ca",
      `\n      tls: { ca: "\${OTHER_CA_PEM}" }${loopback}`,
      `https://localhost:${ports.tls}`,
    )
  }${http("named-public-only", "", `http://localhost:${ports.plain}`)}${
    http(
      "named-elsewhere",
      `\n      allow_addresses: ["10.0.0.0/8"]`,
      `http://localhost:${ports.plain}`,
    )
  }${http("named-loopback", loopback, `http://localhost:${ports.plain}`)}
`;
}

Deno.test("the http worker runs plans on real loopback services through ExecutorHost", async (t) => {
  const certs = await makeCertificates();
  const plain = startHttpServer();
  const tls = startHttpServer({ tls: certs });
  const slowHead = startTrickleHeadServer();
  const env: Record<string, string> = {
    API_TOKEN: TOKEN,
    API_PASSWORD: PASSWORD,
    API_KEY,
    CA_PEM: certs.ca,
    OTHER_CA_PEM: certs.otherCa,
  };
  const registry: Registry = await parseTargets(
    targetsYaml({ plain: plain.port, tls: tls.port, slowHead: slowHead.port }),
    "test-targets.yaml",
    {
      secrets: { env: (name) => env[name], readFile: () => Promise.reject(new Error("no files")) },
    },
  );
  const host = new ExecutorHost(registry, { kinds: [HTTP_KIND], context: { programs: [] } });
  const outcomes: ExecOutcome[] = [];
  const run = async (id: string, plan: Partial<HttpPlan>, signal?: AbortSignal) => {
    const full: HttpPlan = {
      kind: "http",
      method: "GET",
      path: "/",
      timeoutMs: 2000,
      outputCapBytes: 65536,
      ...plan,
    };
    const outcome = await host.run(registry.get(id)!, full, { signal });
    outcomes.push(outcome);
    return outcome;
  };
  const ok = (outcome: ExecOutcome): HttpResult => {
    assert.ok(outcome.ok, `expected success, found ${JSON.stringify(outcome)}`);
    return outcome.result as HttpResult;
  };
  const failed = (outcome: ExecOutcome, code: string): string => {
    assert.ok(!outcome.ok, `expected failure ${code}, found ${JSON.stringify(outcome)}`);
    assert.equal(outcome.error.code, code, outcome.error.message);
    return outcome.error.message;
  };
  const seenCount = () => plain.seen.length;

  try {
    await t.step("a GET gets the credential injected and the body parsed as JSON", async () => {
      const result = ok(
        await run("api", { path: "/echo", query: { q: "a b" }, headers: { "x-request-id": "r1" } }),
      );
      assert.equal(result.status, 200);
      const seen = plain.seen.at(-1)!;
      assert.equal(seen.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(seen.headers["x-default"], "yes-default");
      assert.equal(seen.headers["x-request-id"], "r1");
      assert.equal(seen.path, "/echo?q=a+b");
      const body = result.body as {
        headers: Record<string, string>;
        query: Record<string, string>;
      };
      assert.deepEqual(body.query, { q: "a b" });
      assert.equal(body.headers.authorization, "Bearer [REDACTED]");
      assert.equal(result.headers.etag, '"v1"');
      assert.equal(result.headers["set-cookie"], undefined);
      assert.equal(result.truncated, false);
    });

    await t.step("a POST sends its JSON body", async () => {
      const result = ok(
        await run("api", { method: "POST", path: "/echo", body: { name: "web-1" } }),
      );
      const body = result.body as { method: string; body: string; headers: Record<string, string> };
      assert.equal(body.method, "POST");
      assert.deepEqual(JSON.parse(body.body), { name: "web-1" });
      assert.equal(body.headers["content-type"], "application/json");
    });

    await t.step(
      "basic and custom-header credentials are injected and scrubbed from text",
      async () => {
        const basic = ok(await run("api-basic", { path: "/whoami" }));
        assert.equal(plain.seen.at(-1)!.headers.authorization, `Basic ${btoa(`ops:${PASSWORD}`)}`);
        assert.equal(basic.body, "you sent: Basic [REDACTED]");
        const key = ok(await run("api-key", { path: "/whoami" }));
        assert.equal(plain.seen.at(-1)!.headers["x-api-key"], API_KEY);
        assert.equal(key.body, "you sent: [REDACTED]");
      },
    );

    await t.step(
      "methods, paths and headers outside the allowlists are refused before sending",
      async () => {
        const before = seenCount();
        assert.match(
          failed(await run("api", { method: "DELETE", path: "/echo" }), "forbidden"),
          /Method DELETE/,
        );
        assert.match(
          failed(await run("api", { path: "/admin" }), "forbidden"),
          /Path "\/admin" is not allowed/,
        );
        failed(await run("api", { path: "/echo/../admin" }), "forbidden");
        failed(await run("api", { path: "/echo%2f..%2fadmin" }), "forbidden");
        failed(
          await run("api", { path: "/echo", headers: { authorization: "Bearer mine" } }),
          "forbidden",
        );
        failed(await run("api", { path: "/echo", headers: { cookie: "a=b" } }), "forbidden");
        assert.equal(seenCount(), before);
      },
    );

    await t.step(
      "the worker itself refuses every smuggled path form, so nothing reaches the server",
      async () => {
        const before = seenCount();
        for (const [kind, paths] of Object.entries(SMUGGLED_PATHS)) {
          for (const path of paths) {
            const message = failed(await run("api", { path }), "forbidden");
            assert.match(message, /^Invalid path /, `${kind}: ${path}`);
          }
        }
        assert.equal(seenCount(), before);
      },
    );

    await t.step("same-origin redirects are followed when the target allows them", async () => {
      const result = ok(await run("api", { path: "/redirect", query: { to: "/echo?x=1" } }));
      assert.equal(result.status, 200);
      assert.equal(plain.seen.at(-1)!.path, "/echo?x=1");
      assert.equal(plain.seen.at(-1)!.headers.authorization, `Bearer ${TOKEN}`);
    });

    await t.step("a redirect to another origin is refused and nothing is sent there", async () => {
      const other = startHttpServer();
      try {
        for (
          const to of [`http://127.0.0.1:${other.port}/echo`, `http://localhost:${plain.port}/echo`]
        ) {
          const message = failed(
            await run("api", { path: "/redirect", query: { to } }),
            "forbidden",
          );
          assert.match(message, /another origin/);
        }
        assert.equal(other.seen.length, 0);
      } finally {
        await other.close();
      }
    });

    await t.step(
      "redirects are returned unfollowed when the target does not allow them",
      async () => {
        const result = ok(await run("api-basic", { path: "/redirect", query: { to: "/echo" } }));
        assert.equal(result.status, 302);
        assert.equal(result.headers.location, "/echo");
        assert.equal(plain.seen.at(-1)!.path, "/redirect?to=%2Fecho");
      },
    );

    await t.step("a redirect loop stops after five hops", async () => {
      assert.match(failed(await run("api", { path: "/loop" }), "bad_response"), /more than 5/);
    });

    await t.step("bodies are cut at the smaller of the plan's and the target's cap", async () => {
      const target = ok(await run("api", { path: "/big", query: { n: "10000" } }));
      assert.equal(target.truncated, true);
      assert.equal((target.body as string).length, 4096);
      const plan = ok(
        await run("api-basic", { path: "/big", query: { n: "10000" }, outputCapBytes: 2000 }),
      );
      assert.equal((plan.body as string).length, 2000);
      const endless = ok(await run("api", { path: "/big-stream" }));
      assert.equal(endless.truncated, true);
      assert.equal((endless.body as string).length, 4096);
    });

    await t.step("a slow response fails with timeout at the plan's deadline", async () => {
      const started = performance.now();
      failed(await run("api", { path: "/slow", query: { n: "5000" }, timeoutMs: 300 }), "timeout");
      assert.ok(
        performance.now() - started < 20_000,
        "not hung (the code says which deadline ended it)",
      );
    });

    await t.step("a body trickled forever is bounded by the deadline", async () => {
      const started = performance.now();
      failed(await run("api-key", { path: "/trickle", timeoutMs: 400 }), "timeout");
      assert.ok(
        performance.now() - started < 20_000,
        "not hung (the code says which deadline ended it)",
      );
    });

    await t.step("a response head trickled forever is bounded by the deadline", async () => {
      const started = performance.now();
      failed(await run("slow-head", { path: "/", timeoutMs: 400 }), "timeout");
      assert.ok(
        performance.now() - started < 20_000,
        "not hung (the code says which deadline ended it)",
      );
    });

    await t.step("a cancelled call stops with cancelled", async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      failed(
        await run("api", { path: "/slow", query: { n: "3000" } }, controller.signal),
        "cancelled",
      );
    });

    await t.step("TLS with the target's CA succeeds by name and by IP", async () => {
      assert.equal(ok(await run("tls", { path: "/" })).status, 200);
      assert.equal(ok(await run("tls-ip", { path: "/" })).status, 200);
    });

    await t.step("TLS with the wrong CA is refused as untrusted", async () => {
      const before = tls.seen.length;
      assert.match(failed(await run("tls-wrong-ca", { path: "/" }), "untrusted"), /trusted CA/);
      assert.equal(tls.seen.length, before);
    });

    await t.step("a health plan reports the TLS certificate's expiry", async () => {
      const result = ok(await run("tls", { path: "/", health: true }));
      assert.equal(result.certificateExpires, certs.notAfter);
      const bare = ok(await run("api", { path: "/", health: true }));
      assert.equal(bare.certificateExpires, null);
      assert.match(bare.certificateNote ?? "", /does not use TLS/);
    });

    await t.step("a host name may reach only its allowed addresses", async () => {
      const before = seenCount();
      assert.match(
        failed(await run("named-public-only", { path: "/" }), "forbidden"),
        /resolved to/,
      );
      failed(await run("named-elsewhere", { path: "/" }), "forbidden");
      assert.equal(seenCount(), before);
      assert.equal(ok(await run("named-loopback", { path: "/" })).status, 200);
    });

    await t.step("http_request and http_health run end to end from their plans", async () => {
      const args = HTTP_REQUEST.input.parse({
        path: "/echo",
        headers: { accept: "application/json" },
      });
      const request = HTTP_REQUEST.parse(
        ok(await host.run(registry.get("api")!, HTTP_REQUEST.plan(args, registry.get("api")!))),
        args,
      );
      assert.equal(request.status, 200);
      const health = HTTP_HEALTH.input.parse({});
      const tlsTarget = registry.get("tls")!;
      const output = HTTP_HEALTH.parse(
        ok(await host.run(tlsTarget, HTTP_HEALTH.plan(health, tlsTarget))),
        health,
      );
      assert.equal(output.ok, true);
      assert.equal(output.certificateExpires, certs.notAfter);
      assert.ok(output.certificateDaysLeft !== null && output.certificateDaysLeft >= 28);
    });

    await t.step("no result or error carries a credential", () => {
      const text = JSON.stringify(outcomes);
      for (const secret of [TOKEN, PASSWORD, API_KEY, btoa(`ops:${PASSWORD}`)]) {
        assert.ok(!text.includes(secret), "a secret leaked into an outcome");
      }
    });
  } finally {
    host.close();
    await Promise.all([plain.close(), tls.close(), slowHead.close()]);
  }
});
