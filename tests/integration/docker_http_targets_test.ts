/**
 * Docker and HTTP targets through the real gateway process with the SDK
 * client: a real dockerd on a unix socket, a real HTTP API on loopback, the
 * default observe-only policy and a homelab-style policy.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import { connectHttp, readAudit, startGateway } from "./_gateway.ts";
import { call } from "./_mcp_checks.ts";

const API_TOKEN = "api-token-that-must-never-leak-0123456789";

function targets(socket: string, apiPort: number): string {
  return [
    "targets:",
    "  - id: engine",
    "    type: docker",
    "    tags: [homelab]",
    "    capabilities: [container:read, container:control, stack:read]",
    `    connection: { socket: ${socket} }`,
    "  - id: api",
    "    type: http",
    "    capabilities: [http:read, http:write]",
    "    connection:",
    `      base_url: http://127.0.0.1:${apiPort}`,
    "      methods: [GET, POST]",
    '      paths: ["/status", "/items/*"]',
    '      auth: { bearer: "${TAILOPS_IT_API_TOKEN}" }',
  ].join("\n");
}

Deno.test("docker and http targets answer through the gateway, gated, audited, without leaking credentials", async (t) => {
  const docker = await DockerdTestbed.start();
  const seenAuth: string[] = [];
  const api = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    seenAuth.push(req.headers.get("authorization") ?? "");
    const path = new URL(req.url).pathname;
    // A careless API that echoes the credential back: the gateway must scrub it.
    return Response.json({ path, method: req.method, echo: req.headers.get("authorization") });
  });
  try {
    await docker.runContainer("web", { labels: { "com.docker.compose.project": "blog" } });
    const env = { TAILOPS_IT_API_TOKEN: API_TOKEN };
    const registry = targets(docker.socket, api.addr.port);

    await t.step("the default policy allows reads and hides control tools", async () => {
      await using gateway = await startGateway({ targets: registry, env });
      const client = await connectHttp(gateway);
      try {
        const names = (await client.listTools()).tools.map((tool) => tool.name);
        assert.ok(names.includes("container_list") && names.includes("http_request"));
        assert.ok(!names.includes("container_control"), "observe-only hides control tools");
        const list = await call(client, "container_list", { target: "engine" });
        assert.equal(list.results[0].status, "ok", list.text);
        const containers = (list.results[0].data as { containers: { name: string }[] }).containers;
        assert.ok(containers.some((c) => c.name === "web"), JSON.stringify(containers));
        const stacks = await call(client, "stack_list", { target: "engine" });
        assert.equal(stacks.results[0].status, "ok", stacks.text);

        const get = await call(client, "http_request", { target: "api", path: "/status" });
        assert.equal(get.results[0].status, "ok", get.text);
        assert.equal(seenAuth.at(-1), `Bearer ${API_TOKEN}`, "the gateway injects the credential");
        const post = await call(client, "http_request", {
          target: "api",
          method: "POST",
          path: "/items/1",
          body: { a: 1 },
        });
        assert.equal(
          post.results[0].status,
          "denied",
          "POST needs http:write, which observe-only refuses",
        );
        assert.equal(seenAuth.length, 1, "the denied POST never reached the API");
        const outside = await call(client, "http_request", { target: "api", path: "/admin" });
        assert.equal(outside.results[0].status, "failed");
        assert.equal(outside.results[0].error?.code, "forbidden");

        const everything = JSON.stringify([list, stacks, get, post, outside]);
        assert.ok(!everything.includes(API_TOKEN), "no result carries the credential");
      } finally {
        await client.close();
      }
      await gateway.stop();
      const audit = await Deno.readTextFile(gateway.auditFile);
      assert.ok(!audit.includes(API_TOKEN), "the audit log never carries the credential");
      assert.ok((await readAudit(gateway.auditFile)).some((r) => r.tool === "http_request"));
    });

    await t.step(
      "a control policy runs container_control, with the exact API request in dry run",
      async () => {
        await using gateway = await startGateway({
          targets: registry,
          env,
          policy: [
            "rules:",
            "  - id: read",
            "    tiers: [observe]",
            "  - id: homelab-control",
            "    tiers: [control]",
            '    targets: ["tag:homelab"]',
          ].join("\n"),
        });
        const client = await connectHttp(gateway);
        try {
          const dry = await call(client, "container_control", {
            target: "engine",
            container: "web",
            action: "restart",
            dry_run: true,
          });
          assert.equal(dry.results[0].status, "planned", dry.text);
          assert.match(JSON.stringify(dry.results[0].plan), /POST \/containers\/web\/restart/);
          const missing = await call(client, "container_control", {
            target: "engine",
            container: "nope",
            action: "stop",
          });
          assert.equal(missing.results[0].error?.code, "not_found", missing.text);
          const restart = await call(client, "container_control", {
            target: "engine",
            container: "web",
            action: "restart",
            // busybox's sleep ignores SIGTERM as PID 1: do not wait the default 10 s for it.
            timeout_s: 1,
          });
          assert.equal(restart.results[0].status, "ok", restart.text);
        } finally {
          await client.close();
        }
      },
    );
  } finally {
    await api.shutdown();
    await docker.close();
  }
});
