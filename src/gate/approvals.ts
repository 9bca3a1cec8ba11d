/**
 * Call-bound approvals: a call whose rule says `approve` does not run; it
 * becomes a pending approval bound to the exact call (requester, tool,
 * targets, canonical arguments). A human approves or denies it; the
 * requester then calls again with `approval_id`, and the approval is consumed
 * once, only for that exact call, before it expires.
 *
 * Approved requests also get a grant: a compact JWS signed with the gateway
 * key, so a second gateway sharing the key can verify the approval without
 * this store. Every transition returns what the audit log needs.
 *
 * @example
 * ```ts
 * const store = new ApprovalStore({ stateDir, signingKey: gatewayKey });
 * const { approval } = await store.request({ ...call, rule, summary, plan }, { now });
 * await store.approve(approval.id, "token:bob", { now });
 * const used = await store.consume(approval.id, { ...call, now }); // used.ok === true, once
 * ```
 *
 * @module
 */
import type { JWTVerifyGetKey } from "jose";
import { canonicalJson } from "../audit/canonical_json.ts";
import {
  alreadyDecided,
  type ApprovalAudit,
  type ApprovalOutcome,
  type ApprovalRefusal,
  type ApprovalRefusalCode,
  audit,
  refusal,
} from "./_approval_audit.ts";
import { type ApprovalCall, boundCall, computeBinding, mismatch } from "./_approval_call.ts";
import { type GrantClaims, type GrantKey, signGrant, verifyGrant } from "./_approval_grant.ts";
import {
  ApprovalFiles,
  approvalIdSchema,
  type ApprovalRecord,
  type ApprovalRecords,
  newApprovalId,
} from "./_approval_store.ts";
import { type ApprovalTerms, DEFAULT_APPROVAL_TTL_MS } from "./policy.ts";

export {
  GRANT_AUDIENCE,
  GRANT_TYPE,
  type GrantClaims,
  grantClaimsSchema,
  type GrantKey,
  signGrant,
  verifyGrant,
} from "./_approval_grant.ts";
export { notifyWebhook, type WebhookResult, webhookSignature } from "./_webhook.ts";
export {
  APPROVAL_STATES,
  approvalIdSchema,
  type ApprovalRecord,
  type ApprovalRecords,
  approvalRecordSchema,
  type ApprovalState,
  ApprovalStoreError,
} from "./_approval_store.ts";
export {
  type ApprovalAudit,
  type ApprovalAuditEvent,
  type ApprovalOutcome,
  type ApprovalRefusal,
  type ApprovalRefusalCode,
  audit as transitionAudit,
} from "./_approval_audit.ts";
export { type ApprovalCall, BINDING_EXCLUDED_ARGS, computeBinding } from "./_approval_call.ts";

/** What {@linkcode ApprovalStore.request} needs besides the call. */
export interface ApprovalRequestInput extends ApprovalCall {
  /** The policy rule that asked for approval (the first, when several did). */
  readonly rule: string;
  /**
   * Each target's rule, when the call spans more than one (a fan-out whose
   * targets fall under different rules); `terms` must then be the strictest of theirs.
   */
  readonly rules?: Readonly<Record<string, string>>;
  /** One line for humans: what will happen where. */
  readonly summary: string;
  /** What dry run shows (plain JSON). */
  readonly plan?: unknown;
  /** The rule's terms (from the `approval_required` decision); defaults: 15 min, separation of duties. */
  readonly terms?: Partial<ApprovalTerms>;
}

/** Filters for {@linkcode ApprovalStore.list}. */
export interface ApprovalFilter {
  /** Only approvals in this state. */
  readonly state?: ApprovalRecord["state"];
  /** Only approvals requested by this subject. */
  readonly requester?: string;
}

/** A call presented with an approval, and the current instant. */
export interface ConsumeInput extends ApprovalCall {
  /** The current instant. */
  readonly now: Date;
}

/**
 * Approvals persisted in `STATE/approvals/`, one file each (mode 0600,
 * atomic replace); a new instance on the same directory sees every approval.
 * Needs `read` and `write` permission on the state directory.
 */
export class ApprovalStore {
  readonly #files: ApprovalRecords;
  readonly #key: GrantKey | undefined;
  readonly #locks = new Map<string, Promise<unknown>>();

  /**
   * @param options The state directory, and the key that signs grants (without one, no grants);
   * `records` keeps approvals elsewhere than `STATE/approvals` (a shared database).
   */
  constructor(options: { stateDir: string; signingKey?: GrantKey; records?: ApprovalRecords }) {
    this.#files = options.records ?? new ApprovalFiles(options.stateDir);
    this.#key = options.signingKey;
  }

  /** Runs one transition of one approval at a time within this process. */
  async #exclusive<T>(id: string, step: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const current = previous.catch(() => {}).then(step);
    this.#locks.set(id, current);
    try {
      return await current;
    } finally {
      if (this.#locks.get(id) === current) this.#locks.delete(id);
    }
  }

  /**
   * Records a pending approval for a call.
   *
   * @param input The call, the rule, the plan and its summary, and the rule's terms.
   * @param options The current instant.
   * @returns The pending approval and its `approval_requested` audit data.
   * @throws {TypeError} (as a rejection) When an argument is not JSON.
   */
  async request(
    input: ApprovalRequestInput,
    options: { now: Date },
  ): Promise<{ approval: ApprovalRecord; audit: ApprovalAudit }> {
    const bound = boundCall(input);
    const ttl = input.terms?.ttlMs ?? DEFAULT_APPROVAL_TTL_MS;
    const confirm = input.terms?.confirm ?? false;
    const approval: ApprovalRecord = {
      version: 1,
      id: newApprovalId(),
      state: "pending",
      binding: await computeBinding(input),
      rule: input.rule,
      ...(input.rules && new Set(Object.values(input.rules)).size > 1
        ? { rules: { ...input.rules } }
        : {}),
      requester: bound.requester,
      tool: bound.tool,
      targets: bound.targets,
      args: bound.args,
      plan: JSON.parse(canonicalJson(input.plan ?? null)),
      summary: input.summary,
      created: options.now.toISOString(),
      expires: new Date(options.now.getTime() + ttl).toISOString(),
      separation_of_duties: input.terms?.separationOfDuties ?? !confirm,
      confirm,
    };
    await this.#files.write(approval);
    const event = audit(approval, "approval_requested", {
      identity: approval.requester,
      ...options,
    });
    return { approval, audit: event };
  }

  /**
   * Reads one approval.
   *
   * @param id The approval id; a malformed id finds nothing.
   * @returns The approval, or `undefined`.
   * @throws {ApprovalStoreError} (as a rejection) When its file is corrupt.
   */
  async get(id: string): Promise<ApprovalRecord | undefined> {
    return approvalIdSchema.safeParse(id).success ? await this.#files.read(id) : undefined;
  }

  /**
   * Lists approvals, oldest first.
   *
   * @param filter Optional state and requester filters.
   * @returns The matching approvals.
   * @throws {ApprovalStoreError} (as a rejection) When a file is corrupt.
   */
  async list(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    const all = (await this.#files.list()).filter((approval) =>
      (filter.state === undefined || approval.state === filter.state) &&
      (filter.requester === undefined || approval.requester === filter.requester)
    );
    return all.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  /** Reads a pending approval, expiring it when its time is up. */
  async #pending(id: string, actor: string, now: Date): Promise<ApprovalRecord | ApprovalRefusal> {
    const approval = await this.get(id);
    if (approval === undefined) {
      return { ok: false, code: "not_found", reason: `No approval ${JSON.stringify(id)} exists` };
    }
    if (approval.state !== "pending") {
      const reason = `Approval ${id} is ${approval.state}: expected a pending approval`;
      return refusal(approval, { code: "not_pending", reason, identity: actor, now });
    }
    if (now.getTime() >= Date.parse(approval.expires)) return await this.#expire(approval, now);
    return approval;
  }

  async #expire(approval: ApprovalRecord, now: Date): Promise<ApprovalRefusal> {
    const expired: ApprovalRecord = { ...approval, state: "expired" };
    await this.#files.write(expired);
    const reason = `Approval ${approval.id} expired at ${approval.expires}: request a new one`;
    return refusal(expired, {
      code: "expired",
      reason,
      identity: "gateway",
      now,
      event: "approval_expired",
    });
  }

  /**
   * Approves a pending request. Under separation of duties the requester
   * cannot approve their own request; a `confirm` rule lets them.
   *
   * @param id The approval id.
   * @param approver The approver's identity subject.
   * @param options The current instant; `unaudited` when the caller cannot write the audit log
   * (the CLI): the decision is marked for a gateway to audit (see {@linkcode unaudited}).
   * @returns The approved record (with `grant` when the store has a signing key), or why not.
   * @throws {ApprovalStoreError} (as a rejection) When the file is corrupt.
   */
  async approve(
    id: string,
    approver: string,
    options: { now: Date; unaudited?: boolean },
  ): Promise<ApprovalOutcome> {
    return await this.#exclusive(id, async () => {
      const { now } = options;
      const approval = await this.#pending(id, approver, now);
      if ("ok" in approval) return approval;
      if (approval.separation_of_duties && approver === approval.requester) {
        const reason =
          `Cannot approve ${id}: separation of duties requires an approver other than the requester "${approver}"`;
        return refusal(approval, { code: "self_approval", reason, identity: approver, now });
      }
      if (!(await this.#files.claim(id, "decided"))) {
        return alreadyDecided(approval, approver, options.now);
      }
      // Marked before the new state is visible, so no gateway sees the decision unmarked.
      if (options.unaudited) await this.#files.markUnaudited(id);
      const decided: ApprovalRecord = {
        ...approval,
        state: "approved",
        decided_by: approver,
        decided_at: options.now.toISOString(),
      };
      const grant = this.#key
        ? await signGrant(decided, { key: this.#key, now: options.now })
        : undefined;
      const approved = grant ? { ...decided, grant } : decided;
      await this.#files.write(approved);
      return {
        ok: true,
        approval: approved,
        audit: audit(approved, "approval_granted", { identity: approver, now }),
      };
    });
  }

  /**
   * Denies a pending request. Anyone allowed to decide may deny, the requester included.
   *
   * @param id The approval id.
   * @param approver The deciding identity subject.
   * @param options Why, the current instant, and `unaudited` as for {@linkcode approve}.
   * @returns The denied record, or why it could not be denied.
   * @throws {ApprovalStoreError} (as a rejection) When the file is corrupt.
   */
  async deny(
    id: string,
    approver: string,
    options: { reason: string; now: Date; unaudited?: boolean },
  ): Promise<ApprovalOutcome> {
    return await this.#exclusive(id, async () => {
      const approval = await this.#pending(id, approver, options.now);
      if ("ok" in approval) return approval;
      if (!(await this.#files.claim(id, "decided"))) {
        return alreadyDecided(approval, approver, options.now);
      }
      if (options.unaudited) await this.#files.markUnaudited(id);
      const denied: ApprovalRecord = {
        ...approval,
        state: "denied",
        decided_by: approver,
        decided_at: options.now.toISOString(),
        reason: options.reason.slice(0, 1000),
      };
      await this.#files.write(denied);
      const event = audit(denied, "approval_denied", {
        identity: approver,
        now: options.now,
        message: denied.reason,
      });
      return { ok: true, approval: denied, audit: event };
    });
  }

  /**
   * Whether the approval's decision was made by a process that could not
   * audit it (`approve`/`deny` with `unaudited`) and no gateway has audited it since.
   *
   * @param id The approval id.
   * @returns `true` until {@linkcode markAudited}.
   */
  async unaudited(id: string): Promise<boolean> {
    return await this.#files.isUnaudited(id);
  }

  /**
   * Records that the approval's decision is now in the audit log.
   *
   * @param id The approval id.
   */
  async markAudited(id: string): Promise<void> {
    await this.#files.clearUnaudited(id);
  }

  /**
   * Uses an approval for a call, once: it must be approved, unexpired,
   * unused, and bind exactly this call. Single use holds across processes
   * sharing the directory (an exclusive marker file).
   *
   * @param id The approval id from the caller's `approval_id`.
   * @param call The call being made now, and the current instant.
   * @returns The used record, or why the approval does not cover the call.
   * @throws {ApprovalStoreError} (as a rejection) When the file is corrupt.
   */
  async consume(id: string, call: ConsumeInput): Promise<ApprovalOutcome> {
    return await this.#exclusive(id, async () => {
      const { now } = call;
      const approval = await this.get(id);
      if (approval === undefined) {
        return { ok: false, code: "not_found", reason: `No approval ${JSON.stringify(id)} exists` };
      }
      const refuse = (code: ApprovalRefusalCode, reason: string) =>
        refusal(approval, { code, reason, identity: call.requester, now });
      switch (approval.state) {
        case "used":
          return refuse(
            "already_used",
            `Approval ${id} was already used at ${approval.used_at}: each approval runs one call once`,
          );
        case "expired":
          return refuse(
            "expired",
            `Approval ${id} expired at ${approval.expires}: request a new one`,
          );
        case "denied":
          return refuse(
            "not_approved",
            `Approval ${id} was denied by "${approval.decided_by}": ${
              approval.reason || "no reason given"
            }`,
          );
        case "pending":
          return refuse(
            "not_approved",
            `Approval ${id} is still pending: expected it to be approved first`,
          );
      }
      if (now.getTime() >= Date.parse(approval.expires)) return await this.#expire(approval, now);
      const diff = mismatch(approval, call) ??
        ((await computeBinding(call)) === approval.binding ? undefined : "its binding differs");
      if (diff) {
        return refuse(
          "call_mismatch",
          `Approval ${id} does not cover this call: ${diff}; a changed call needs a new approval`,
        );
      }
      if (!(await this.#files.claim(id, "used"))) {
        return refuse(
          "already_used",
          `Approval ${id} was already used: each approval runs one call once`,
        );
      }
      const used: ApprovalRecord = { ...approval, state: "used", used_at: now.toISOString() };
      await this.#files.write(used);
      return {
        ok: true,
        approval: used,
        audit: audit(used, "approval_used", { identity: call.requester, now }),
      };
    });
  }

  /**
   * Marks every pending or approved-but-unused approval past its expiry as expired.
   *
   * @param now The current instant.
   * @returns One `approval_expired` audit entry per approval expired now; corrupt files are skipped.
   */
  async sweep(now: Date): Promise<ApprovalAudit[]> {
    const events: ApprovalAudit[] = [];
    for (const id of await this.#files.ids()) {
      const outcome = await this.#exclusive(id, async () => {
        const approval = await this.#files.read(id).catch(() => undefined);
        if (
          approval === undefined || (approval.state !== "pending" && approval.state !== "approved")
        ) return;
        if (now.getTime() < Date.parse(approval.expires)) return;
        return await this.#expire(approval, now);
      });
      if (outcome?.audit) events.push(outcome.audit);
    }
    return events;
  }

  /**
   * Uses a grant signed by a gateway sharing the key, once per store: for a
   * gateway that did not see the request. Verifies it against this exact call.
   *
   * @param jws The grant (compact JWS).
   * @param call The call being made, the gateway public key (or key set) and the current instant.
   * @returns The grant's claims and `approval_used` audit data, or why the grant is refused.
   */
  async redeemGrant(
    jws: string,
    call: ConsumeInput & { publicKey: CryptoKey | JWTVerifyGetKey },
  ): Promise<
    { ok: true; grant: GrantClaims; audit: ApprovalAudit } | {
      ok: false;
      code: ApprovalRefusalCode;
      reason: string;
    }
  > {
    const verified = await verifyGrant(jws, call.publicKey, {
      binding: await computeBinding(call),
      now: call.now,
    });
    if (!verified.ok) return { ok: false, code: "bad_grant", reason: verified.reason };
    const { grant } = verified;
    return await this.#exclusive(grant.approval_id, async () => {
      if (!(await this.#files.claim(grant.approval_id, "used"))) {
        return {
          ok: false,
          code: "already_used",
          reason:
            `Approval ${grant.approval_id} was already used: each approval runs one call once`,
        };
      }
      const local = await this.#files.read(grant.approval_id).catch(() => undefined);
      if (local) {
        await this.#files.write({ ...local, state: "used", used_at: call.now.toISOString() });
      }
      const bound = boundCall(call);
      const event: ApprovalAudit = {
        event: "approval_used",
        time: call.now.toISOString(),
        identity: bound.requester,
        tool: bound.tool,
        targets: bound.targets,
        rule: grant.rule ?? local?.rule ?? "",
        detail: {
          approval_id: grant.approval_id,
          binding: grant.binding,
          decided_by: grant.approver,
          via: "grant",
        },
      };
      return { ok: true as const, grant, audit: event };
    });
  }
}
