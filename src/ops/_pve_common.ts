/**
 * What the Proxmox VE operations share: argument schemas (allowlists, so an
 * id can never carry a path), guest selection, and reading a proxmox result.
 *
 * @module
 */
import { z } from "zod";
import type { ProxmoxTarget, Target } from "../config/targets_schema.ts";
import { PVE_NODE_PATTERN } from "../config/targets_schema.ts";
import type {
  PlanResult,
  ProxmoxPlan,
  ProxmoxResult,
  PveGuestFilter,
  PveItem,
  PveRequest,
} from "../exec/plan.ts";
import {
  defineOperation,
  type Operation,
  OperationError,
  type OperationSpec,
  targetLimits,
} from "./operation.ts";
import type { Capability } from "../config/capabilities.ts";
import type { ParamReach } from "../gate/policy.ts";

/** A guest id: Proxmox VE allows 100 to 999999999. */
export const vmidSchema = z.int().min(100).max(999_999_999);

/** A node name. */
export const nodeSchema = z.string().regex(PVE_NODE_PATTERN, {
  error: 'Invalid node: expected a Proxmox VE node name (letters, digits, "-")',
});

/** A guest tag, as Proxmox VE allows them. */
export const tagSchema = z.string().regex(/^[a-z0-9_][a-z0-9_+.-]{0,63}$/i, {
  error: 'Invalid tag: expected letters, digits, "_", "+", "." or "-"',
});

/** A storage id (`pve-storage-id`). */
export const storageSchema = z.string().regex(/^[a-z][a-z0-9._-]{0,98}[a-z0-9]$/i, {
  error: 'Invalid storage: expected a storage id such as "local" or "pbs-main"',
});

/** A snapshot name (`pve-configid`, at most 40 characters). */
export const snapnameSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{1,39}$/, {
  error:
    'Invalid snapname: expected a letter, then letters, digits, "_" or "-" (2 to 40 characters)',
}).refine((name) => name !== "current", {
  error: 'Invalid snapname: "current" names the running state',
});

/** Up to 16 guest tags: guests carrying at least one of them. */
export const tagsSchema = z.array(tagSchema).min(1).max(16);

/**
 * Guest selection: one `vmid`, or every guest carrying one of `tags`; `node`
 * narrows. Each tool's description says so, so the fields carry no words of
 * their own (they would be repeated in eight tools).
 */
export const guestSelection = {
  vmid: vmidSchema.optional(),
  tags: tagsSchema.optional(),
  node: nodeSchema.optional(),
};

/** Whether to wait for each task the call starts. */
const waitSchema = z.boolean().default(true);

/** How a guest is named in every output: id, name, node, kind. */
export const guestRefShape = {
  vmid: z.int(),
  name: z.string(),
  node: z.string(),
  type: z.enum(["qemu", "lxc"]),
};

/**
 * Checks that exactly one of `vmid` and `tags` is given (a zod `superRefine`).
 *
 * @param args The parsed arguments.
 * @param ctx Where the issue goes.
 */
export function oneSelection(args: { vmid?: number; tags?: string[] }, ctx: z.RefinementCtx) {
  if ((args.vmid === undefined) === (args.tags === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["vmid"],
      message: "Invalid guest selection: expected either vmid or tags",
    });
  }
}

/** What leaving out a selection parameter means. */
export const SELECTION_REACH: Readonly<Record<string, ParamReach>> = {
  vmid: { absent: "every guest the tags select" },
  tags: { absent: "only the guest named by vmid" },
  node: { absent: "the guest's node, whichever it is" },
};

/**
 * The filter a selection means.
 *
 * @param args `vmid`, `tags` and `node`, as given.
 * @param type Only guests of this kind.
 * @returns The filter for the plan.
 */
export function guestFilter(
  args: { vmid?: number; tags?: string[]; node?: string },
  type?: "qemu" | "lxc",
): PveGuestFilter {
  return {
    ...(args.vmid !== undefined ? { vmids: [args.vmid] } : {}),
    ...(args.tags ? { tags: args.tags } : {}),
    ...(args.node ? { node: args.node } : {}),
    ...(type ? { type } : {}),
  };
}

/**
 * The target as a proxmox target.
 *
 * @param target The target.
 * @param operation The operation's name, for the message.
 * @returns The same target, typed.
 * @throws {OperationError} `wrong_target` for any other type.
 */
export function proxmoxTarget(target: Target, operation: string): ProxmoxTarget {
  if (target.type !== "proxmox") {
    throw new OperationError(
      "wrong_target",
      `${operation} runs on proxmox targets, found a ${target.type} target`,
    );
  }
  return target;
}

/**
 * A plan for a proxmox target, with the target's limits.
 *
 * @param target The target.
 * @param operation The operation's name, for the message.
 * @param parts The requests, the guest filter and the storage.
 * @returns The plan.
 * @throws {OperationError} `wrong_target` for any other type.
 */
export function pvePlan(
  target: Target,
  operation: string,
  parts: PveSend,
): ProxmoxPlan {
  proxmoxTarget(target, operation);
  return { kind: "proxmox", ...parts, ...targetLimits(target) };
}

/**
 * The result as a proxmox result.
 *
 * @param result The executor's result.
 * @returns The same result, typed.
 * @throws {OperationError} `bad_output` for any other kind.
 */
export function pveResult(result: PlanResult): ProxmoxResult {
  if (result.kind !== "proxmox") {
    throw new OperationError("bad_output", `Expected a proxmox result, found ${result.kind}`);
  }
  return result;
}

/**
 * The items answering one request, each failure thrown when `strict`.
 *
 * @param result The proxmox result.
 * @param request The request's index in the plan.
 * @param strict Throw the first failed item.
 * @returns The items, in order.
 * @throws {OperationError} `api_error` naming the request and the API's message.
 */
export function itemsOf(result: ProxmoxResult, request: number, strict = true): PveItem[] {
  const items = result.items.filter((item) => item.request === request);
  const failed = items.find((item) => item.error !== null);
  if (strict && failed) {
    throw new OperationError("api_error", `${failed.sent} failed: ${failed.error}`);
  }
  return items;
}

/** A task's outcome, as reported per guest. */
export const taskSchema = z.object({
  upid: z.string(),
  status: z.string().describe('"running" when the wait ran out of time, else "stopped"'),
  exitstatus: z.string().nullable().describe('"OK" when it succeeded'),
});

/** One guest's outcome in a control, snapshot or backup call. */
export const guestOutcomeSchema = z.object({
  ...guestRefShape,
  request: z.string().describe("The exact API request sent"),
  outcome: z.enum(["done", "running", "failed"]),
  error: z.string().nullable(),
  task: taskSchema.optional(),
});

/** One guest's outcome. */
export type GuestOutcome = z.infer<typeof guestOutcomeSchema>;

/**
 * Turns each guest's item into an outcome: failed when the request or its task failed.
 *
 * @param items The items of one each-guest request.
 * @returns One outcome per guest.
 */
export function guestOutcomes(items: readonly PveItem[]): GuestOutcome[] {
  return items.filter((item) => item.guest).map((item) => {
    const g = item.guest!;
    const taskFailed = item.task?.status === "stopped" && item.task.exitstatus !== "OK" &&
      !item.task.exitstatus?.startsWith("WARNINGS");
    const outcome = item.error !== null || taskFailed
      ? "failed"
      : item.task?.status === "running"
      ? "running"
      : "done";
    return {
      vmid: g.vmid,
      name: g.name,
      node: g.node,
      type: g.type,
      request: item.sent,
      outcome,
      error: item.error ?? (taskFailed ? `The task ended with: ${item.task!.exitstatus}` : null),
      ...(item.task ? { task: item.task } : {}),
    };
  });
}

/** Output of the guest-changing operations. */
export const guestOutcomesOutput = z.object({
  guests: z.array(guestOutcomeSchema),
  failed: z.int(),
});

/**
 * Outcomes per guest; a single-guest call that failed is thrown, so the target's result says
 * `failed` with the API's message.
 *
 * @param result The executor's result.
 * @param args The call's arguments (`vmid` when it named one guest).
 * @returns The outcomes and how many failed.
 * @throws {OperationError} `api_error` when the call named one guest and it failed.
 */
export function outcomesOutput(
  result: PlanResult,
  args: { vmid?: number },
): z.infer<typeof guestOutcomesOutput> {
  const guests = guestOutcomes(itemsOf(pveResult(result), 0, false));
  const failed = guests.filter((g) => g.outcome === "failed");
  if (args.vmid !== undefined && failed.length > 0) {
    throw new OperationError("api_error", `${failed[0].request} failed: ${failed[0].error}`);
  }
  return { guests, failed: failed.length };
}

/**
 * A line per guest outcome.
 *
 * @param output The outcomes.
 * @returns The text.
 */
export function renderOutcomes(output: z.infer<typeof guestOutcomesOutput>): string {
  return output.guests.map((g) =>
    `${g.vmid} ${g.name} (${g.type} on ${g.node}): ${g.outcome}${g.error ? ` — ${g.error}` : ""}${
      g.task && g.outcome !== "failed" ? ` [${g.task.exitstatus ?? g.task.status}]` : ""
    }`
  ).join("\n");
}

/**
 * A number from the API, or `null`.
 *
 * @param value Any value.
 * @returns The number when it is a finite one.
 */
export function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * A string from the API, or `null`.
 *
 * @param value Any value.
 * @returns The string when it is one.
 */
export function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/**
 * The numbers an API object holds under `keys`, each `null` when absent.
 *
 * @param data An object from the API.
 * @param keys The keys to read.
 * @returns `{ key: number | null }` for each key.
 */
export function numbers<K extends string>(
  data: Record<string, unknown>,
  keys: readonly K[],
): Record<K, number | null> {
  return Object.fromEntries(keys.map((key) => [key, num(data[key])])) as Record<K, number | null>;
}

/**
 * Schemas of numbers the API may leave out, one per key (the output side of
 * {@linkcode numbers}).
 *
 * @param keys The keys.
 * @returns `{ key: number | null }` schemas.
 */
export function nullableNumbers<K extends string>(
  keys: readonly K[],
): Record<K, z.ZodNullable<z.ZodNumber>> {
  return Object.fromEntries(keys.map((key) => [key, z.number().nullable()])) as Record<
    K,
    z.ZodNullable<z.ZodNumber>
  >;
}

/** The requests, guest filter and storage of a proxmox plan (its limits come from the target). */
export type PveSend = Omit<ProxmoxPlan, "kind" | "timeoutMs" | "outputCapBytes">;

/** A Proxmox VE operation: an operation spec whose plan is what `send` says. */
export type PveSpec<I extends z.ZodObject, O extends z.ZodType> =
  & Omit<OperationSpec<I, O>, "targetTypes" | "programs" | "plan">
  & {
    /** The API requests a call sends. Pure. */
    readonly send: (args: z.infer<I>) => PveSend;
  };

/**
 * Declares a Proxmox VE operation: runs on proxmox targets, through the API
 * only (no programs), its plan the target's limits around what `send` says.
 *
 * @param spec The declaration.
 * @returns The frozen operation.
 */
export function definePveOperation<I extends z.ZodObject, O extends z.ZodType>(
  spec: PveSpec<I, O>,
): Operation<I, O> {
  const { send, ...rest } = spec;
  return defineOperation({
    ...rest,
    targetTypes: ["proxmox"],
    programs: [],
    plan: (args, target) => pvePlan(target, spec.name, send(args)),
  });
}

/** A guest-changing call: one request per selected guest, an outcome per guest. */
export interface GuestActionSpec<S extends z.ZodRawShape> {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly capability: Capability;
  readonly destructive: boolean;
  /** One `vmid` (required) instead of a selection by `vmid` or `tags`. */
  readonly single?: boolean;
  /** Parameters besides the selection and `wait`. */
  readonly params: S;
  /** What leaving out an optional parameter of `params` means. */
  readonly paramReach?: Readonly<Record<string, ParamReach>>;
  /** The request sent for each guest (`each` and `wait` are added). Pure. */
  readonly request: (args: z.infer<z.ZodObject<S>>) => Omit<PveRequest, "each" | "wait">;
}

/**
 * Declares a guest-changing operation (power control, snapshots, backups):
 * the selection, `wait`, the per-guest request, and outcomes per guest.
 *
 * @param spec The declaration.
 * @returns The frozen operation.
 */
export function defineGuestAction<S extends z.ZodRawShape>(
  spec: GuestActionSpec<S>,
): Operation<z.ZodObject, typeof guestOutcomesOutput> {
  const selection = spec.single ? { vmid: vmidSchema, node: guestSelection.node } : guestSelection;
  const shape = { ...selection, ...spec.params, wait: waitSchema };
  const input = spec.single
    ? z.strictObject(shape)
    : z.strictObject(shape).superRefine((args, ctx) => oneSelection(args as SelectionArgs, ctx));
  type Args = SelectionArgs & { wait: boolean } & z.infer<z.ZodObject<S>>;
  return definePveOperation({
    name: spec.name,
    title: spec.title,
    description: spec.description,
    input: input as unknown as z.ZodObject,
    output: guestOutcomesOutput,
    paramReach: spec.single
      ? { node: SELECTION_REACH.node, ...spec.paramReach }
      : { ...SELECTION_REACH, ...spec.paramReach },
    capability: spec.capability,
    mutates: true,
    destructive: spec.destructive,
    send: (raw) => {
      const args = raw as Args;
      return {
        guests: guestFilter(args),
        requests: [{ ...spec.request(args), each: "guest", wait: args.wait }],
      };
    },
    parse: (result, args) => outcomesOutput(result, args as SelectionArgs),
    render: renderOutcomes,
  });
}

type SelectionArgs = { vmid?: number; tags?: string[]; node?: string };
