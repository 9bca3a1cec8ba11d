/**
 * The approvals endpoint: identities holding `approvals:grant` list, inspect,
 * approve and deny pending approvals over HTTP.
 *
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import { approvalIdSchema } from "../gate/approvals.ts";
import { mayDecideApproval } from "../gate/identity.ts";
import type { Registry } from "../config/registry.ts";
import { type ApprovalDeps, approvalInfo, recordApproval } from "../mcp/approval_flow.ts";
import type { GatewayEnv } from "./authenticate.ts";
import { StateUnavailableError } from "../state/state_error.ts";

const denyBody = z.strictObject({ reason: z.string().max(1000).optional() });

/**
 * Routes under `/approvals`. Mount behind authentication.
 *
 * A caller sees and decides only the approvals about targets where it holds
 * `approvals:grant` (a role may limit the scope to some targets); any other
 * approval answers exactly like one that does not exist.
 *
 * @param approvals The gateway's approvals.
 * @param options `registry` to look the approvals' targets up in; the clock (tests inject one).
 * @returns A Hono sub-app.
 */
export function approvalsApi(
  approvals: ApprovalDeps,
  options: { registry: Registry; now?: () => Date },
): Hono<GatewayEnv> {
  const now = options.now ?? (() => new Date());
  const { registry } = options;
  const app = new Hono<GatewayEnv>();
  const decidable = (identity: GatewayEnv["Variables"]["identity"], targets: readonly string[]) =>
    mayDecideApproval(identity, targets.map((id) => registry.get(id)));
  // A malformed id is looked up as nothing (the same 404 as an unknown one).
  const find = async (id: string) =>
    approvalIdSchema.safeParse(id).success ? await approvals.store.get(id) : undefined;
  const notFound = (id: string) => ({
    error: "not_found",
    error_description: `No approval ${JSON.stringify(id)} exists`,
  });
  // Without the shared database no approval can be read or decided: say so, fail closed.
  app.onError((error, c) => {
    if (!(error instanceof StateUnavailableError)) throw error;
    return c.json({ error: "shared_state_unavailable", error_description: error.message }, 503);
  });
  app.use("*", async function requireGrantScope(c, next) {
    if (!c.var.identity.scopes.has("approvals:grant")) {
      return c.json(
        {
          error: "insufficient_scope",
          error_description: "Managing approvals needs the approvals:grant scope",
        },
        403,
        { "WWW-Authenticate": 'Bearer error="insufficient_scope", scope="approvals:grant"' },
      );
    }
    await next();
  });
  app.get("/", async (c) => {
    const state = c.req.query("state");
    const all = (await approvals.store.list(state ? { state: state as never } : {}))
      .filter((a) => decidable(c.var.identity, a.targets));
    return c.json({ approvals: all.map((a) => ({ ...approvalInfo(a), summary: a.summary })) });
  });
  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    const approval = await find(id);
    if (!approval || !decidable(c.var.identity, approval.targets)) return c.json(notFound(id), 404);
    return c.json({
      ...approvalInfo(approval),
      summary: approval.summary,
      plan: approval.plan,
      args: approvals.redact(approval.args),
    });
  });
  app.post("/:id/:verb{approve|deny}", async (c) => {
    const id = c.req.param("id");
    const verb = c.req.param("verb");
    let reason: string | undefined;
    if (verb === "deny") {
      const text = await c.req.text();
      const parsed = denyBody.safeParse(text ? safeJson(text) : {});
      if (!parsed.success) {
        return c.json({
          error: "invalid_request",
          error_description: 'Expected a JSON body like {"reason": "..."}',
        }, 400);
      }
      reason = parsed.data.reason;
    }
    // Someone else's approval (targets where the caller holds no approvals:grant) is not found.
    const existing = await find(id);
    if (existing && !decidable(c.var.identity, existing.targets)) return c.json(notFound(id), 404);
    const approver = c.var.identity.subject;
    const outcome = verb === "approve"
      ? await approvals.store.approve(id, approver, { now: now() })
      : await approvals.store.deny(id, approver, { reason: reason ?? "", now: now() });
    if (outcome.audit) await recordApproval(approvals, outcome.audit);
    if (!outcome.ok) {
      const status = outcome.code === "not_found"
        ? 404
        : outcome.code === "self_approval"
        ? 403
        : 409;
      return c.json({ error: outcome.code, error_description: outcome.reason }, status);
    }
    return c.json({
      ...approvalInfo(outcome.approval),
      ...(outcome.approval.grant ? { grant: outcome.approval.grant } : {}),
    });
  });
  return app;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
