/**
 * The executor host: starts one sandboxed worker per target type, routes
 * plans to it, and supervises it (timeouts, crashes, per-target concurrency).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Registry } from "../config/registry.ts";
import type { Target } from "../config/targets_schema.ts";
import type { TargetType } from "../config/capabilities.ts";
import { createHash } from "node:crypto";
import { composeSettled, parseComposePs } from "./compose_ps.ts";
import { pullPlanFrom } from "./image_pull.ts";
import type {
  ComposeSettle,
  ExecFailure,
  ExecPlan,
  FsWritePlan,
  Plan,
  PlanResult,
  SequencePlan,
  SequenceResult,
} from "./plan.ts";
import {
  type OutputChunk,
  placeTexts,
  type WorkerRequest,
  type WorkerResponse,
} from "./protocol.ts";
import { Semaphore } from "./semaphore.ts";
import type { WorkerContext, WorkerKind } from "./worker_kind.ts";

const log = getLogger(["tailops", "exec"]);

/** What running a plan came to. */
export type ExecOutcome =
  | { readonly ok: true; readonly result: PlanResult; readonly durationMs: number }
  | { readonly ok: false; readonly error: ExecFailure; readonly durationMs: number };

/** Options for {@linkcode ExecutorHost}. */
export interface ExecutorHostOptions {
  /** The worker kinds available, one per target type. */
  kinds: readonly WorkerKind[];
  /** What the workers need to know beyond the targets. */
  context: WorkerContext;
  /** Extra time past a plan's own timeout before the host gives up on the worker. */
  watchdogGraceMs?: number;
}

/** Options of {@linkcode ExecutorHost.run}. */
export interface RunOptions {
  /** Cancels the wait or the run. */
  readonly signal?: AbortSignal;
  /** Hears the worker's steps (e.g. a Proxmox task still running). */
  readonly onProgress?: (message: string) => void;
  /** Hears an exec plan's output while it runs; the worker sends it only when this is set. */
  readonly onOutput?: (chunk: OutputChunk) => void;
}

interface Pending {
  resolve: (outcome: ExecOutcome) => void;
  onProgress?: (message: string) => void;
  onOutput?: (chunk: OutputChunk) => void;
  started: number;
  timer: ReturnType<typeof setTimeout>;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, Pending>;
  dead: boolean;
}

/** Runs plans in sandboxed workers. */
export class ExecutorHost {
  readonly #registry: Registry;
  readonly #kinds: ReadonlyMap<TargetType, WorkerKind>;
  readonly #context: WorkerContext;
  readonly #grace: number;
  readonly #slots = new Map<TargetType, Slot>();
  readonly #limits = new Map<string, Semaphore>();
  #nextId = 1;
  #closed = false;
  /** Target types whose worker failed to start on its last attempt, and why. */
  readonly #startFailures = new Map<TargetType, string>();

  /**
   * @param registry The targets the workers serve.
   * @param options Worker kinds and context.
   */
  constructor(registry: Registry, options: ExecutorHostOptions) {
    this.#registry = registry;
    this.#kinds = new Map(options.kinds.map((k) => [k.type, k]));
    this.#context = options.context;
    this.#grace = options.watchdogGraceMs ?? 5_000;
  }

  /**
   * Runs a plan on a target, waiting for a free slot under the target's
   * `concurrency` constraint first.
   *
   * @param target The target (from the registry).
   * @param plan The plan.
   * @param options Cancellation, and who hears the worker's steps and output.
   * @returns The result or a failure; never throws for executor problems.
   */
  async run(target: Target, plan: Plan, options: RunOptions = {}): Promise<ExecOutcome> {
    const started = performance.now();
    if (plan.kind === "sequence") return await this.#sequence(target, plan, started, options);
    let release: () => void;
    try {
      release = await this.#limit(target).acquire(options.signal);
    } catch {
      return fail("cancelled", "The call was cancelled before it started", started);
    }
    try {
      return await this.#dispatch(target, plan, started, options);
    } finally {
      release();
    }
  }

  /**
   * Starts the worker of each target type in the registry that is not
   * running yet, without waiting (a readiness probe's warm-up; calls start
   * workers on their own).
   */
  warm(): void {
    if (this.#closed) return;
    for (const type of new Set(this.#registry.targets.map((t) => t.type))) {
      try {
        this.#slot(type);
      } catch (error) {
        this.#startFailures.set(
          type,
          `The ${type} executor failed to start: ${(error as Error).message}`,
        );
      }
    }
  }

  /**
   * Whether no worker can start: every target type in the registry had its
   * worker fail on its last start (a refused configuration, a crash before
   * it was ready). `undefined` while any can start or none was tried.
   *
   * @returns Why, naming each type, or `undefined`.
   */
  unstartable(): string | undefined {
    const types = [...new Set(this.#registry.targets.map((t) => t.type))];
    if (types.length === 0 || !types.every((type) => this.#startFailures.has(type))) {
      return undefined;
    }
    return types.map((type) => this.#startFailures.get(type)).join("; ");
  }

  async #sequence(
    target: Target,
    plan: SequencePlan,
    started: number,
    options: RunOptions,
  ): Promise<ExecOutcome> {
    const steps: SequenceResult["steps"][number][] = [];
    let changed = false;
    for (const step of plan.steps) {
      if (step.onlyIfChanged && !changed) {
        steps.push({ skipped: true });
        continue;
      }
      const stepPlan = step.contentFrom !== undefined
        ? contentFromRead(step.plan, steps[step.contentFrom])
        : step.pullFrom
        ? pullFromInspection(step.plan, step.pullFrom, steps[step.pullFrom.step])
        : step.plan;
      if (stepPlan === null) {
        steps.push({ skipped: true });
        continue;
      }
      let outcome = "code" in stepPlan
        ? { ok: false as const, error: stepPlan, durationMs: 0 }
        : await this.run(target, stepPlan, options);
      if (step.until && !(step.until.onlyIfChanged && !changed) && !("code" in stepPlan)) {
        outcome = await this.#repeatUntilSettled(target, stepPlan, step.until, outcome, options);
      }
      if (outcome.ok) {
        if (outcome.result.kind === "fs_write" && outcome.result.changed) changed = true;
        steps.push({ ok: true, result: outcome.result });
      } else {
        steps.push({ ok: false, error: outcome.error });
        if (!plan.continueOnFailure && !step.failureReadLater) break;
      }
    }
    return {
      ok: true,
      result: { kind: "sequence", steps },
      durationMs: Math.round(performance.now() - started),
    };
  }

  /**
   * Runs a compose listing again until its services settle, the time is up,
   * it fails, or the call is cancelled; returns the last outcome.
   */
  async #repeatUntilSettled(
    target: Target,
    plan: SequencePlan["steps"][number]["plan"],
    until: ComposeSettle,
    first: ExecOutcome,
    options: { signal?: AbortSignal },
  ): Promise<ExecOutcome> {
    const deadline = performance.now() + until.withinMs;
    let outcome = first;
    while (outcome.ok && settledIn(outcome.result, until.services) === "waiting") {
      const wait = Math.min(until.everyMs, deadline - performance.now());
      if (wait <= 0 || options.signal?.aborted || this.#closed) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        function done() {
          clearTimeout(timer);
          options.signal?.removeEventListener("abort", done);
          resolve();
        }
        options.signal?.addEventListener("abort", done, { once: true });
      });
      if (options.signal?.aborted) break;
      outcome = await this.run(target, plan, options);
    }
    return outcome;
  }

  /** Stops every worker. Calls in flight fail with `cancelled`. */
  close(): void {
    this.#closed = true;
    for (const [type, slot] of this.#slots) {
      this.#kill(type, slot, "cancelled", "The gateway is shutting down");
    }
  }

  #limit(target: Target): Semaphore {
    let semaphore = this.#limits.get(target.id);
    if (!semaphore) {
      semaphore = new Semaphore(target.constraints.concurrency);
      this.#limits.set(target.id, semaphore);
    }
    return semaphore;
  }

  async #dispatch(
    target: Target,
    plan: Plan,
    started: number,
    options: RunOptions,
  ): Promise<ExecOutcome> {
    const signal = options.signal;
    if (this.#closed) return fail("cancelled", "The gateway is shutting down", started);
    const slot = this.#slot(target.type);
    if (!slot) {
      return fail("internal", `No executor is available for ${target.type} targets`, started);
    }
    try {
      await slot.ready;
    } catch (error) {
      return fail("internal", (error as Error).message, started);
    }
    if (slot.dead) return fail("crashed", "The executor stopped; try again", started);
    // Cancelled while the worker was starting: an abort listener added now
    // would never fire, and the call would run to its timeout.
    if (signal?.aborted) {
      return fail("cancelled", "The call was cancelled before it started", started);
    }
    const id = this.#nextId++;
    return await new Promise<ExecOutcome>((resolve) => {
      const onAbort = () => this.#post(slot, { type: "cancel", id });
      signal?.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(() => {
        slot.pending.delete(id);
        this.#post(slot, { type: "cancel", id });
        log.warn("Executor did not answer within {ms} ms for target {target}", {
          ms: plan.timeoutMs + this.#grace,
          target: target.id,
        });
        resolve(
          fail(
            "timeout",
            `The call took longer than ${plan.timeoutMs} ms and was stopped`,
            started,
          ),
        );
      }, plan.timeoutMs + this.#grace);
      slot.pending.set(id, {
        started,
        timer,
        onProgress: options.onProgress,
        onOutput: options.onOutput,
        resolve: (outcome) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(outcome);
        },
      });
      const stream = options.onOutput !== undefined;
      this.#post(slot, { type: "run", id, target: target.id, plan, ...(stream ? { stream } : {}) });
    });
  }

  #post(slot: Slot, message: WorkerRequest): void {
    if (!slot.dead) slot.worker.postMessage(message);
  }

  #slot(type: TargetType): Slot | undefined {
    const existing = this.#slots.get(type);
    if (existing && !existing.dead) return existing;
    const kind = this.#kinds.get(type);
    if (!kind) return undefined;
    const targets = this.#registry.targets.filter((t) => t.type === type);
    const worker = new Worker(kind.module, {
      type: "module",
      name: `tailops-${type}`,
      deno: { permissions: kind.permissions(targets, this.#context) },
    });
    const pending = new Map<number, Pending>();
    let started = false;
    let ready!: () => void;
    let refused!: (e: Error) => void;
    const slot: Slot = {
      worker,
      pending,
      dead: false,
      ready: new Promise<void>((resolve, reject) => {
        ready = resolve;
        refused = reject;
      }),
    };
    slot.ready.catch(() => {});
    worker.onmessage = (event: MessageEvent<WorkerResponse>) => {
      const message = event.data;
      if (message.type === "ready") {
        started = true;
        this.#startFailures.delete(type);
        ready();
      } else if (message.type === "config_error") {
        const why = `The ${type} executor refused its configuration: ${message.message}`;
        this.#startFailures.set(type, why);
        refused(new Error(why));
      } else if (message.type === "progress") {
        pending.get(message.id)?.onProgress?.(message.message);
      } else if (message.type === "output") {
        const { stream, bytes, skipped } = message;
        pending.get(message.id)?.onOutput?.({ stream, bytes, ...(skipped ? { skipped } : {}) });
      } else if (message.type === "log") {
        log[message.level](message.message, { worker: type, ...message.properties });
      } else if (message.type === "result") {
        const entry = pending.get(message.id);
        if (!entry) return;
        pending.delete(message.id);
        clearTimeout(entry.timer);
        const durationMs = Math.round(performance.now() - entry.started);
        if (!message.ok) return entry.resolve({ ok: false, error: message.error, durationMs });
        try {
          entry.resolve({
            ok: true,
            result: placeTexts(message.result, message.texts),
            durationMs,
          });
        } catch (error) {
          log.error("The {type} executor sent a malformed result: {error}", {
            type,
            error: String(error),
          });
          entry.resolve(
            fail("internal", `The ${type} executor sent a malformed result`, entry.started),
          );
        }
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      log.error("The {type} executor crashed: {message}", { type, message: event.message });
      if (!started) this.#startFailures.set(type, `The ${type} executor failed to start`);
      refused(new Error(`The ${type} executor failed to start`));
      this.#kill(
        type,
        slot,
        "crashed",
        "The executor crashed while running this call; it has been restarted",
      );
    };
    this.#slots.set(type, slot);
    worker.postMessage({ type: "configure", config: kind.config(targets, this.#context) });
    return slot;
  }

  #kill(type: TargetType, slot: Slot, code: ExecFailure["code"], message: string): void {
    if (slot.dead) return;
    slot.dead = true;
    slot.worker.terminate();
    if (this.#slots.get(type) === slot) this.#slots.delete(type);
    for (const [id, entry] of slot.pending) {
      slot.pending.delete(id);
      clearTimeout(entry.timer);
      entry.resolve(fail(code, message, entry.started));
    }
  }
}

/**
 * An `fs_write` plan whose content is what an earlier `fs_read` step read,
 * or why it cannot have it.
 */
function contentFromRead(
  plan: SequencePlan["steps"][number]["plan"],
  read: SequenceResult["steps"][number] | undefined,
): FsWritePlan | ExecFailure {
  if (plan.kind !== "fs_write" || !read || !("ok" in read) || !read.ok) {
    return read && "error" in read
      ? read.error
      : { code: "internal", message: "The step to take content from did not run" };
  }
  const result = read.result;
  if (result.kind !== "fs_read" || result.truncated) {
    return { code: "forbidden", message: "The content to copy is too large or not a file" };
  }
  const bytes = result.encoding === "utf-8"
    ? new TextEncoder().encode(result.content)
    : Uint8Array.from(atob(result.content), (c) => c.charCodeAt(0));
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return {
    ...plan,
    content: btoa(binary),
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}

/**
 * A compose pull step with the services the image inspection step decided
 * on appended, `null` when none is to be pulled, or why it cannot run.
 */
function pullFromInspection(
  plan: SequencePlan["steps"][number]["plan"],
  from: NonNullable<SequencePlan["steps"][number]["pullFrom"]>,
  inspected: SequenceResult["steps"][number] | undefined,
): ExecPlan | null | ExecFailure {
  if (plan.kind !== "exec") {
    return { code: "internal", message: "A pull step must run a program" };
  }
  const outcome = inspected && "ok" in inspected ? inspected : undefined;
  return pullPlanFrom(plan, from.candidates, outcome);
}

/** Whether a compose listing's containers have settled; a failed listing ends the wait. */
function settledIn(
  result: PlanResult,
  services: readonly string[],
): "settled" | "waiting" | "failed" {
  if (result.kind !== "exec" || result.commands.length !== 1) return "failed";
  const [listing] = result.commands;
  if (listing.exitCode !== 0 || listing.truncated) return "failed";
  try {
    return composeSettled(parseComposePs(listing.stdout), services) ? "settled" : "waiting";
  } catch {
    return "failed";
  }
}

function fail(code: ExecFailure["code"], message: string, started: number): ExecOutcome {
  return {
    ok: false,
    error: { code, message },
    durationMs: Math.round(performance.now() - started),
  };
}
