/**
 * The README's operation file and template examples are complete and load
 * as written.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseOperationFile } from "../../src/config/operations_load.ts";
import { loadTemplates } from "../../src/config/templates_load.ts";
import { loadStacks } from "../../src/config/stacks_load.ts";
import { CATALOG } from "../../src/ops/catalog.ts";
import { withOperatorOperations } from "../../src/ops/operator.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

const README = new URL("../../README.md", import.meta.url);

/**
 * The first ```yaml block of the README, dedented, that declares `name: NAME`
 * (or has a line matching `marker`).
 */
async function example(
  name: string,
  marker = new RegExp(`^name: ${name}\\b`, "m"),
): Promise<string> {
  const text = await Deno.readTextFile(README);
  for (const match of text.matchAll(/^( *)```yaml\n([\s\S]*?)^\1```$/gm)) {
    const indent = match[1].length;
    const body = match[2].split("\n").map((line) => line.slice(indent)).join("\n");
    if (marker.test(body)) return body;
  }
  throw new Error(`No yaml example named ${name} in the README`);
}

Deno.test("the README's operation file examples load and become tools", async () => {
  for (const name of ["certbot_renew", "app_bounce"]) {
    const loaded = parseOperationFile(await example(name), `README.md#${name}`);
    const catalog = withOperatorOperations(CATALOG, [loaded]);
    assert.equal(catalog.at(-1)?.name, name);
  }
  const certbot = await example("certbot_renew");
  // "Complete": the example writes out every top-level key an operation file may have.
  for (
    const key of [
      "version",
      "name",
      "title",
      "description",
      "target_types",
      "capability",
      "mutates",
      "destructive",
      "timeout_ms",
      "output_cap_bytes",
      "parameters",
      "check",
      "steps",
      "parse",
    ]
  ) {
    assert.match(certbot, new RegExp(`^${key}:`, "m"), `${key} missing from the README example`);
  }
});

Deno.test("the README's template example loads", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/app_env.yaml`, await example("app_env"));
    const [template] = await loadTemplates(dir, { resolveSecrets: false });
    assert.equal(template.name, "app_env");
    assert.equal(template.variables.api_token.type, "secret");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the README's stack env template example loads in a stack", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/shop`);
    await Deno.writeTextFile(`${dir}/shop/compose.yaml`, "services: {}\n");
    await Deno.writeTextFile(
      `${dir}/shop/app.env.tailops-template.yaml`,
      await example("app.env", /^# stacks\/shop\/app\.env\.tailops-template\.yaml/m),
    );
    const [shop] = await loadStacks(dir, { resolveSecrets: false });
    const file = shop.files.find((f) => f.name === "app.env");
    assert.ok(file && "template" in file);
    assert.deepEqual(Object.keys(file.template.variables), ["greeting", "workers", "api_token"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
