import { ok } from "node:assert/strict";
import { writeHeapSnapshot } from "node:v8";
import { loadPositionParser, parseYaml } from "../../src/config/yaml_source.ts";

/** The size of the largest string in this process's heap that starts with `prefix`. */
async function largestString(dir: string, prefix: string): Promise<number> {
  const snapshot = JSON.parse(await Deno.readTextFile(writeHeapSnapshot(`${dir}/heap.json`)));
  const fields: string[] = snapshot.snapshot.meta.node_fields;
  const types: string[] = snapshot.snapshot.meta.node_types[0];
  const [type, name, size] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  let largest = 0;
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    if (types[snapshot.nodes[i + type]] !== "string") continue;
    if (!snapshot.strings[snapshot.nodes[i + name]].startsWith(prefix)) continue;
    largest = Math.max(largest, snapshot.nodes[i + size]);
  }
  return largest;
}

const PADDING = "# padding that makes the document large: ";

/** A 2 MB document (a long comment) whose values are long scalars sliced from it. */
function document(tagged: boolean): string {
  const padding = `${PADDING}${"x".repeat(2_000_000)} ${crypto.randomUUID()}\n`;
  const description = `"A description long enough to be a slice ${crypto.randomUUID()}"`;
  return `${padding}targets:\n  - id: host-with-a-long-identifier\n    description: ${
    tagged ? `!!str ${description}` : description
  }\n    user: an-operator-account\n`;
}

Deno.test("parseYaml() values do not keep the document text alive, with either parser", async () => {
  // The tagged document needs the parser that keeps positions.
  await loadPositionParser();
  const dir = await Deno.makeTempDir();
  try {
    // `!!` sends the text to the slower parser that keeps positions.
    for (const tagged of [false, true]) {
      const kept = (() => parseYaml(document(tagged), "big.yaml").value)();
      const largest = await largestString(dir, PADDING);
      ok(JSON.stringify(kept).includes("host-with-a-long-identifier"));
      ok(
        largest < 1_000_000,
        `expected the 2 MB document text gone from the heap, found it (${largest} bytes)`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
