/**
 * The 2026-07-28 wire as raw requests against the real gateway: discovery,
 * the errors the revision defines for header/body mismatches and envelopes,
 * and a confirm rule's input-required round whose answer lands on a second
 * gateway process sharing the key and approvals directories. The signed
 * `requestState` is never a credential and works once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { authGateway } from "./_auth_gateway.ts";

const POLICY = [
  "version: 1",
  "rules:",
  "  - id: observe",
  "    tiers: [observe]",
  "  - id: control-confirm",
  "    effect: approve",
  "    tiers: [control]",
  "    confirm: true",
  // Many control calls in a row: keep the rate limit out of it.
  "rate_limits:",
  "  control: { per_minute: 6000, burst: 1000 }",
  "identities:",
  "  roles:",
  "    operator: { scopes: [system:read, system:control] }",
  "  bindings:",
  "    - { token: alice, roles: [operator] }",
  "    - { token: mallory, roles: [operator] }",
].join("\n");

const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" },
  "io.modelcontextprotocol/clientCapabilities": { elicitation: {} },
};

const RESTART = { target: "local", unit: "nginx.service", action: "restart" };
const YES = { confirm: { action: "accept", content: { confirm: true } } };

interface Answer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** POSTs one JSON-RPC message as a 2026-07-28 client would; reads JSON or the SSE answer. */
async function post(
  url: URL,
  token: string | undefined,
  message: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const params = message.params as { name?: string } | undefined;
  const response = await fetch(url, {
    method: "POST",
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": String(message.method),
      ...(params?.name ? { "mcp-name": params.name } : {}),
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: "2.0", ...message }),
  });
  const text = await response.text();
  if (response.headers.get("content-type")?.startsWith("text/event-stream")) {
    const data = text.split("\n").filter((line) => line.startsWith("data:")).map((line) =>
      JSON.parse(line.slice(5))
    );
    return { status: response.status, body: data.find((m) => "result" in m || "error" in m) };
  }
  return { status: response.status, body: text === "" ? undefined : JSON.parse(text) };
}

function restart(id: number, extra: Record<string, unknown> = {}) {
  return {
    id,
    method: "tools/call",
    params: { name: "service_control", arguments: RESTART, _meta: ENVELOPE, ...extra },
  };
}

Deno.test("the 2026-07-28 wire: discovery, mismatch errors, and a confirmation answered on another gateway once", async (t) => {
  await using first = await authGateway(POLICY);
  await using second = await authGateway(POLICY);
  await first.start();
  // The second gateway shares the first's key and approvals directories, as
  // gateways behind one load balancer must.
  await Deno.mkdir(second.stateDir, { recursive: true, mode: 0o700 });
  await Deno.symlink(`${first.stateDir}/keys`, `${second.stateDir}/keys`);
  await Deno.symlink(`${first.stateDir}/approvals`, `${second.stateDir}/approvals`);
  await second.start();
  const alice = (await first.mint("alice", "operator")).token;
  const aliceOnSecond = (await second.mint("alice", "operator")).token;
  const mallory = (await first.mint("mallory", "operator")).token;

  await t.step("server/discover names 2026-07-28 and opens no session", async () => {
    const response = await fetch(first.url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${alice}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "server/discover",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "server/discover",
        params: { _meta: ENVELOPE },
      }),
    });
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(response.headers.get("mcp-session-id"), null);
    assert.ok(body.result.supportedVersions.includes("2026-07-28"), JSON.stringify(body));
    assert.equal(body.result.capabilities.tools.listChanged, false);
  });

  await t.step("an Mcp-Name header naming another tool than the body is refused", async () => {
    const answer = await post(first.url, alice, restart(2), { "mcp-name": "system_status" });
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
    assert.equal(answer.body.error.code, -32020);
  });

  await t.step("a 2026-07-28 request without its envelope is refused", async () => {
    const answer = await post(first.url, alice, { id: 3, method: "tools/list", params: {} });
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
    assert.equal(answer.body.error.code, -32602);
  });

  await t.step("an unsupported revision is refused naming the supported one", async () => {
    const answer = await post(first.url, alice, {
      id: 4,
      method: "tools/list",
      params: { _meta: { ...ENVELOPE, "io.modelcontextprotocol/protocolVersion": "2099-01-01" } },
    }, { "mcp-protocol-version": "2099-01-01" });
    assert.equal(answer.body.error.code, -32022, JSON.stringify(answer.body));
    assert.ok(answer.body.error.data.supported.includes("2026-07-28"));
  });

  let state = "";
  await t.step(
    "a confirm rule answers with an input-required result and runs nothing",
    async () => {
      const answer = await post(first.url, alice, restart(5));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const result = answer.body.result;
      assert.equal(result.resultType, "input_required", JSON.stringify(result));
      assert.equal(result.inputRequests.confirm.method, "elicitation/create");
      assert.match(result.inputRequests.confirm.params.message, /asks you to confirm/);
      state = result.requestState;
      assert.match(state, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      const audit = await first.audit();
      assert.equal(audit.filter((r) => r.event === "approval_requested").length, 1);
      assert.equal(audit.filter((r) => r.event === "decided").length, 0);
    },
  );

  await t.step("a tampered state is refused before the tool runs", async () => {
    const forged = `${state.slice(0, -4)}AAAA`;
    const answer = await post(
      first.url,
      alice,
      restart(6, { inputResponses: YES, requestState: forged }),
    );
    assert.equal(answer.body.error?.code, -32602, JSON.stringify(answer.body));
  });

  await t.step("the state echoed by another identity is refused", async () => {
    const answer = await post(
      first.url,
      mallory,
      restart(7, { inputResponses: YES, requestState: state }),
    );
    assert.equal(answer.body.error?.code, -32602, JSON.stringify(answer.body));
  });

  await t.step("the state is no credential: without a token the request is 401", async () => {
    const answer = await post(
      first.url,
      undefined,
      restart(8, { inputResponses: YES, requestState: state }),
    );
    assert.equal(answer.status, 401);
  });

  await t.step("the state for other arguments does not run them", async () => {
    const answer = await post(first.url, alice, {
      id: 9,
      method: "tools/call",
      params: {
        name: "service_control",
        arguments: { ...RESTART, unit: "sshd.service" },
        _meta: ENVELOPE,
        inputResponses: YES,
        requestState: state,
      },
    });
    const result = answer.body.result;
    assert.equal(result.isError, true, JSON.stringify(result));
    assert.equal(result.structuredContent.results[0].error.code, "approval_call_mismatch");
  });

  await t.step("the state for another tool runs nothing", async () => {
    const answer = await post(first.url, alice, {
      id: 9,
      method: "tools/call",
      params: {
        name: "system_status",
        arguments: { target: "local" },
        _meta: ENVELOPE,
        inputResponses: YES,
        requestState: state,
      },
    });
    const result = answer.body.result;
    assert.equal(result.isError, true, JSON.stringify(result));
    assert.match(result.content[0].text, /^approval_call_mismatch: /);
  });

  await t.step("the answer on the second gateway runs the call", async () => {
    const answer = await post(
      second.url,
      aliceOnSecond,
      restart(10, { inputResponses: YES, requestState: state }),
    );
    const result = answer.body.result;
    assert.notEqual(result?.resultType, "input_required", JSON.stringify(answer.body));
    const entry = result.structuredContent.results[0];
    // The host has no systemd: the call ran there and failed, under the approval.
    assert.ok(["ok", "failed"].includes(entry.status), JSON.stringify(entry));
    const decided = (await second.audit()).filter((r) => r.event === "decided");
    assert.equal(decided.length, 1);
  });

  await t.step("the same state again is refused as used, on either gateway", async () => {
    for (const [gw, token] of [[first, alice], [second, aliceOnSecond]] as const) {
      const answer = await post(
        gw.url,
        token,
        restart(11, { inputResponses: YES, requestState: state }),
      );
      const result = answer.body.result;
      assert.equal(result.isError, true, JSON.stringify(answer.body));
      assert.equal(result.structuredContent.results[0].error.code, "approval_already_used");
    }
  });

  await t.step("a declined answer denies the approval and runs nothing", async () => {
    const asked = await post(first.url, alice, restart(12));
    const declined = await post(
      first.url,
      alice,
      restart(13, {
        inputResponses: { confirm: { action: "decline" } },
        requestState: asked.body.result.requestState,
      }),
    );
    const result = declined.body.result;
    assert.equal(result.structuredContent.results[0].error.code, "approval_declined");
  });
});
