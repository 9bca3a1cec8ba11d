/**
 * The prompt handlers on a real SDK server and client (in memory): a
 * resource template's completions registered before the prompts still
 * answer, next to the prompts' own, which draw only on targets the caller
 * may use.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Client, InMemoryTransport } from "@modelcontextprotocol/client";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/server";
import { parsePolicy, parseTargets } from "../../src/config/load.ts";
import { fullIdentity, type Identity } from "../../src/gate/identity.ts";
import { compilePolicy } from "../../src/gate/policy.ts";
import { servePrompts } from "../../src/mcp/prompts.ts";
import type { PromptCore } from "../../src/mcp/_usable_tools.ts";
import { CATALOG } from "../../src/ops/catalog.ts";

const TARGETS = `
targets:
  - id: local
    type: local
    tags: [gw]
    capabilities: [system:read]
  - id: secret-box
    type: local
    tags: [vault]
    capabilities: [system:read]
`;

const POLICY = `
rules:
  - id: read
    tiers: [observe]
    targets: ["*", "!secret-box"]
`;

async function core(): Promise<PromptCore> {
  const registry = await parseTargets(TARGETS, "targets.yaml");
  const policy = compilePolicy(parsePolicy(POLICY, "policy.yaml"), CATALOG);
  const deps = {
    registry,
    policy,
    executor: { run: () => Promise.reject(new Error("nothing runs")) },
    audit: { append: () => Promise.resolve() },
    redact: (value: unknown) => value as Record<string, unknown>,
    scrub: (text: string) => text,
  };
  return { deps, catalog: CATALOG };
}

async function connected(server: McpServer): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "t", version: "0" });
  await server.connect(serverSide);
  await client.connect(clientSide);
  return client;
}

Deno.test("resource-template completions registered first still answer beside the prompts' own", async () => {
  const server = new McpServer({ name: "t", version: "0" }, {});
  server.registerResource(
    "target",
    new ResourceTemplate("tailops://targets/{id}", {
      list: undefined,
      complete: { id: (value) => ["alpha", "beta"].filter((id) => id.startsWith(value)) },
    }),
    {},
    () => ({ contents: [] }),
  );
  const identity: Identity = fullIdentity("alice", "token");
  servePrompts(server, await core(), () => identity);
  const client = await connected(server);
  try {
    const resource = await client.complete({
      ref: { type: "ref/resource", uri: "tailops://targets/{id}" },
      argument: { name: "id", value: "a" },
    });
    assert.deepEqual(resource.completion.values, ["alpha"]);
    const prompt = await client.complete({
      ref: { type: "ref/prompt", name: "health_check" },
      argument: { name: "selector", value: "" },
    });
    // secret-box: no rule lets anyone use anything there.
    assert.deepEqual(prompt.completion.values.sort(), ["local", "tag:gw"]);
    assert.equal(prompt.completion.total, 2);
  } finally {
    await client.close();
  }
});

Deno.test("without a resource handler, a resource completion is refused with -32602", async () => {
  const server = new McpServer({ name: "t", version: "0" }, {});
  servePrompts(server, await core(), () => fullIdentity("alice", "token"));
  const client = await connected(server);
  try {
    await assert.rejects(
      client.complete({
        ref: { type: "ref/resource", uri: "tailops://targets/{id}" },
        argument: { name: "id", value: "" },
      }),
      (error: { code?: number }) => error.code === -32602,
    );
  } finally {
    await client.close();
  }
});
