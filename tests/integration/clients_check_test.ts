/**
 * The README's client set-ups, run as part of the suite: scripts/clients_check.ts
 * with `--cached-only` (the MCP Inspector CLI and mcp-remote from Deno's
 * cache, against a real gateway with a viewer token). scripts/test.sh fetches
 * the two tools before the suite; without them in the cache this skips.
 *
 * @module
 */
import assert from "node:assert/strict";
import { REPO_DIR } from "./_gateway.ts";

const TOOLS = ["@modelcontextprotocol/inspector/2.12.0", "mcp-remote/0.15.1"];

function skipReason(): string | undefined {
  const out = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdin: "null" })
    .outputSync();
  const cache = JSON.parse(new TextDecoder().decode(out.stdout)).npmCache as string;
  for (const tool of TOOLS) {
    try {
      Deno.statSync(`${cache}/registry.npmjs.org/${tool}`);
    } catch {
      return `npm:${
        tool.replace(/\/([^/]+)$/, "@$1")
      } is not in Deno's cache (scripts/test.sh runs deno cache for it)`;
    }
  }
  return undefined;
}

const skip = skipReason();
if (skip) console.warn(`clients_check_test: skipped: ${skip}`);

Deno.test({
  name:
    "the Inspector CLI and mcp-remote reach a real gateway with a viewer token, and mcp-remote without one signs in through a tsidp-shaped issuer",
  ignore: skip !== undefined,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", "scripts/clients_check.ts", "--cached-only"],
      cwd: REPO_DIR,
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const lines = text.trim().split("\n");
    assert.equal(out.code, 0, `${text}\n${new TextDecoder().decode(out.stderr)}`);
    assert.equal(lines.filter((l) => l.startsWith("ok ")).length, 4, text);
  },
});
