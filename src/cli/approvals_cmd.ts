/**
 * `tailops approvals list|show|approve|deny`: decide pending approvals on
 * the gateway host, as `local:USER`. The store enforces separation of
 * duties; the running gateway audits the decisions it observes.
 *
 * @module
 */
import { type GatewayKey, loadOrCreateGatewayKey } from "../auth/gateway_key.ts";
import type { StateBackend } from "../state/mod.ts";
import { cliState, STATE_URL_FLAG } from "./cli_state.ts";
import {
  APPROVAL_STATES,
  approvalIdSchema,
  type ApprovalOutcome,
  type ApprovalRecord,
  type ApprovalState,
  ApprovalStore,
} from "../gate/approvals.ts";
import { howToApprove } from "../mcp/approval_flow.ts";
import { CliError } from "./errors.ts";
import { APPROVALS_HELP } from "./help.ts";
import {
  type Parsed,
  parseFlags,
  runSubcommand,
  stringOption,
  type Subcommand,
} from "./options.ts";
import { defaultStateDir } from "./state_dir.ts";
import { table } from "./token_cmd.ts";

const LOCAL_NAME = /^[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}$/;

/**
 * The approver's identity on the gateway host: `local:NAME` for `--as NAME`,
 * else `local:` and the login name (USER, LOGNAME, else `uidN`), as `serve`
 * names the stdio user.
 *
 * Needs `env` for USER and LOGNAME.
 *
 * @param as The `--as` value, if any.
 * @returns The identity subject.
 * @throws {CliError} When `as` is not a plain local name.
 */
export function localApprover(as: string | undefined): string {
  if (as !== undefined) {
    if (!LOCAL_NAME.test(as)) {
      throw new CliError(
        `Invalid --as ${
          JSON.stringify(as)
        }: expected a local name such as alice (the identity becomes local:alice)`,
      );
    }
    return `local:${as}`;
  }
  const user = Deno.env.get("USER") || Deno.env.get("LOGNAME") || `uid${Deno.uid() ?? ""}`;
  return `local:${user}`;
}

/**
 * The state shown to people: a pending or approved approval past its expiry is expired.
 *
 * @param approval The stored record.
 * @param now The current instant.
 * @returns The effective state.
 */
export function effectiveState(approval: ApprovalRecord, now: Date): ApprovalState {
  const live = approval.state === "pending" || approval.state === "approved";
  return live && now.getTime() >= Date.parse(approval.expires) ? "expired" : approval.state;
}

/** The approval store on the command's backend (the state dir, or the shared database). */
function storeOf(
  state: StateBackend,
  stateDir: string,
  signingKey?: GatewayKey,
): ApprovalStore {
  return new ApprovalStore({ stateDir, signingKey, records: state.approvals });
}

function stateDirOf(parsed: Parsed): string {
  return stringOption(parsed, "state-dir", "TAILOPS_STATE_DIR") ?? defaultStateDir();
}

function approvalId(parsed: Parsed, command: string, usage: string): string {
  const [id, extra] = parsed.positionals;
  if (id === undefined || extra !== undefined) {
    throw new CliError(`Usage: tailops approvals ${command} ${usage}`);
  }
  const valid = approvalIdSchema.safeParse(id);
  if (!valid.success) throw new CliError(valid.error.issues[0].message);
  return id;
}

/** Runs a store call, turning a corrupt or unreadable file into one line. */
async function guarded<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError((error as Error).message, 1);
  }
}

async function find(store: ApprovalStore, id: string, stateDir: string): Promise<ApprovalRecord> {
  const approval = await guarded(() => store.get(id));
  if (approval === undefined) {
    throw new CliError(
      `No approval ${
        JSON.stringify(id)
      } in ${stateDir}/approvals: expected an id from tailops approvals list`,
      1,
    );
  }
  return approval;
}

function publicRecord(approval: ApprovalRecord, now: Date) {
  const { grant, ...rest } = approval;
  return { ...rest, state: effectiveState(approval, now), signed_grant: grant !== undefined };
}

async function list(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    state: { type: "string" },
    json: { type: "boolean" },
    "state-dir": { type: "string" },
    ...STATE_URL_FLAG,
  });
  if (parsed.positionals.length > 0) {
    throw new CliError(
      `Unexpected argument ${
        JSON.stringify(parsed.positionals[0])
      }: approvals list takes only flags`,
    );
  }
  const state = stringOption(parsed, "state");
  if (state !== undefined && !(APPROVAL_STATES as readonly string[]).includes(state)) {
    throw new CliError(
      `Invalid --state ${JSON.stringify(state)}: expected one of ${APPROVAL_STATES.join(", ")}`,
    );
  }
  const stateDir = stateDirOf(parsed);
  const now = new Date();
  await using backend = await cliState(parsed, stateDir);
  const all = await guarded(() => storeOf(backend, stateDir).list());
  const shown = all.filter((a) => state === undefined || effectiveState(a, now) === state);
  if (parsed.values.json) {
    console.log(JSON.stringify(shown.map((a) => publicRecord(a, now)), null, 2));
    return 0;
  }
  if (shown.length === 0) {
    console.log(`No ${state ?? ""}${state ? " " : ""}approvals in ${stateDir}/approvals`);
    return 0;
  }
  console.log(table([
    ["ID", "STATE", "REQUESTER", "TOOL", "TARGETS", "EXPIRES"],
    ...shown.map((a) => [
      a.id,
      effectiveState(a, now),
      a.requester,
      a.tool,
      a.targets.join(","),
      a.expires,
    ]),
  ]));
  return 0;
}

/**
 * Renders one approval for people: what, who, where, which rule, the exact
 * plan, expiry and state, and how to decide it while pending.
 *
 * @param approval The stored record.
 * @param now The current instant.
 * @returns The text.
 */
export function formatApproval(approval: ApprovalRecord, now: Date): string {
  const state = effectiveState(approval, now);
  const lines = [
    `Approval ${approval.id}: ${state}`,
    `  Summary:    ${approval.summary}`,
    `  Requester:  ${approval.requester}`,
    `  Tool:       ${approval.tool}`,
    `  Targets:    ${approval.targets.join(", ")}`,
    `  Rule:       ${
      approval.rules
        ? Object.entries(approval.rules).map(([target, rule]) => `${rule} (${target})`).join(", ")
        : approval.rule
    }${
      approval.separation_of_duties
        ? " (separation of duties: the approver must not be the requester)"
        : approval.confirm
        ? " (confirm: the requester may approve)"
        : ""
    }`,
    `  Created:    ${approval.created}`,
    `  Expires:    ${approval.expires}`,
  ];
  if (approval.decided_by) {
    lines.push(
      `  Decided:    ${
        approval.state === "denied" ? "denied" : "approved"
      } by ${approval.decided_by} at ${approval.decided_at}`,
    );
  }
  if (approval.state === "denied") lines.push(`  Reason:     ${approval.reason || "(none given)"}`);
  if (approval.used_at) lines.push(`  Used:       ${approval.used_at}`);
  lines.push(`  Arguments:  ${JSON.stringify(approval.args)}`);
  const plan = JSON.stringify(approval.plan, null, 2).split("\n").map((l) => `    ${l}`);
  lines.push("  Plan:", ...plan);
  if (state === "pending") lines.push(howToApprove(approval));
  return lines.join("\n");
}

async function show(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    json: { type: "boolean" },
    "state-dir": { type: "string" },
    ...STATE_URL_FLAG,
  });
  const id = approvalId(parsed, "show", "ID");
  const stateDir = stateDirOf(parsed);
  await using state = await cliState(parsed, stateDir);
  const approval = await find(storeOf(state, stateDir), id, stateDir);
  const now = new Date();
  console.log(
    parsed.values.json
      ? JSON.stringify(publicRecord(approval, now), null, 2)
      : formatApproval(approval, now),
  );
  return 0;
}

function refused(outcome: ApprovalOutcome, stateDir: string): never {
  if (outcome.ok) throw new Error("unreachable");
  const reason = outcome.code === "not_found"
    ? `${outcome.reason} in ${stateDir}/approvals: expected an id from tailops approvals list`
    : outcome.reason;
  throw new CliError(reason, 1);
}

async function decide(args: string[], verdict: "approve" | "deny"): Promise<number> {
  const parsed = parseFlags(args, {
    as: { type: "string" },
    "state-dir": { type: "string" },
    ...STATE_URL_FLAG,
    ...(verdict === "deny" ? { reason: { type: "string" } } : {}),
  });
  const id = approvalId(
    parsed,
    verdict,
    verdict === "deny" ? "ID [--reason TEXT] [--as NAME]" : "ID [--as NAME]",
  );
  const approver = localApprover(stringOption(parsed, "as"));
  const stateDir = stateDirOf(parsed);
  await using state = await cliState(parsed, stateDir);
  await find(storeOf(state, stateDir), id, stateDir);
  const now = new Date();
  if (verdict === "deny") {
    const reason = stringOption(parsed, "reason") ?? "";
    const outcome = await guarded(() =>
      storeOf(state, stateDir).deny(id, approver, { reason, now, unaudited: true })
    );
    if (!outcome.ok) refused(outcome, stateDir);
    console.log(`Denied ${id} as ${approver}${reason ? `: ${reason}` : ""}`);
    return 0;
  }
  // Sign a grant as the gateway would, so a second gateway sharing the key can verify it.
  const signingKey = await guarded(() => loadOrCreateGatewayKey(stateDir));
  const outcome = await guarded(() =>
    storeOf(state, stateDir, signingKey).approve(id, approver, { now, unaudited: true })
  );
  if (!outcome.ok) refused(outcome, stateDir);
  const a = outcome.approval;
  console.log(`Approved ${id} as ${approver}`);
  console.log(
    `${a.requester} may now call ${a.tool} on ${
      a.targets.join(", ")
    } once, with approval_id "${id}", until ${a.expires}`,
  );
  return 0;
}

async function grant(args: string[]): Promise<number> {
  const parsed = parseFlags(args, { "state-dir": { type: "string" }, ...STATE_URL_FLAG });
  const id = approvalId(parsed, "grant", "ID");
  const stateDir = stateDirOf(parsed);
  await using state = await cliState(parsed, stateDir);
  const approval = await find(storeOf(state, stateDir), id, stateDir);
  if (approval.grant === undefined) {
    throw new CliError(
      `Approval ${id} has no signed grant: expected an approved approval, found state ${approval.state}`,
      1,
    );
  }
  // The grant alone on stdout, so `GRANT=$(tailops approvals grant ID)` works.
  console.log(approval.grant);
  return 0;
}

const COMMANDS: Record<string, Subcommand> = {
  list,
  show,
  grant,
  approve: (args) => decide(args, "approve"),
  deny: (args) => decide(args, "deny"),
};

/**
 * Runs `tailops approvals`.
 *
 * Needs `read` and `write` for the state directory, `env` for USER and fallbacks.
 *
 * @param args Arguments after `approvals`.
 * @returns Exit code: 0 done, 1 refused or failed.
 * @throws {CliError} On bad usage (exit 2), an unknown id or a refusal (exit 1).
 */
export async function runApprovals(args: string[]): Promise<number> {
  return await runSubcommand(args, { name: "approvals", commands: COMMANDS, help: APPROVALS_HELP });
}
