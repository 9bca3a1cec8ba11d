/**
 * `process_signal` (`process:control`, control tier): TERM, KILL, HUP, INT
 * or USR1 to one pid or to every process of one exact name, on the gateway
 * host or over SSH. The worker refuses, at the moment it sends, pid 1 and
 * the processes that run the call itself (see `SignalPlan`); the schema
 * refuses pid 0, negative pids (process groups), pid 1 and names that are
 * not a plain process name. Dry run lists what matches and the exact argv.
 * A policy rule limits `name` (or `pid`) like any parameter; a rule that
 * limits `name` refuses a call by `pid`.
 *
 * @module
 */
import { z } from "zod";
import type { Target } from "../config/targets_schema.ts";
import { MAX_SIGNALLED, type SignalPlan, type SignalResult, SIGNALS } from "../exec/plan.ts";
import { defineOperation, OperationError, targetLimits, usesSudo } from "./operation.ts";

/** The kernel's largest pid (PID_MAX_LIMIT, 2^22). */
const PID_MAX = 4_194_304;

const pidSchema = z.int({ error: "Invalid pid: expected a whole number" }).refine(
  (pid) => pid > 0,
  {
    error: "Invalid pid: 0 and negative pids address process groups; expected one process id",
  },
).refine((pid) => pid !== 1, { error: "Invalid pid: pid 1 (init) is never signalled" })
  .refine((pid) => pid <= PID_MAX, { error: `Invalid pid: expected at most ${PID_MAX}` });

/** A process name as the kernel keeps it (`comm`, at most 15 bytes), matched exactly. */
const nameSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.+@:-]{0,14}$/, {
  error:
    'Invalid name: expected an exact process name such as "nginx" (letters, digits, "_", ".", "+", "@", ":", "-"; at most 15; no patterns)',
});

const processSchema = z.object({
  pid: z.int(),
  ppid: z.int(),
  user: z.string(),
  name: z.string(),
  refused: z.string().nullable(),
  outcome: z.enum(["matched", "signalled", "gone", "failed"]),
  error: z.string().optional(),
});

const input = z.strictObject({
  signal: z.enum(SIGNALS).default("TERM"),
  pid: pidSchema.optional(),
  name: nameSchema.optional(),
}).superRefine((args, ctx) => {
  if ((args.pid === undefined) === (args.name === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["pid"],
      message: "Invalid process: expected either pid or name",
    });
  }
});

type Args = z.infer<typeof input>;

function signalResult(result: unknown): SignalResult {
  const r = result as { kind?: string };
  if (r.kind !== "signal") {
    throw new OperationError("bad_output", `Expected a signal result, found ${r.kind}`);
  }
  return result as SignalResult;
}

function signalPlan(args: Args, target: Target, send: boolean): SignalPlan {
  return {
    kind: "signal",
    signal: args.signal,
    ...(args.pid !== undefined ? { pid: args.pid } : { name: args.name }),
    send,
    sudo: usesSudo(target, "process_signal"),
    ...targetLimits(target),
  };
}

function tooMany(args: Args): OperationError {
  return new OperationError(
    "too_many",
    `More than ${MAX_SIGNALLED} processes are named ${
      JSON.stringify(args.name)
    }: nothing was sent; name one pid`,
  );
}

/** Sends a signal to a process or to the processes of one name. */
export const processSignal = defineOperation({
  name: "process_signal",
  title: "Signal processes",
  description:
    "Sends `signal` (TERM default, KILL, HUP, INT, USR1) to `pid` or to every process named exactly `name`. Never pid 1 or the processes running the call (gateway, SSH session). Returns each match with its outcome; dry run lists matches and the kill argv.",
  input,
  output: z.object({ signal: z.string(), signalled: z.int(), processes: z.array(processSchema) }),
  paramReach: {
    pid: { absent: "every process with that name" },
    name: { absent: "only the process pid names" },
  },
  capability: "process:control",
  targetTypes: ["local", "ssh"],
  mutates: true,
  destructive: true,
  programs: ["ps", "kill"],
  plan: (args, target) => signalPlan(args, target, true),
  // Dry run lists what matches, as the worker sees it at that moment.
  checkPlan: (args, target) => signalPlan(args, target, false),
  describeCheck: (outcome, args) => {
    if (!outcome.ok) return { error: outcome.error };
    const result = signalResult(outcome.result);
    if (result.tooMany) return { error: { code: "too_many", message: tooMany(args).message } };
    return {
      matched: result.processes.map(({ outcome: _, ...p }) => p),
      would_run: result.processes.flatMap((p) => p.argv ? [p.argv] : []),
    };
  },
  parse: (raw, args) => {
    const result = signalResult(raw);
    if (result.tooMany) throw tooMany(args);
    if (args.pid !== undefined) {
      const [process] = result.processes;
      if (!process) throw new OperationError("not_found", `No process has pid ${args.pid}`);
      if (process.refused !== null) {
        throw new OperationError(
          "forbidden",
          `pid ${args.pid} (${process.name}) runs this call (${process.refused}): it is never signalled`,
        );
      }
      if (process.outcome === "failed") {
        throw new OperationError("failed", `kill ${args.pid} failed: ${process.error}`);
      }
    }
    const processes = result.processes.map(({ argv: _, ...p }) => p);
    return {
      signal: args.signal,
      signalled: processes.filter((p) => p.outcome === "signalled").length,
      processes,
    };
  },
  render: (out) => {
    if (out.processes.length === 0) return `No process matched; nothing was sent`;
    return out.processes.map((p) =>
      `${p.pid} ${p.name} (${p.user}): ${
        p.refused
          ? `refused (${p.refused})`
          : p.outcome === "signalled"
          ? `sent ${out.signal}`
          : p.outcome
      }${p.error ? ` — ${p.error}` : ""}`
    ).join("\n");
  },
});
