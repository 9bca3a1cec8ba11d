/**
 * The local executor worker. Created by the executor host with `run` for the
 * catalog's programs (absolute paths) and `read` for the allowed file roots;
 * every other permission is denied. Subprocesses get a cleared environment.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { LocalWorkerConfig } from "../local_kind.ts";
import {
  type CommandResult,
  type ExecFailure,
  type ExecPlan,
  type FsListPlan,
  type FsReadPlan,
  type FsWritePlan,
  isUnderRoots,
  type PlanResult,
  type SignalPlan,
} from "../plan.ts";
import {
  type ResultText,
  textBuffers,
  TRANSFER_TEXT_MIN,
  type WorkerRequest,
  type WorkerResponse,
} from "../protocol.ts";
import { decodeText, readCapped } from "./_capped.ts";
import { FsFailure, listDirectoryRaceFree, readFileRaceFree } from "./_local_fs.ts";
import { writeFileRaceFree } from "./_local_fs_write.ts";
import { signalLocally } from "./_local_signal.ts";
import { OutputTap } from "./_output_tap.ts";

/** Grace between SIGTERM and SIGKILL when a program overruns its timeout. */
const KILL_GRACE_MS = 2_000;

class Failure extends Error {
  constructor(readonly failure: ExecFailure) {
    super(failure.message);
  }
}

let config: LocalWorkerConfig | undefined;
const running = new Map<number, AbortController>();

function send(message: WorkerResponse): void {
  self.postMessage(message);
}

/** Long outputs leave as bytes (see `ResultText`); each command's place in the result. */
interface Texts {
  readonly list: ResultText[];
  readonly index: number;
}

/** The text, or `""` with its bytes noted for transfer when it is long. */
function textOrTransfer(
  bytes: Uint8Array,
  texts: Texts | undefined,
  field: "stdout" | "stderr",
): string {
  if (!texts || bytes.length < TRANSFER_TEXT_MIN) return decodeText(bytes);
  texts.list.push({ path: ["commands", texts.index, field], bytes });
  return "";
}

async function runCommand(
  argv: readonly string[],
  plan: ExecPlan,
  // Without `texts`, output stays a string (the worker reads it itself).
  context: { deadline: number; signal: AbortSignal; texts?: Texts; output?: OutputTap },
): Promise<CommandResult> {
  const { deadline, signal } = context;
  const path = config!.programs[argv[0]];
  if (!path) {
    throw new Failure({
      code: "program_missing",
      message: `${argv[0]} is not installed on this host`,
    });
  }
  const child = new Deno.Command(path, {
    args: argv.slice(1) as string[],
    clearEnv: true,
    env: config!.env as Record<string, string>,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  let cancelled = false;
  const stop = (why: "timeout" | "cancel") => {
    if (why === "timeout") timedOut = true;
    else cancelled = true;
    try {
      child.kill("SIGTERM");
      setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already exited.
        }
      }, KILL_GRACE_MS);
    } catch {
      // Already exited.
    }
  };
  const timer = setTimeout(() => stop("timeout"), Math.max(0, deadline - Date.now()));
  const onAbort = () => stop("cancel");
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const [stdout, stderr, status] = await Promise.all([
      readCapped(child.stdout, plan.outputCapBytes, tapOf(context.output, "stdout")),
      readCapped(child.stderr, plan.outputCapBytes, tapOf(context.output, "stderr")),
      child.status,
    ]);
    if (timedOut) {
      throw new Failure({
        code: "timeout",
        message: `${argv[0]} ran past the ${plan.timeoutMs} ms timeout and was killed`,
      });
    }
    if (cancelled) throw new Failure({ code: "cancelled", message: "The call was cancelled" });
    return {
      argv,
      exitCode: status.signal === null ? status.code : null,
      signal: status.signal,
      stdout: textOrTransfer(stdout.bytes, context.texts, "stdout"),
      stderr: textOrTransfer(stderr.bytes, context.texts, "stderr"),
      truncated: stdout.truncated || stderr.truncated,
      bytes: stdout.total + stderr.total,
    };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

function tapOf(
  output: OutputTap | undefined,
  stream: "stdout" | "stderr",
): ((bytes: Uint8Array) => void) | undefined {
  return output && ((bytes) => output.push(stream, bytes));
}

async function runExec(
  plan: ExecPlan,
  signal: AbortSignal,
  run: { texts: ResultText[]; output?: OutputTap },
): Promise<PlanResult> {
  const { texts, output } = run;
  const deadline = Date.now() + plan.timeoutMs;
  const context = (index: number) => ({ deadline, signal, texts: { list: texts, index }, output });
  if (plan.mode === "first_available") {
    let argv: readonly string[] | undefined;
    for (const [index, cmd] of plan.commands.entries()) {
      const probe = plan.probes?.[index];
      if (!config!.programs[(probe ?? cmd)[0]]) continue;
      // A probe (the compose plugin under `docker compose version`) must succeed.
      if (probe && (await runCommand(probe, plan, context(0))).exitCode !== 0) continue;
      argv = cmd;
      break;
    }
    if (!argv) {
      const names = plan.commands.map((cmd) => cmd[0]);
      throw new Failure({
        code: "program_missing",
        message: plan.noneMessage ?? `None of ${names.join(", ")} is installed on this host`,
      });
    }
    return { kind: "exec", commands: [await runCommand(argv, plan, context(0))] };
  }
  const commands: CommandResult[] = [];
  for (const argv of plan.commands) {
    const result = await runCommand(argv, plan, context(commands.length));
    commands.push(result);
    if (plan.stopOnFailure && result.exitCode !== 0) break;
  }
  return { kind: "exec", commands };
}

async function runSignal(plan: SignalPlan, signal: AbortSignal): Promise<PlanResult> {
  const deadline = Date.now() + plan.timeoutMs;
  // The process list stays in the worker (only matches leave it): a cap of its own.
  const limits = {
    ...plan,
    kind: "exec",
    commands: [],
    mode: "all",
    outputCapBytes: 4 << 20,
  } as const;
  const outcome = await signalLocally(
    plan,
    (argv) => runCommand(argv, limits, { deadline, signal }),
  );
  if ("psFailed" in outcome) {
    const ps = outcome.psFailed;
    throw new Failure({
      code: "bad_response",
      message: `ps could not list the processes: ${
        ps.truncated
          ? "its output was cut"
          : ps.stderr.trim().split("\n")[0] || `exit ${ps.exitCode}`
      }`,
    });
  }
  return outcome;
}

function checkPlanRoots(plan: FsReadPlan | FsListPlan | FsWritePlan): void {
  if (!isUnderRoots(plan.path, plan.roots)) {
    throw new Failure({ code: "forbidden", message: `${plan.path} is outside the allowed roots` });
  }
}

function toFailure(error: unknown): ExecFailure {
  if (error instanceof Failure || error instanceof FsFailure) return error.failure;
  const errno = (error as { code?: unknown }).code;
  if (error instanceof Deno.errors.NotFound || errno === "ENOENT") {
    return { code: "not_found", message: "The path does not exist" };
  }
  // node:fs errors from the file code: a name swapped for a symlink (ELOOP), a socket or a
  // device without a driver (ENXIO), or the OS refusing access.
  if (errno === "ELOOP" || errno === "ENXIO" || errno === "EACCES" || errno === "EPERM") {
    return { code: "forbidden", message: "Access to the path is not allowed" };
  }
  if (errno === "ENOTDIR") return { code: "forbidden", message: "The path is not a directory" };
  // A write whose names were swapped under it (a racer inside the write root).
  if (["EEXIST", "EISDIR", "ENOTEMPTY", "EXDEV", "EBUSY"].includes(String(errno))) {
    return { code: "forbidden", message: "The path changed while it was being written" };
  }
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return { code: "forbidden", message: "Access to the path is not allowed" };
  }
  if (error instanceof Deno.errors.IsADirectory) {
    return { code: "forbidden", message: "The path is a directory" };
  }
  if (error instanceof Deno.errors.NotADirectory) {
    return { code: "forbidden", message: "The path is not a directory" };
  }
  send({
    type: "log",
    level: "error",
    message: "Local executor error",
    properties: { error: String(error) },
  });
  return { code: "internal", message: "The local executor failed; see the gateway log" };
}

async function run(id: number, request: Extract<WorkerRequest, { type: "run" }>): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  // Output messages go out before the result, whatever it is.
  const output = request.stream
    ? new OutputTap(id, (message, transfer) => self.postMessage(message, transfer))
    : undefined;
  try {
    const plan = request.plan;
    let result: PlanResult;
    const texts: ResultText[] = [];
    if (plan.kind === "exec") result = await runExec(plan, controller.signal, { texts, output });
    else if (plan.kind === "fs_read") {
      checkPlanRoots(plan);
      result = await readFileRaceFree(plan, config!);
    } else if (plan.kind === "fs_list") {
      checkPlanRoots(plan);
      result = await listDirectoryRaceFree(plan, config!);
    } else if (plan.kind === "fs_write") {
      checkPlanRoots(plan);
      result = await writeFileRaceFree(plan, config!);
    } else if (plan.kind === "signal") {
      result = await runSignal(plan, controller.signal);
    } else {throw new Failure({
        code: "internal",
        message: `The local executor cannot run ${plan.kind} plans`,
      });}
    const message: WorkerResponse = { type: "result", id, ok: true, result, texts };
    output?.close();
    self.postMessage(message, textBuffers(texts));
  } catch (error) {
    output?.close();
    send({ type: "result", id, ok: false, error: toFailure(error) });
  } finally {
    running.delete(id);
  }
}

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const message = event.data;
  if (message.type === "configure") {
    config = message.config as LocalWorkerConfig;
    send({ type: "ready" });
  } else if (message.type === "run") {
    void run(message.id, message);
  } else if (message.type === "cancel") {
    running.get(message.id)?.abort();
  }
};
