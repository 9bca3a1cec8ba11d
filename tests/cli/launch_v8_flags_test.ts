import assert from "node:assert/strict";
import { GATEWAY_V8_FLAGS, launchArgs } from "../../src/cli/launch.ts";
import { GATEWAY_RUNTIME_FLAGS } from "../../scripts/bench/_process.ts";

const REPO = new URL("../../", import.meta.url);

Deno.test("the launcher, the compiled binary and the benchmark run the gateway with the same V8 flags", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tailops-v8-flags-" });
  try {
    const args = await launchArgs(["--state-dir", dir]);
    assert.ok(args.includes(GATEWAY_V8_FLAGS), `expected ${GATEWAY_V8_FLAGS} in ${args.join(" ")}`);
    const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO))).tasks;
    assert.ok(
      tasks.compile.split(/\s+/).includes(GATEWAY_V8_FLAGS),
      `expected the compile task to pass ${GATEWAY_V8_FLAGS}, found: ${tasks.compile}`,
    );
    assert.deepEqual(GATEWAY_RUNTIME_FLAGS, [GATEWAY_V8_FLAGS]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
