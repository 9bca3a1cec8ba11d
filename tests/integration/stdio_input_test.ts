/**
 * What a stdio client may send that is not a valid message: oversized lines,
 * malformed JSON, invalid UTF-8, blank lines, binary junk and every wrong
 * JSON-RPC shape. Each gets a precise JSON-RPC error on stdout, the gateway
 * keeps serving, and an SDK client in the same process still works.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MAX_MESSAGE_BYTES } from "../../src/mcp/rpc_message.ts";
import { readAudit } from "./_gateway.ts";
import { startRawStdio } from "./_raw_stdio.ts";

type Message = Record<string, unknown>;
const errorOf = (m: Message) => m.error as { code: number; message: string } | undefined;

function rss(pid: number, field: "VmHWM" | "VmRSS"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
}

async function stillServes(client: Awaited<ReturnType<typeof startRawStdio>>["client"]) {
  const result = await client.callTool({ name: "system_status", arguments: { target: "local" } });
  assert.notEqual(result.isError, true, JSON.stringify(result.content));
}

Deno.test("oversized stdio messages are refused with their id and the session keeps serving", async (t) => {
  await using gw = await startRawStdio();
  await stillServes(gw.client);

  await t.step("a 10 MB line with the id first is refused with -32600 and that id", async () => {
    const pad = "A".repeat(10 * 1024 * 1024);
    await gw.write(
      `{"jsonrpc":"2.0","id":"big-1","method":"tools/call","params":{"name":"system_status","arguments":{"target":"local","pad":"${pad}"}}}\n`,
    );
    const answer = await gw.waitFor((m) => m.id === "big-1", "the 10 MB line's answer");
    assert.equal(errorOf(answer)?.code, -32600);
    assert.match(errorOf(answer)!.message, new RegExp(`at most ${MAX_MESSAGE_BYTES} bytes`));
    await stillServes(gw.client);
  });

  await t.step(
    "a 50 MB tool argument with the id last (as the SDK writes it) is refused with that id, in bounded memory",
    async () => {
      const chunk = new TextEncoder().encode("B".repeat(1024 * 1024));
      const sendLarge = async (mib: number, id: number) => {
        await gw.write(
          '{"method":"tools/call","params":{"name":"system_status","arguments":{"target":"local","pad":"',
        );
        for (let i = 0; i < mib; i++) await gw.write(chunk);
        // Nested "id" keys inside params must not be taken for the message's id.
        await gw.write(`","inner":{"id":"not-me"}}},"jsonrpc":"2.0","id":${id}}\n`);
        return await gw.waitFor((m) => m.id === id, `the ${mib} MiB line's answer`);
      };
      const answer = await sendLarge(50, 4242);
      assert.equal(errorOf(answer)?.code, -32600);
      assert.ok(!gw.lines().some((m) => m.id === "not-me"));
      await stillServes(gw.client);
      // Skipping costs a bounded amount (stream chunks, V8's young generation,
      // reached on the first large line); buffering a 150 MiB line would
      // raise the peak by 150 MiB or more.
      const before = rss(gw.pid, "VmHWM");
      await sendLarge(150, 4343);
      const grown = rss(gw.pid, "VmHWM") - before;
      assert.ok(grown < 64 * 1024 * 1024, `peak RSS grew by ${grown} bytes`);
      await stillServes(gw.client);
    },
  );

  await t.step(
    "an SDK client's call with a 50 MB argument is answered with an error, not left to time out",
    async () => {
      await assert.rejects(
        gw.client.callTool({
          name: "system_status",
          arguments: { target: "local", pad: "x".repeat(50 * 1024 * 1024) },
        }),
        (error: Error & { code?: number }) =>
          error.code === -32600 && /Message too large/.test(error.message),
      );
      await stillServes(gw.client);
    },
  );

  await t.step("an oversized line whose id cannot be read is refused with id null", async () => {
    await gw.write("[" + "1,".repeat(MAX_MESSAGE_BYTES) + "1]\n");
    await gw.waitFor(
      (m) => m.id === null && /too large/.test(errorOf(m)?.message ?? ""),
      "the id-less oversized line's answer",
    );
    await stillServes(gw.client);
  });

  await t.step("a message of exactly the limit is still read", async () => {
    const head = '{"jsonrpc":"2.0","id":"edge","method":"ping","params":{"_meta":{"pad":"';
    const tail = '"}}}';
    const pad = "C".repeat(MAX_MESSAGE_BYTES - head.length - tail.length);
    await gw.write(`${head}${pad}${tail}\n`);
    const answer = await gw.waitFor((m) => m.id === "edge", "the answer at the limit");
    assert.deepEqual(answer.result, {});
  });

  const records = await readAudit(`${gw.stateDir}/audit.jsonl`);
  assert.equal(
    records.filter((r) => r.event === "decided").length,
    6,
    "only the client's calls ran",
  );
});

Deno.test("malformed stdio lines each get a JSON-RPC error and the session continues", async () => {
  await using gw = await startRawStdio();
  const cases: [string, Uint8Array | string, (m: Message) => boolean, number][] = [];
  const add = (
    name: string,
    line: Uint8Array | string,
    code: number,
    id: string | number | null = null,
  ) => cases.push([name, line, (m) => m.id === id && errorOf(m)?.code === code, code]);
  add("not JSON", "this is not json\n", -32700);
  add("truncated JSON", '{"jsonrpc":"2.0","id":1,"method":"ping"\n', -32700);
  add("invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d, 0x0a]), -32700);
  add("only whitespace", "  \t  \r\n", -32700);
  add("an empty line", "\n", -32700);
  add(
    "binary junk",
    Uint8Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256 || 1).map((b) =>
      b === 0x0a ? 0x0b : b
    ).map((b, i, a) => i === a.length - 1 ? 0x0a : b),
    -32700,
  );
  add("a JSON string", '"hello"\n', -32600);
  add("a JSON number", "42\n", -32600);
  add("null", "null\n", -32600);
  add("a batch", '[{"jsonrpc":"2.0","id":"b1","method":"ping"}]\n', -32600);
  add("a wrong jsonrpc version", '{"jsonrpc":"1.0","id":"v1","method":"ping"}\n', -32600, "v1");
  add("no jsonrpc at all", '{"id":"v2","method":"ping"}\n', -32600, "v2");
  add("an object id", '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}\n', -32600);
  add("a null id", '{"jsonrpc":"2.0","id":null,"method":"ping"}\n', -32600);
  add("a fractional id", '{"jsonrpc":"2.0","id":1.5,"method":"ping"}\n', -32600);
  add("a numeric method", '{"jsonrpc":"2.0","id":"m1","method":7}\n', -32600, "m1");
  add("a response with neither result nor error", '{"jsonrpc":"2.0","id":"r1"}\n', -32600, "r1");
  add(
    "params as an array",
    '{"jsonrpc":"2.0","id":"p1","method":"tools/list","params":[1]}\n',
    -32602,
    "p1",
  );
  add(
    "params as a string",
    '{"jsonrpc":"2.0","id":"p2","method":"tools/call","params":"x"}\n',
    -32602,
    "p2",
  );
  add(
    "_meta as a number",
    '{"jsonrpc":"2.0","id":"p3","method":"tools/list","params":{"_meta":5}}\n',
    -32602,
    "p3",
  );
  add(
    "a progress token object",
    '{"jsonrpc":"2.0","id":"p4","method":"tools/list","params":{"_meta":{"progressToken":{}}}}\n',
    -32602,
    "p4",
  );
  add("an unknown method", '{"jsonrpc":"2.0","id":"u1","method":"no/such"}\n', -32601, "u1");
  for (const [name, line, match] of cases) {
    await gw.write(line);
    const answer = await gw.waitFor(match, name);
    const message = errorOf(answer)!.message;
    assert.ok(!message.includes("\n"), `${name}: one line, found ${JSON.stringify(message)}`);
    assert.ok(!/"code":|invalid_type|at .*\.ts:\d+/.test(message), `${name}: no zod dump or stack`);
  }
  // A malformed response (here an error with id null, as a confused peer
  // might send back) is never answered: two peers doing so would loop.
  const nullsBefore = gw.lines().filter((m) => m.id === null).length;
  await gw.write('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}\n');
  await gw.write('{"jsonrpc":"2.0","id":"after-response","method":"ping"}\n');
  await gw.waitFor((m) => m.id === "after-response", "the ping after the bad response");
  assert.equal(gw.lines().filter((m) => m.id === null).length, nullsBefore);
  // A notification with bad params gets no answer (JSON-RPC never answers
  // notifications), and changes nothing.
  await gw.write('{"jsonrpc":"2.0","method":"notifications/cancelled","params":7}\n');
  await stillServes(gw.client);
});

Deno.test("wrong tools/call shapes over stdio get -32602 with one sentence, never a zod dump", async () => {
  await using gw = await startRawStdio();
  const shapes: [string, unknown, RegExp][] = [
    ["params missing", undefined, /needs "params"/],
    ["name missing", { arguments: {} }, /"params.name".*found nothing/],
    ["name a number", { name: 7, arguments: {} }, /"params.name".*found an integer/],
    ["name empty", { name: "", arguments: {} }, /found an empty string/],
    ["unknown tool", { name: "no_such_tool", arguments: {} }, /Tool "no_such_tool" not found/],
    [
      "arguments a string",
      { name: "system_status", arguments: "x" },
      /"params.arguments".*found a string/,
    ],
    ["arguments an array", { name: "system_status", arguments: [] }, /found an array/],
    ["arguments null", { name: "system_status", arguments: null }, /found null/],
    ["arguments a number", { name: "system_status", arguments: 3 }, /found an integer/],
    ["a huge tool name", { name: "x".repeat(100_000), arguments: {} }, /Tool "x{100}…" not found/],
  ];
  for (const [index, [name, params, pattern]] of shapes.entries()) {
    const id = `shape-${index}`;
    const message = params === undefined
      ? { jsonrpc: "2.0", id, method: "tools/call" }
      : { jsonrpc: "2.0", id, method: "tools/call", params };
    await gw.write(JSON.stringify(message) + "\n");
    const answer = await gw.waitFor((m) => m.id === id, name);
    assert.equal(errorOf(answer)?.code, -32602, name);
    assert.match(errorOf(answer)!.message, pattern, name);
    assert.ok(errorOf(answer)!.message.length < 300, name);
  }
  // Wrong argument values are a tool error the model can act on: one line,
  // every problem named, with a stable code.
  const values: [Record<string, unknown>, RegExp][] = [
    [{ target: "local", bogus: 1 }, /Unrecognized key: "bogus"/],
    [{ target: 7, dry_run: "yes", extra: [1] }, /at target; .*at dry_run/],
    [
      { target: "local", unit: "x".repeat(50_000) },
      /^invalid_arguments: Invalid arguments for system_status: /,
    ],
  ];
  for (const [index, [args, pattern]] of values.entries()) {
    const id = `values-${index}`;
    await gw.write(
      JSON.stringify({
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: { name: "system_status", arguments: args },
      }) + "\n",
    );
    const answer = await gw.waitFor((m) => m.id === id, `argument values ${index}`);
    const result = answer.result as { isError: boolean; content: { text: string }[] };
    assert.equal(result.isError, true);
    const text = result.content[0].text;
    assert.match(text, /^invalid_arguments: /);
    assert.match(text, pattern);
    assert.ok(!text.includes("\n") && text.length <= 700, text.slice(0, 200));
  }
  await stillServes(gw.client);
  const records = await readAudit(`${gw.stateDir}/audit.jsonl`);
  assert.equal(
    records.filter((r) => r.event === "decided").length,
    1,
    "no bad shape reached the gate",
  );
});

Deno.test("arguments nested deeper than schema validation can walk get invalid_arguments, and the session goes on", async () => {
  await using gw = await startRawStdio();
  for (const [id, depth] of [[501, 129], [502, 5_000], [503, 100_000]] as const) {
    const nested = "[".repeat(depth) + "]".repeat(depth);
    const objects = '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
    for (const [suffix, value] of [["a", nested], ["o", objects]] as const) {
      await gw.write(
        `{"jsonrpc":"2.0","id":"${id}${suffix}","method":"tools/call","params":{"name":"system_status","arguments":{"target":"local","x":${value}}}}\n`,
      );
      const answer = await gw.waitFor((m) => m.id === `${id}${suffix}`, `${depth} levels`);
      const result = answer.result as { isError: boolean; content: { text: string }[] };
      assert.equal(result.isError, true);
      assert.match(
        result.content[0].text,
        /^invalid_arguments: Invalid arguments for system_status: values are nested more than 128 levels deep$/,
      );
    }
  }
  await stillServes(gw.client);
});

Deno.test("requests written just before stdin closes are all answered before the gateway exits", async () => {
  await using gw = await startRawStdio();
  await stillServes(gw.client);
  const ids = [601, 602, 603];
  for (const id of ids) {
    await gw.write(
      `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"system_status","arguments":{"target":"local"}}}\n`,
    );
  }
  await gw.write('{"jsonrpc":"2.0","id":604,"method":"ping"}\n');
  await gw.endInput();
  for (const id of [...ids, 604]) {
    const answer = await gw.waitFor((m) => m.id === id, `the answer to ${id}`);
    assert.equal(errorOf(answer), undefined, JSON.stringify(answer));
  }
  assert.equal((await gw.status).code, 0, gw.stderr());
  const records = await readAudit(`${gw.stateDir}/audit.jsonl`);
  assert.equal(records.filter((r) => r.event === "finished").length, ids.length + 1);
});

Deno.test("an operation's own cross-field checks hold over MCP, before any plan is made", async () => {
  await using gw = await startRawStdio({
    targets: [
      "targets:",
      "  - id: api",
      "    type: http",
      "    capabilities: [http:read]",
      "    connection:",
      "      base_url: http://127.0.0.1:9",
      "      methods: [GET, POST]",
      '      paths: ["/**"]',
    ].join("\n"),
  });
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["get-body", { method: "GET", path: "/x", body: "hi" }, /a GET request has none at body$/],
    ["head-body", { method: "HEAD", path: "/x", body: {} }, /a HEAD request has none at body$/],
    [
      "big-body",
      { method: "POST", path: "/x", body: "a".repeat(300_000), dry_run: true },
      /expected at most 262144 bytes of JSON at body$/,
    ],
  ];
  for (const [id, args, expected] of cases) {
    await gw.write(
      JSON.stringify({
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: { name: "http_request", arguments: { target: "api", ...args } },
      }) + "\n",
    );
    const answer = await gw.waitFor((m) => m.id === id, id);
    const result = answer.result as { isError: boolean; content: { text: string }[] };
    assert.equal(result.isError, true);
    assert.match(
      result.content[0].text,
      /^invalid_arguments: Invalid arguments for http_request: /,
    );
    assert.match(result.content[0].text, expected);
  }
  const records = await readAudit(`${gw.stateDir}/audit.jsonl`);
  assert.ok(!records.some((r) => r.event === "decided"), "nothing reached the gate");
});

Deno.test("params the SDK's schemas refuse get -32602 and one sentence, never a zod dump", async () => {
  await using gw = await startRawStdio();
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["logging/setLevel", { level: "loud" }, /expected one of .*"debug".* at params\.level$/],
    ["logging/setLevel", {}, /at params\.level$/],
    ["tools/list", { cursor: { a: 1 } }, /expected string, received object at params\.cursor$/],
    ["initialize", { protocolVersion: 5 }, /at params\.protocolVersion/],
  ];
  let id = 700;
  for (const [method, params, expected] of cases) {
    const current = ++id;
    await gw.write(JSON.stringify({ jsonrpc: "2.0", id: current, method, params }) + "\n");
    const answer = await gw.waitFor((m) => m.id === current, `${method}'s answer`);
    const error = errorOf(answer);
    assert.equal(error?.code, -32602, JSON.stringify(answer));
    assert.match(error!.message, /^Invalid params: /);
    assert.match(error!.message, expected);
    assert.ok(!error!.message.includes("\n"), error!.message);
  }
  await stillServes(gw.client);
});
