/**
 * The prompt texts against the catalogue: every tool a prompt names exists,
 * each step names only the tools it declares, and leaving a step out keeps
 * the numbering.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CATALOG } from "../../src/ops/catalog.ts";
import { PROMPTS, promptText } from "../../src/mcp/prompt_catalog.ts";

/** `stack_deploy` joins the catalog when stacks are curated. */
const TOOLS = new Set([...CATALOG.map((op) => op.name), "stack_deploy"]);
const VALUES = { targets: "tag:web", target: "engine", container: "web-1", stack: "web" };

Deno.test("every tool a prompt names or needs is in the catalogue", () => {
  for (const prompt of PROMPTS) {
    for (const tool of prompt.needs) assert.ok(TOOLS.has(tool), `${prompt.name} needs ${tool}`);
    for (const step of prompt.steps(VALUES)) {
      for (const tool of step.tools) assert.ok(TOOLS.has(tool), `${prompt.name}: ${tool}`);
    }
    const text = promptText(prompt, VALUES, () => true);
    for (const [, tool] of text.matchAll(/\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+) \{/g)) {
      assert.ok(TOOLS.has(tool), `${prompt.name} names ${tool}`);
    }
  }
});

Deno.test("a step is left out when the caller cannot use one of its tools, and steps stay numbered", () => {
  const prompt = PROMPTS.find((p) => p.name === "update_packages")!;
  const text = promptText(prompt, VALUES, (tool) => tool !== "package_refresh");
  assert.doesNotMatch(text, /package_refresh/);
  assert.match(text, /\n1\. list_targets /);
  assert.match(text, /\n2\. package_updates /);
});

Deno.test("a step names in its text exactly the tools it declares", () => {
  for (const prompt of PROMPTS) {
    for (const step of prompt.steps(VALUES)) {
      const named = new Set(
        [...step.text.matchAll(/\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+) \{/g)].map((m) => m[1]),
      );
      for (const tool of named) {
        assert.ok(step.tools.includes(tool), `${prompt.name}: "${step.text}" names ${tool}`);
      }
    }
  }
});
