/**
 * The catalog a gateway serves: the built-in operations plus the operator's
 * operation files.
 *
 * @module
 */
import { loadOperations } from "../config/operations_load.ts";
import { ENVELOPE_KEYS } from "../mcp/envelope.ts";
import { CATALOG } from "../ops/catalog.ts";
import { withDiscovery } from "../ops/discovery.ts";
import type { Operation } from "../ops/operation.ts";
import { withOperatorOperations } from "../ops/operator.ts";
import { stackDeploy } from "../ops/stack_deploy.ts";
import { stackDiff } from "../ops/stack_diff.ts";
import { stackDown } from "../ops/stack_down.ts";
import { loadStacks } from "../config/stacks_load.ts";
import type { Template } from "../config/templates_load.ts";
import type { Secret } from "../config/secret.ts";
import { fileWriteWith } from "../ops/file_write.ts";

/** The tools curated stacks add to the catalog. */
export const STACK_TOOLS: readonly string[] = ["stack_deploy", "stack_diff", "stack_down"];

/**
 * The built-in catalog plus the operator's operation files, when a directory
 * is given (or named by `TAILOPS_OPERATIONS`, which also reaches `serve`).
 *
 * Needs `read` on the directory, `env` for `TAILOPS_OPERATIONS`.
 *
 * @param dir The directory; `undefined` for `TAILOPS_OPERATIONS`, `null` for none.
 * @param stacksDir Curated compose stacks (adds `stack_deploy`, `stack_diff`,
 *   `stack_down`); `undefined` for
 *   `TAILOPS_STACKS`, `null` for none.
 * @param options `templates`: file_write templates (loaded by `loadTemplates`); file_write
 *   then fills them too. `resolveSecrets` (default true): read the stacks' template secrets now.
 * @returns The frozen catalog. Each operation declares the secrets it fills in
 *   (`Operation.secrets`; see {@linkcode catalogSecrets}).
 * @throws {ConfigError} With `file:line:column` for every problem of every file.
 */
export async function loadCatalog(
  dir?: string | null,
  stacksDir?: string | null,
  options: { templates?: readonly Template[]; resolveSecrets?: boolean } = {},
): Promise<readonly Operation[]> {
  const from = dir === undefined
    ? (Deno.env.get("TAILOPS_OPERATIONS") || undefined)
    : dir ?? undefined;
  const stacksFrom = stacksDir === undefined
    ? (Deno.env.get("TAILOPS_STACKS") || undefined)
    : stacksDir ?? undefined;
  // Curated stacks add stack_deploy, which is built from them.
  const stacks = stacksFrom === undefined
    ? []
    : await loadStacks(stacksFrom, { resolveSecrets: options.resolveSecrets });
  const templates = options.templates ?? [];
  if (stacks.length === 0 && from === undefined && templates.length === 0) return CATALOG;
  // With templates, file_write takes `template` + `variables` as well as content.
  const base = templates.length === 0
    ? CATALOG
    : CATALOG.map((op) => op.name === "file_write" ? fileWriteWith(templates) : op);
  // Operator names are checked against every built-in, list_targets included.
  const builtins = stacks.length > 0
    ? Object.freeze([...base, stackDeploy(stacks), stackDiff(stacks), stackDown(stacks)])
    : base;
  const all = from === undefined ? builtins : withOperatorOperations(
    builtins,
    await loadOperations(from, { builtins: builtins.map((op) => op.name) }),
    ENVELOPE_KEYS,
  );
  // list_targets is rebuilt to report on every tool, the operators' and stack_deploy too.
  const discovery = CATALOG[0].name;
  return withDiscovery(all.filter((op) => op.name !== discovery));
}

/**
 * Every secret the catalog's operations fill in (file_write's and the
 * stacks' template secrets), once each: what the gateway's scanner redacts
 * and the launcher grants read access to, besides the registry's.
 *
 * @param catalog The catalog.
 * @returns The secrets.
 */
export function catalogSecrets(catalog: readonly Operation[]): Secret[] {
  return [...new Set(catalog.flatMap((op) => op.secrets ?? []))];
}
