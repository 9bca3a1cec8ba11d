import assert from "node:assert/strict";
import { IdScanner } from "../../src/mcp/_id_scanner.ts";

function scan(text: string, chunkSize = text.length): string | number | null {
  const bytes = new TextEncoder().encode(text);
  const scanner = new IdScanner();
  for (let i = 0; i < bytes.length; i += chunkSize) scanner.push(bytes.subarray(i, i + chunkSize));
  return scanner.id;
}

Deno.test("IdScanner finds the top-level id wherever it is and however the bytes are cut", () => {
  const cases: [string, string | number | null][] = [
    ['{"jsonrpc":"2.0","id":7,"method":"x"}', 7],
    ['{"method":"x","params":{"a":[1,{"b":"}"}]},"jsonrpc":"2.0","id":"last"}', "last"],
    ['{ "id" : -12 , "method":"x"}', -12],
    ['{"params":{"id":"nested"},"id":"top"}', "top"],
    ['{"params":{"s":"\\"id\\":5"},"id":"after-escaped"}', "after-escaped"],
    ['{"method":"id","x":"id","id":"value-not-key"}', "value-not-key"],
    ['{"id":"with \\" quote"}', 'with " quote'],
    ['{"params":{"id":1}}', null],
    ['{"id":null,"method":"x"}', null],
    ['{"id":1.5}', null],
    ['{"id":{"a":1}}', null],
    ['[{"id":1}]', null],
    ['"id"', null],
    [`{"id":"${"x".repeat(400)}"}`, null],
  ];
  for (const [text, expected] of cases) {
    for (const size of [1, 3, 7, text.length]) {
      assert.equal(scan(text, size), expected, `${text.slice(0, 60)} in chunks of ${size}`);
    }
  }
});
