/**
 * The approval webhook against the real gateway: each approval event is
 * POSTed, HMAC-signed, to a receiver on loopback, without the call's arguments.
 *
 * @module
 */
import assert from "node:assert/strict";
import { webhookSignature } from "../../src/gate/approvals.ts";
import { authGateway, ROLES_YAML } from "./_auth_gateway.ts";

const SECRET = "webhook-shared-secret-for-tests";

Deno.test("approval requests and grants reach the webhook, signed and without arguments", async () => {
  const received: { body: string; timestamp: string; signature: string }[] = [];
  const receiver = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      received.push({
        body: await req.text(),
        timestamp: req.headers.get("x-tailops-timestamp") ?? "",
        signature: req.headers.get("x-tailops-signature") ?? "",
      });
      return new Response(null, { status: 204 });
    },
  );
  try {
    const secretFile = await Deno.makeTempFile();
    await Deno.writeTextFile(secretFile, SECRET);
    await using gateway = await authGateway([
      "version: 1",
      "approvals:",
      `  webhook: { url: "http://127.0.0.1:${receiver.addr.port}/hook", secret: "file:${secretFile}" }`,
      "rules:",
      "  - id: observe",
      "    tiers: [observe]",
      "  - id: control-approval",
      "    effect: approve",
      "    tiers: [control]",
      "identities:",
      ROLES_YAML,
      "  bindings:",
      "    - { token: alice, roles: [operator] }",
    ].join("\n"));
    await gateway.start();
    const client = await gateway.connect({
      token: (await gateway.mint("alice", "operator")).token,
    });
    const result = await client.callTool({
      name: "service_control",
      arguments: { target: "local", unit: "nginx.service", action: "restart" },
    });
    const approval = (result.structuredContent as { approval?: { id: string } }).approval;
    assert.ok(approval);
    const approved = await gateway.cli(["approvals", "approve", approval.id, "--as", "bob"]);
    assert.equal(approved.code, 0, approved.stderr);

    const deadline = Date.now() + 8_000;
    while (received.length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(received.length, 2, "one POST for the request, one for the grant");
    const events = received.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    assert.deepEqual(events.map((e) => e.event), ["approval_requested", "approval_granted"]);
    assert.equal(events[0].identity, "token:alice");
    assert.equal(events[1].identity, "local:bob");
    assert.ok(
      !received[0].body.includes("nginx.service") || !("args" in events[0]),
      "no arguments",
    );
    assert.equal(events[0].args, undefined, "arguments stay out of notifications");
    for (const r of received) {
      assert.equal(
        r.signature,
        await webhookSignature(SECRET, { timestamp: r.timestamp, body: r.body }),
        "the signature verifies with the shared secret",
      );
    }
    await Deno.remove(secretFile);
  } finally {
    await receiver.shutdown();
  }
});
