/**
 * The short text rendering of a tool result, for clients that show text only.
 *
 * @module
 */
import type { Operation } from "../ops/operation.ts";
import type { ToolResult } from "./envelope.ts";

/** Longest text rendering; the structured result is always complete. */
export const MAX_TEXT = 16_000;

const LABELS: Record<string, string> = {
  denied: "Denied",
  approval_required: "Needs approval",
  skipped: "Not run",
  cancelled: "Cancelled",
  timeout: "Timed out",
  unreachable: "Unreachable",
};

function indent(text: string): string {
  return text.split("\n").map((line) => `  ${line}`).join("\n");
}

/**
 * Renders a tool result as a few lines per target.
 *
 * @param op The operation (its `render` draws successful outputs).
 * @param result The structured result.
 * @returns Text, cut at {@linkcode MAX_TEXT} characters.
 */
export function renderText(op: Operation, result: ToolResult): string {
  const lines: string[] = [];
  const single = result.results.length === 1;
  if (!single) lines.push(result.summary);
  if (result.approval) {
    lines.push(
      `Approval ${result.approval.id} is needed before this call runs (expires ${result.approval.expires}). ${result.approval.how_to_approve}`,
    );
  }
  for (const r of result.results) {
    let body: string;
    if (r.status === "ok") body = op.render(r.data as never);
    else if (r.status === "planned") {
      body = `Dry run, nothing was run. Plan:\n${JSON.stringify(r.plan, null, 2)}`;
    } else {
      body = `${LABELS[r.status] ?? "Failed"} (${r.error?.code ?? r.status}): ${
        r.error?.message ?? ""
      }`;
    }
    if (r.warning) body = `Warning (${r.warning.code}): ${r.warning.message}\n${body}`;
    lines.push(single ? body : `[${r.status}] ${r.target} (${r.duration_ms} ms)\n${indent(body)}`);
  }
  const text = lines.join("\n");
  return text.length > MAX_TEXT
    ? `${text.slice(0, MAX_TEXT)}\n… (text cut; the structured result is complete)`
    : text;
}
