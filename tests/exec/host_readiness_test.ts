import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/mod.ts";
import { ExecutorHost } from "../../src/exec/host.ts";
import { NO_PERMISSIONS, type WorkerKind } from "../../src/exec/worker_kind.ts";

const FAILING: WorkerKind = {
  type: "local",
  module: new URL("./_failing_worker.ts", import.meta.url),
  permissions: () => NO_PERMISSIONS,
  config: () => ({}),
};

Deno.test("ExecutorHost.unstartable() names the worker that failed to start once a warm-up tried it", async () => {
  const registry = await parseTargets(
    ["targets:", "  - id: local", "    type: local", "    capabilities: [system:read]"].join("\n"),
    "test.yaml",
  );
  const host = new ExecutorHost(registry, { kinds: [FAILING], context: { programs: [] } });
  try {
    // Nothing tried yet: nothing is known to be broken.
    assert.equal(host.unstartable(), undefined);
    host.warm();
    let reason: string | undefined;
    for (let i = 0; i < 300 && reason === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      reason = host.unstartable();
    }
    assert.equal(reason, "The local executor failed to start");
  } finally {
    host.close();
  }
});
