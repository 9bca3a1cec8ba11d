/**
 * The SSH executor worker. Created with `net` for the SSH targets' `host:port`
 * only (plus an agent socket when configured); it receives connection
 * settings with secrets by message and runs exec and file plans over pooled
 * ssh2 connections, one exec request per remote command.
 *
 * @module
 */
import type { Duplex } from "node:stream";
// @ts-types="@types/ssh2"
import type { Client, ClientChannel } from "ssh2";
import { type ExecPlan, type Plan, type PlanResult, sudoFor } from "../plan.ts";
import {
  type ResultText,
  textBuffers,
  type WorkerRequest,
  type WorkerResponse,
} from "../protocol.ts";
import {
  commandLine,
  firstAvailableScript,
  runsAsOneScript,
  sequenceScript,
} from "../ssh_command_line.ts";
import { readFirstAvailable, splitSequence, toCommandResult } from "./_ssh_commands.ts";
import { checkSshConfig, type SshTargetConfig } from "./_ssh_config.ts";
import { addressOf, connect, forgetParsed, prepare } from "./_ssh_connect.ts";
import { SshError } from "./_ssh_errors.ts";
import { runCommand } from "./_ssh_exec.ts";
import { parseSignalRun, signalScript } from "./_ssh_signal.ts";
import { fsListScript, fsReadScript, parseFsList, parseFsRead } from "./_ssh_fs.ts";
import { checkSudoRun, fileScriptLine, fsWriteScript, parseFsWrite } from "./_ssh_fs_write.ts";
import { ConnectionPool } from "./_ssh_pool.ts";
import { OutputTap } from "./_output_tap.ts";

/** Room for the real path and size a file read prints before the content. */
const READ_HEADER_BYTES = 8192;

const scope = self as unknown as {
  postMessage(message: WorkerResponse, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
};

let targets = new Map<string, SshTargetConfig>();
const pools = new Map<string, ConnectionPool>();
const running = new Map<number, AbortController>();

function log(
  level: "debug" | "info" | "warning" | "error",
  message: string,
  properties?: Record<string, unknown>,
) {
  scope.postMessage({ type: "log", level, message, properties });
}

function forwardOut(client: Client, host: string, port: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.forwardOut(
        "127.0.0.1",
        0,
        host,
        port,
        (error, stream) => error ? reject(error) : resolve(stream),
      );
    } catch (error) {
      reject(error);
    }
  });
}

function poolFor(target: SshTargetConfig): ConnectionPool {
  let pool = pools.get(target.id);
  if (pool) return pool;
  const prepared = prepare(target);
  const via = target.via === undefined ? undefined : targets.get(target.via);
  pool = new ConnectionPool({
    maxChannels: target.maxChannels,
    idleCloseMs: target.idleCloseMs,
    connect: () =>
      connect(target, {
        prepared,
        tunnel: via ? async () => await tunnelThrough(via, target) : undefined,
      }),
    log: (message, properties) => log("debug", message, { target: target.id, ...properties }),
  });
  pools.set(target.id, pool);
  return pool;
}

async function tunnelThrough(via: SshTargetConfig, target: SshTargetConfig): Promise<Duplex> {
  try {
    return await poolFor(via).open(
      (client) => forwardOut(client, target.host, target.port),
      undefined,
      { stuckAfter: false },
    );
  } catch (error) {
    if (error instanceof SshError) throw error;
    throw new SshError(
      "unreachable",
      `Cannot reach ${addressOf(target)} through jump host ${JSON.stringify(via.id)}`,
      {
        detail: (error as Error).message,
      },
    );
  }
}

/** Runs whose output goes to the host as it comes (see `OutputTap`). */
interface Run {
  readonly signal: AbortSignal;
  readonly texts: ResultText[];
  readonly output?: OutputTap;
}

async function runExec(
  target: SshTargetConfig,
  plan: ExecPlan,
  run: Run,
): Promise<PlanResult> {
  const { signal } = run;
  const pool = poolFor(target);
  const onOutput = run.output &&
    ((stream: "stdout" | "stderr", bytes: Uint8Array) => run.output!.push(stream, bytes));
  const options = { capBytes: plan.outputCapBytes, signal, address: addressOf(target), onOutput };
  const context = (index: number) => ({
    target: target.id,
    sudo: plan.sudo,
    texts: { list: run.texts, index },
  });
  if (plan.mode === "first_available") {
    const raw = await runCommand(
      pool,
      firstAvailableScript(plan.commands, plan.sudo, plan.probes),
      options,
    );
    const { index, run: ran } = readFirstAvailable(raw);
    if (index === null) {
      const names = [...new Set(plan.commands.map((argv) => argv[0]))].join(", ");
      throw new SshError(
        "program_missing",
        plan.noneMessage ??
          `Cannot run on ${JSON.stringify(target.id)}: none of ${names} is installed`,
      );
    }
    return { kind: "exec", commands: [toCommandResult(plan.commands[index], ran, context(0))] };
  }
  if (runsAsOneScript(plan)) {
    // One channel for all of them (system_status: 3 execs became 1), never run twice.
    const boundary = crypto.randomUUID().replaceAll("-", "");
    const script = sequenceScript(plan, boundary);
    const capBytes = (plan.outputCapBytes + 128) * plan.commands.length;
    // Not streamed: the output interleaves the boundary markers.
    const raw = await runCommand(pool, script, { ...options, capBytes, onOutput: undefined });
    const runs = splitSequence(raw, plan.commands.length, {
      boundary,
      capBytes: plan.outputCapBytes,
    });
    return {
      kind: "exec",
      commands: runs.map((ran, i) =>
        toCommandResult(plan.commands[i], ran, { ...context(i), sudo: sudoFor(plan, i) })
      ),
    };
  }
  const commands = [];
  for (const [index, argv] of plan.commands.entries()) {
    const sudo = sudoFor(plan, index);
    const ran = await runCommand(pool, commandLine(argv, sudo), options);
    const result = toCommandResult(argv, ran, { ...context(commands.length), sudo });
    commands.push(result);
    if (plan.stopOnFailure && result.exitCode !== 0) break;
  }
  return { kind: "exec", commands };
}

async function execute(
  target: SshTargetConfig,
  plan: Plan,
  run: Run,
): Promise<PlanResult> {
  const { signal } = run;
  const address = addressOf(target);
  switch (plan.kind) {
    case "exec":
      return await runExec(target, plan, run);
    case "fs_read": {
      const options = { capBytes: plan.outputCapBytes + READ_HEADER_BYTES, signal, address };
      const line = fileScriptLine(fsReadScript(plan), plan.sudo);
      const raw = await runCommand(poolFor(target), line, options);
      if (plan.sudo) checkSudoRun(raw, plan.path);
      return parseFsRead(plan, raw);
    }
    case "fs_list": {
      const options = { capBytes: plan.outputCapBytes, signal, address };
      return parseFsList(plan, await runCommand(poolFor(target), fsListScript(plan), options));
    }
    case "fs_write": {
      const content = Uint8Array.from(atob(plan.content), (c) => c.charCodeAt(0));
      const nonce = crypto.randomUUID().replaceAll("-", "");
      const options = { capBytes: 64 * 1024, signal, address, stdin: content };
      const line = fileScriptLine(fsWriteScript(plan, content.length, nonce), plan.sudo);
      const raw = await runCommand(poolFor(target), line, options);
      if (plan.sudo) checkSudoRun(raw, plan.path);
      return parseFsWrite(plan, content.length, raw);
    }
    case "signal": {
      const options = { capBytes: 256 * 1024, signal, address };
      const raw = await runCommand(poolFor(target), signalScript(plan), options);
      return parseSignalRun(raw, plan, target.id);
    }
    default:
      throw new SshError(
        "internal",
        `Cannot run a ${plan.kind} plan: expected exec, fs_read, fs_list, fs_write or signal`,
      );
  }
}

function toSshError(error: unknown, target: SshTargetConfig): SshError {
  if (error instanceof SshError) return error;
  const message = (error as Error)?.message ?? String(error);
  const at = addressOf(target);
  if (/Channel open failure/.test(message)) {
    return new SshError("unreachable", `Cannot open a session on ${at}: the server refused it`, {
      detail: message,
    });
  }
  if (/Not connected|No response|closed channel|ECONNRESET|EPIPE/.test(message)) {
    return new SshError("unreachable", `The connection to ${at} was lost`, { detail: message });
  }
  if (/Unable to exec/.test(message)) {
    return new SshError(
      "bad_response",
      `Cannot start the command on ${at}: the server refused the exec request`,
      {
        detail: message,
      },
    );
  }
  return new SshError("internal", `The SSH call to ${at} failed unexpectedly`, { detail: message });
}

async function run(id: number, targetId: string, plan: Plan, stream = false): Promise<void> {
  const target = targets.get(targetId);
  if (!target) {
    const message = `Cannot run on target ${
      JSON.stringify(targetId)
    }: expected an ssh target known to this executor`;
    scope.postMessage({ type: "result", id, ok: false, error: { code: "internal", message } });
    return;
  }
  const controller = new AbortController();
  running.set(id, controller);
  const timer = setTimeout(() => {
    controller.abort(
      new SshError("timeout", `The call took longer than ${plan.timeoutMs} ms and was stopped`),
    );
  }, plan.timeoutMs);
  // The marker of a first_available script is ours, not the command's output.
  const firstAvailable = plan.kind === "exec" && plan.mode === "first_available";
  const output = stream
    ? new OutputTap(
      id,
      (message, transfer) => scope.postMessage(message, transfer),
      firstAvailable ? { hideFirstStderrLine: /^tailops:\d+$/ } : {},
    )
    : undefined;
  try {
    const texts: ResultText[] = [];
    const result = await execute(target, plan, { signal: controller.signal, texts, output });
    output?.close();
    scope.postMessage({ type: "result", id, ok: true, result, texts }, textBuffers(texts));
  } catch (raw) {
    output?.close();
    const error = toSshError(raw, target);
    if (error.detail) {
      log("warning", "SSH call failed: {detail}", {
        target: target.id,
        code: error.code,
        detail: error.detail,
      });
    }
    scope.postMessage({ type: "result", id, ok: false, error: error.toFailure() });
  } finally {
    clearTimeout(timer);
    running.delete(id);
  }
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === "configure") {
    try {
      const config = checkSshConfig(message.config);
      for (const pool of pools.values()) pool.close();
      pools.clear();
      forgetParsed();
      targets = new Map(config.targets.map((t) => [t.id, t]));
      scope.postMessage({ type: "ready" });
    } catch (error) {
      scope.postMessage({ type: "config_error", message: (error as Error).message });
    }
  } else if (message.type === "run") {
    void run(message.id, message.target, message.plan, message.stream === true);
  } else if (message.type === "cancel") {
    running.get(message.id)?.abort(new SshError("cancelled", "The call was cancelled"));
  }
};
