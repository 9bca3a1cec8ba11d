/**
 * A stdio client that writes its requests and closes its input at once
 * (`printf '...' | tailops serve`): the gateway answers every request it has
 * read — the session's opening, listings, quick calls and a slow call still
 * running — writes their audit records, and exits 0. A slow call that
 * outlives the grace period is cut with a clear answer; a line cut short by
 * the end of input gets one clear log line.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readAudit } from "./_gateway.ts";
import { spawnStdio, type StdioProcess } from "./_raw_stdio.ts";
import { exitOf, slowApi, slowApiTargets } from "./_slow_api.ts";

type Message = Record<string, unknown>;

const LOCAL = ["  - id: local", "    type: local", "    capabilities: [system:read]"];

const INITIALIZE = {
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "pipe", version: "0" },
  },
};

/** A 2026-07-28 discovery probe: the SDK builds a server for it, then drops it for `initialize`. */
const DISCOVER = {
  method: "server/discover",
  params: {
    _meta: {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientInfo": { name: "pipe", version: "0" },
      "io.modelcontextprotocol/clientCapabilities": {},
    },
  },
};

function request(id: number | string, body: Message): string {
  return JSON.stringify({ jsonrpc: "2.0", id, ...body }) + "\n";
}

function toolCall(id: number | string, name: string, args: Message): string {
  return request(id, { method: "tools/call", params: { name, arguments: args } });
}

const INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}\n';

/** Writes everything in one write and closes stdin, as a shell pipe does. */
async function pipeAndClose(gw: StdioProcess, text: string): Promise<void> {
  await gw.write(text);
  await gw.endInput();
}

function answerTo(gw: StdioProcess, id: number | string): Promise<Message> {
  return gw.waitFor((m) => m.id === id && !("method" in m), `the answer to ${JSON.stringify(id)}`);
}

function textOf(answer: Message): string {
  const result = answer.result as { content?: { text?: string }[] } | undefined;
  return result?.content?.map((c) => c.text ?? "").join("\n") ?? JSON.stringify(answer);
}

for (const opening of ["initialize", "server/discover then initialize"] as const) {
  Deno.test(`requests piped in with stdin closed at once are all answered, a slow call included, after ${opening}`, async () => {
    await using api = slowApi();
    await using gw = await spawnStdio({ targets: slowApiTargets(api.port, LOCAL) });
    await pipeAndClose(
      gw,
      (opening === "initialize" ? "" : request("probe", DISCOVER)) +
        request(1, INITIALIZE) + INITIALIZED +
        request(2, { method: "tools/list" }) +
        toolCall(3, "system_status", { target: "local" }) +
        toolCall(4, "http_request", { target: "api", path: "/slow" }),
    );
    // The quick ones are answered while the slow call is still held: stdin's
    // end did not stop the gateway.
    const init = await answerTo(gw, 1);
    assert.equal((init.result as Message).protocolVersion, "2025-06-18", JSON.stringify(init));
    const list = await answerTo(gw, 2);
    const tools = (list.result as { tools: { name: string }[] }).tools.map((t) => t.name);
    assert.ok(tools.includes("http_request"), tools.join(", "));
    const status = await answerTo(gw, 3);
    assert.notEqual((status.result as Message).isError, true, textOf(status));
    await api.started;
    api.release();
    const slow = await answerTo(gw, 4);
    assert.notEqual((slow.result as Message).isError, true, textOf(slow));
    assert.match(textOf(slow), /"slow": "done"/);
    assert.equal((await exitOf(gw.status)).code, 0, gw.stderr());
    if (opening !== "initialize") await answerTo(gw, "probe");
    // Both calls were audited from start to end, before the gateway stopped.
    const records = await readAudit(`${gw.stateDir}/audit.jsonl`);
    const events = records.filter((r) => r.event !== "checkpoint").map((r) =>
      r.event === "decided" || r.event === "finished" ? `${r.event} ${r.tool}` : r.event
    );
    for (const tool of ["system_status", "http_request"]) {
      assert.ok(events.includes(`decided ${tool}`), events.join(", "));
      assert.ok(events.includes(`finished ${tool}`), events.join(", "));
    }
    assert.equal(events.at(-1), "stopped", events.join(", "));
    assert.doesNotMatch(gw.stderr(), /"level":"ERROR"/);
  });
}

Deno.test("a piped-in call still running when the grace period after stdin's end is over gets a clear cancelled answer, and the gateway exits 0", async () => {
  await using api = slowApi();
  await using gw = await spawnStdio({
    targets: slowApiTargets(api.port),
    flags: ["--shutdown-grace", "1"],
  });
  await pipeAndClose(
    gw,
    request(1, INITIALIZE) + INITIALIZED +
      toolCall(2, "http_request", { target: "api", path: "/slow" }),
  );
  // The target never answers: the gateway cuts the call and says why.
  const cut = await answerTo(gw, 2);
  assert.match(textOf(cut), /cancelled/);
  assert.match(textOf(cut), /shutting down/);
  assert.equal((await exitOf(gw.status)).code, 0, gw.stderr());
  const records = await readAudit(`${gw.stateDir}/audit.jsonl`);
  const finished = records.filter((r) => r.event === "finished");
  assert.equal(finished.length, 1, JSON.stringify(records));
  assert.equal(finished[0].reason, "cancelled");
  assert.equal(records.filter((r) => r.event !== "checkpoint").at(-1)!.event, "stopped");
});

Deno.test("stdin ending in the middle of a line gets one clear log line, everything before it is answered, and the gateway exits 0", async () => {
  await using gw = await spawnStdio();
  await pipeAndClose(
    gw,
    request(1, INITIALIZE) + INITIALIZED +
      toolCall(2, "system_status", { target: "local" }) +
      '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"syst',
  );
  const status = await answerTo(gw, 2);
  assert.notEqual((status.result as Message).isError, true, textOf(status));
  assert.equal((await exitOf(gw.status)).code, 0, gw.stderr());
  await gw.outputEnded;
  const about = gw.stderr().split("\n").filter((line) => /middle of a message/.test(line));
  assert.equal(about.length, 1, gw.stderr());
  assert.match(about[0], /"level":"WARN"/);
  assert.doesNotMatch(gw.stderr(), /"level":"ERROR"|\bat .*\.ts:\d+/);
  // The cut line could not be read, so it is answered with a parse error (no id).
  const parseError = gw.lines().find((m) => (m.error as Message | undefined)?.code === -32700);
  assert.ok(parseError, JSON.stringify(gw.lines()));
  assert.equal(gw.lines().some((m) => m.id === 3), false);
  const records = await readAudit(`${gw.stateDir}/audit.jsonl`);
  assert.equal(records.filter((r) => r.event === "finished").length, 1);
});

Deno.test("stdin closed right after a complete last line without its newline still gets that line answered", async () => {
  await using gw = await spawnStdio();
  await pipeAndClose(
    gw,
    request(1, INITIALIZE) + INITIALIZED + toolCall(2, "system_status", { target: "local" }).trim(),
  );
  const status = await answerTo(gw, 2);
  assert.notEqual((status.result as Message).isError, true, textOf(status));
  assert.equal((await exitOf(gw.status)).code, 0, gw.stderr());
  assert.doesNotMatch(gw.stderr(), /middle of a message/);
});

Deno.test("twenty requests piped in and stdin closed, five times over, each get exactly one answer", async () => {
  for (let round = 0; round < 5; round++) {
    await using gw = await spawnStdio();
    let text = request("probe", DISCOVER) + request(1, INITIALIZE) + INITIALIZED;
    const ids: number[] = [];
    for (let id = 100; id < 120; id++) {
      ids.push(id);
      text += id % 2 === 0
        ? toolCall(id, "system_status", { target: "local" })
        : request(id, { method: "ping" });
    }
    await pipeAndClose(gw, text);
    assert.equal((await exitOf(gw.status)).code, 0, gw.stderr());
    await gw.outputEnded;
    for (const id of ["probe", 1, ...ids]) {
      const answers = gw.lines().filter((m) => m.id === id);
      assert.equal(answers.length, 1, `round ${round}, id ${id}: ${JSON.stringify(answers)}`);
      assert.equal(answers[0].error, undefined, JSON.stringify(answers[0]));
    }
    const records = await readAudit(`${gw.stateDir}/audit.jsonl`);
    assert.equal(records.filter((r) => r.event === "finished").length, 10, `round ${round}`);
  }
});
