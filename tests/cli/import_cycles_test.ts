/**
 * The module graph of the gateway has no new import cycles. `deno info
 * --json` lists static and dynamic imports (type-only imports included);
 * every strongly connected component of more than one module is a cycle.
 *
 * @module
 */
import assert from "node:assert/strict";
import { REPO_DIR } from "../integration/_gateway.ts";

/** Cycles allowed for now: none (the call pipeline's circle was untied by `call_deps.ts`). */
const KNOWN_CYCLES: readonly string[][] = [];

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
}

/** Strongly connected components of more than one node (Tarjan, iterative). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: [string, number][] = [[root, 0]];
    while (work.length > 0) {
      const top = work[work.length - 1];
      const [node, child] = top;
      if (child === 0) {
        index.set(node, next);
        low.set(node, next++);
        stack.push(node);
        onStack.add(node);
      }
      const edges = graph.get(node) ?? [];
      if (child < edges.length) {
        top[1]++;
        const to = edges[child];
        if (!index.has(to)) work.push([to, 0]);
        else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent)!, low.get(node)!));
      }
      if (low.get(node) === index.get(node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== node);
        if (component.length > 1) found.push(component.sort());
      }
    }
  }
  return found;
}

Deno.test("the gateway's modules have no import cycles besides the known ones", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: REPO_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
  const root = `file://${REPO_DIR}/`;
  const local = (specifier?: string) => specifier?.startsWith(root) ? specifier : undefined;
  const graph = new Map<string, string[]>();
  for (const module of info.modules) {
    if (!local(module.specifier)) continue;
    const edges = (module.dependencies ?? []).flatMap((d) =>
      [local(d.code?.specifier), local(d.type?.specifier)].filter((s): s is string => !!s)
    );
    graph.set(module.specifier, [...new Set(edges)]);
  }
  assert.ok(graph.has(`${root}src/cli/serve_http.ts`), "dynamic imports are in the graph");
  const found = cycles(graph).map((c) => c.map((s) => s.slice(root.length)));
  const known = new Set(KNOWN_CYCLES.map((c) => JSON.stringify(c)));
  assert.deepEqual(found.filter((c) => !known.has(JSON.stringify(c))), []);
});
