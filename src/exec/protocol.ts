/**
 * Messages between the executor host (main thread) and executor workers.
 * Workers import this module and plan.ts, nothing else from the gateway.
 *
 * @module
 */
import type { ExecFailure, Plan, PlanResult } from "./plan.ts";

/** Host → worker. */
export type WorkerRequest =
  /** Sent once after start: per-target connection settings with secrets revealed. */
  | { readonly type: "configure"; readonly config: unknown }
  /** Run a plan on a target. */
  | { readonly type: "run"; readonly id: number; readonly target: string; readonly plan: Plan }
  /** Stop a running plan (client cancelled). */
  | { readonly type: "cancel"; readonly id: number };

/** Worker → host. */
export type WorkerResponse =
  /** Configuration accepted; the worker takes work. */
  | { readonly type: "ready" }
  /** Configuration refused; the message says why. */
  | { readonly type: "config_error"; readonly message: string }
  | {
    readonly type: "result";
    readonly id: number;
    readonly ok: true;
    readonly result: PlanResult;
  }
  | {
    readonly type: "result";
    readonly id: number;
    readonly ok: false;
    readonly error: ExecFailure;
  }
  /** A step of a long run (e.g. a Proxmox task still running), for progress notifications. */
  | { readonly type: "progress"; readonly id: number; readonly message: string }
  /** A log line for the host's logger (workers have no other output). */
  | {
    readonly type: "log";
    readonly level: "debug" | "info" | "warning" | "error";
    readonly message: string;
    readonly properties?: Readonly<Record<string, unknown>>;
  };
