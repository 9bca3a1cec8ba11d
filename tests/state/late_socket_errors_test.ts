/**
 * A node:net socket whose write fails after its listeners were removed (as
 * the PostgreSQL driver leaves a closed connection) ends a Deno process; the
 * gateway's guard absorbs exactly that and nothing else. Each case runs in
 * its own process (tests/state/_late_socket_error.ts).
 *
 * @module
 */
import assert from "node:assert/strict";

async function run(mode: "bare" | "absorb" | "other") {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-prompt",
      new URL("./_late_socket_error.ts", import.meta.url).pathname,
      mode,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

Deno.test("a late EPIPE on a socket without listeners ends an unguarded process", async () => {
  const { code, text } = await run("bare");
  assert.notEqual(code, 0, text);
  assert.match(text, /EPIPE|ECONNRESET/);
});

Deno.test("with the guard, the late socket error is absorbed and the process lives on", async () => {
  const { code, text } = await run("absorb");
  assert.equal(code, 0, text);
  assert.match(text, /alive/);
});

Deno.test("the guard absorbs nothing else: an unrelated unhandled rejection still ends the process", async () => {
  const { code, text } = await run("other");
  assert.equal(code, 1, text);
  assert.match(text, /something else/);
  assert.doesNotMatch(text, /alive/);
});
