/**
 * The official MCP conformance suite through `scripts/conformance.sh`: both
 * requirement sets (2025-11-25 and 2026-07-28) against a real gateway, each
 * failing only where its baseline says why. Needs the pinned suite from npm
 * (or Deno's cache of it); without either the test says so and passes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { REPO_DIR } from "./_gateway.ts";

const SUITE = "npm:@modelcontextprotocol/conformance@0.2.0-alpha.12";

/** Whether Deno can load the pinned suite (from its cache or the registry). */
async function suiteAvailable(): Promise<boolean> {
  const probe = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", "--no-lock", SUITE, "--help"],
    stdout: "null",
    stderr: "null",
    signal: AbortSignal.timeout(180_000),
  }).output().catch(() => ({ success: false }));
  return probe.success;
}

Deno.test("the MCP conformance suite passes both requirement sets against its baselines", async () => {
  if (!(await suiteAvailable())) {
    console.warn(
      `SKIP: ${SUITE} cannot be loaded (npm unreachable and not cached); run scripts/conformance.sh where npm is reachable`,
    );
    return;
  }
  const run = await new Deno.Command("bash", {
    args: ["scripts/conformance.sh"],
    cwd: REPO_DIR,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(900_000),
  }).output();
  const out = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 0, out);
  assert.match(out, /=== 2025-11-25: exit 0 ===/, out);
  assert.match(out, /=== 2026-07-28: exit 0 ===/, out);
});
