import assert from "node:assert/strict";
import { CallMetrics } from "../../src/mcp/metrics.ts";

Deno.test("CallMetrics renders per-tool outcome counters and latency histograms", () => {
  const metrics = new CallMetrics();
  metrics.record({
    tool: "system_status",
    dry_run: false,
    summary: "",
    results: [
      { target: "a", status: "ok", duration_ms: 3 },
      { target: "b", status: "denied", duration_ms: 0 },
      { target: "c", status: "ok", duration_ms: 700 },
    ],
  });
  metrics.recordError("system_status", "rate_limited");
  const text = metrics.render([{ name: "tailops_sessions", help: "Sessions.", read: () => 2 }]);
  assert.match(text, /^tailops_target_calls_total\{tool="system_status",status="ok"\} 2$/m);
  assert.match(text, /^tailops_target_calls_total\{tool="system_status",status="denied"\} 1$/m);
  assert.match(text, /^tailops_call_errors_total\{tool="system_status",code="rate_limited"\} 1$/m);
  assert.match(text, /^tailops_target_call_seconds_bucket\{tool="system_status",le="0\.005"\} 1$/m);
  assert.match(text, /^tailops_target_call_seconds_bucket\{tool="system_status",le="1"\} 2$/m);
  assert.match(text, /^tailops_target_call_seconds_count\{tool="system_status"\} 2$/m);
  assert.match(text, /^tailops_sessions 2$/m);
  assert.ok(!text.includes('target="'), "target ids are not labels");
});
