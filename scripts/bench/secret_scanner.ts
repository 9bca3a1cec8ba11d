/**
 * Secret scanner cost: build time, heap growth and scan time per MB for a few
 * secret sets, on plain text and on text full of `%` and `\u` escapes.
 * Nothing is asserted. Run: `deno run -A --v8-flags=--expose-gc scripts/bench/secret_scanner.ts`.
 *
 * @module
 */
import { SecretScanner } from "../../src/audit/secret_scanner.ts";

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const keep: SecretScanner[] = [];
for (const [count, length] of [[10, 32], [1000, 48], [20, 3000]]) {
  const secrets = Array.from({ length: count }, (_, i) => {
    let s = `s${i}-`;
    while (s.length < length) s += crypto.randomUUID();
    return s.slice(0, length);
  });
  gc();
  const before = Deno.memoryUsage().heapUsed;
  const t0 = performance.now();
  const scanner = new SecretScanner(secrets);
  const build = performance.now() - t0;
  gc();
  const heap = Deno.memoryUsage().heapUsed - before;
  keep.push(scanner);
  const rates = [];
  for (
    const line of [
      '2025-01-01 INFO service healthy; served in 3 ms {"a":"b"}\n',
      "50% \\u0041 %41 x\n",
    ]
  ) {
    const text = line.repeat(Math.ceil(8_000_000 / line.length));
    scanner.scan(text);
    const t1 = performance.now();
    for (let r = 0; r < 3; r++) scanner.scan(text);
    rates.push(((performance.now() - t1) / 3 / (text.length / 1e6)).toFixed(1));
  }
  console.log(
    `${count} secrets x ${length} chars: ${scanner.size} forms, build ${build.toFixed(0)} ms, ` +
      `heap +${(heap / 1e6).toFixed(1)} MB, scan ${rates[0]} ms/MB plain, ${
        rates[1]
      } ms/MB escaped`,
  );
}
