/**
 * Answers `list_targets` from the registry and the policy: the targets the
 * caller may use, each with the tools the gate could allow there and those
 * that always need approval. Nothing runs on a target; one audit record says
 * who listed what.
 *
 * @module
 */
import type { Target } from "../config/targets_schema.ts";
import { alwaysNeedsApproval, couldUse } from "../gate/mod.ts";
import type { TargetInfo } from "../ops/discovery.ts";
import type { Operation } from "../ops/operation.ts";
import type { CallDeps } from "./call_deps.ts";
import type { Identity } from "../gate/mod.ts";
import { selectionHint } from "./_close_matches.ts";
import type { TargetResult, ToolResult } from "./envelope.ts";
import { renderText } from "./render_text.ts";

/** A `list_targets` call: who asks, the operation, its validated arguments. */
export interface ListRequest {
  readonly identity: Identity;
  readonly operation: Operation;
  readonly args: Readonly<Record<string, unknown>>;
}

/** The answer, or why there is none (the caller turns it into a `CallError`). */
export type ListAnswer =
  | { readonly result: ToolResult; readonly text: string; readonly isError: boolean }
  | { readonly refused: { readonly code: string; readonly message: string } };

/**
 * What the caller may do on one target.
 *
 * @param deps Registry and policy.
 * @param context The caller, the operations reported on, and the target.
 * @returns The target's entry (`tools` empty when nothing is allowed there).
 */
function describe(
  deps: Pick<CallDeps, "registry" | "policy">,
  context: { identity: Identity; about: readonly Operation[]; target: Target },
): TargetInfo {
  const { identity, about, target } = context;
  const usable = about.filter((operation) =>
    couldUse({ identity, operation, target }, deps.policy)
  );
  return {
    type: target.type,
    description: target.description,
    tags: [...target.tags],
    groups: [...target.groups],
    tools: usable.map((op) => op.name),
    approval: usable
      .filter((operation) => alwaysNeedsApproval({ identity, operation, target }, deps.policy))
      .map((op) => op.name),
  };
}

/**
 * The targets a caller may use, each with what they may do there: the one
 * place `list_targets` and the `tailops://targets` resources read it from.
 *
 * @param deps Registry and policy.
 * @param context The caller and the operations reported on.
 * @returns Each target where some tool is usable, in registry order, with its entry.
 */
export function visibleTargetInfos(
  deps: Pick<CallDeps, "registry" | "policy">,
  context: { identity: Identity; about: readonly Operation[] },
): Map<Target, TargetInfo> {
  const infos = new Map<Target, TargetInfo>();
  for (const target of deps.registry.targets) {
    const info = describe(deps, { ...context, target });
    if (info.tools.length > 0) infos.set(target, info);
  }
  return infos;
}

function refuse(code: string, message: string): ListAnswer {
  return { refused: { code, message } };
}

/**
 * Runs a `list_targets` call (an operation with `visibleWith`).
 *
 * @param deps The gateway's registry, policy and audit log.
 * @param request The caller and the arguments.
 * @returns One `ok` entry per visible, selected target; or a refusal: `unknown_target`,
 *   `no_targets` or `unknown_tool` naming close matches. (The caller applies the rate limit.)
 * @throws {AuditError} When the audit log cannot be written.
 */
export async function answerListTargets(
  deps: CallDeps,
  request: ListRequest,
): Promise<ListAnswer> {
  const { identity, operation: op, args } = request;
  const about = (op.visibleWith ?? []) as readonly Operation[];
  const infos = visibleTargetInfos(deps, { identity, about });
  const visible = [...infos.keys()];
  const one = args.target as string | undefined;
  const terms = args.targets as readonly string[] | undefined;
  if (one !== undefined && terms !== undefined) {
    return refuse("bad_selection", "Give either target or targets, not both");
  }
  let selected = visible;
  if (one !== undefined) {
    selected = visible.filter((t) => t.id === one);
    if (selected.length === 0) {
      return refuse(
        "unknown_target",
        `No target has the id ${JSON.stringify(one)}${selectionHint(one, visible)}`,
      );
    }
  } else if (terms !== undefined) {
    const matching = new Set(deps.registry.select(terms));
    selected = visible.filter((t) => matching.has(t));
    if (selected.length === 0) {
      return refuse(
        "no_targets",
        `No target you may use matches ${JSON.stringify(terms)}${selectionHint(terms, visible)}`,
      );
    }
  }
  const tool = args.tool as string | undefined;
  if (tool !== undefined) {
    if (!visible.some((t) => infos.get(t)!.tools.includes(tool))) {
      return refuse(
        "unknown_tool",
        `No tool named ${JSON.stringify(tool)} is available to you on any target`,
      );
    }
    selected = selected.filter((t) => infos.get(t)!.tools.includes(tool));
  }
  await deps.audit.append({
    event: "listed",
    identity: identity.subject,
    tool: op.name,
    args: deps.redact(Object.fromEntries(
      Object.entries({ tool, target: one, targets: terms }).filter(([, v]) => v !== undefined),
    )),
    detail: { targets: selected.length },
  }, { durable: false });
  const results: TargetResult[] = selected.map((target) => ({
    target: target.id,
    status: "ok",
    duration_ms: 0,
    data: infos.get(target),
  }));
  const result: ToolResult = {
    tool: op.name,
    dry_run: args.dry_run === true,
    summary: `${results.length} target${results.length === 1 ? "" : "s"} you may use`,
    results,
  };
  return {
    result: JSON.parse(deps.scrub(JSON.stringify(result))) as ToolResult,
    text: deps.scrub(renderText(op, result)),
    isError: results.length === 0,
  };
}
