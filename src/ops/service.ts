/**
 * systemd services: `service_status` reads a unit's state with
 * `systemctl show`; `service_control` starts, stops, restarts or reloads it.
 *
 * @module
 */
import { z } from "zod";
import type { CommandResult } from "../exec/plan.ts";
import { defineOperation, OperationError, targetLimits, usesSudo } from "./operation.ts";
import { badOutput, execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";
import { unitNameSchema } from "./_host_schemas.ts";

/** Properties asked of `systemctl show`, in one comma list (systemd ≥ 219 and older alike). */
export const SHOW_PROPERTIES = [
  "Id",
  "Description",
  "LoadState",
  "ActiveState",
  "SubState",
  "UnitFileState",
  "MainPID",
  "ActiveEnterTimestamp",
  "StateChangeTimestamp",
  "MemoryCurrent",
].join(",");

/** A unit's state as systemd reports it. */
export const serviceStateOutput = z.object({
  unit: z.string(),
  description: z.string(),
  load_state: z.string(),
  active_state: z.string(),
  sub_state: z.string(),
  enabled: z.string().nullable(),
  main_pid: z.number().nullable(),
  since: z.string().nullable(),
  memory_bytes: z.number().nullable(),
});

/** The output of `service_status`. */
export type ServiceState = z.infer<typeof serviceStateOutput>;

/**
 * The argv that reads a unit's state.
 *
 * @param unit A validated unit name.
 * @returns `systemctl show` with `--` before the unit.
 */
export function showArgv(unit: string): string[] {
  return ["systemctl", "show", "--no-pager", `--property=${SHOW_PROPERTIES}`, "--", unit];
}

/**
 * Parses `systemctl show` key=value output.
 *
 * @param cmd The `systemctl show` result.
 * @param unit The unit asked for (used when systemd omits `Id`).
 * @returns The unit's state; a unit that does not exist has load state `not-found`.
 * @throws {OperationError} `unsupported` without systemd, `bad_output` on unreadable output.
 */
export function parseShow(cmd: CommandResult, unit: string): ServiceState {
  throwCommonFailure(cmd, "systemd");
  const props = new Map<string, string>();
  for (const line of cmd.stdout.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const load = props.get("LoadState");
  if (cmd.exitCode !== 0 || !load) badOutput("systemctl show", "LoadState=... lines");
  const text = (key: string) => {
    const value = props.get(key) ?? "";
    return value === "" || value === "[not set]" ? null : value;
  };
  const pid = Number(text("MainPID") ?? "0");
  const memory = Number(text("MemoryCurrent") ?? "NaN");
  return {
    unit: text("Id") ?? unit,
    description: text("Description") ?? "",
    load_state: load,
    active_state: text("ActiveState") ?? "unknown",
    sub_state: text("SubState") ?? "unknown",
    enabled: text("UnitFileState"),
    main_pid: Number.isSafeInteger(pid) && pid > 0 ? pid : null,
    // The last state change is what "since" means for active and inactive units alike.
    since: text("StateChangeTimestamp") ?? text("ActiveEnterTimestamp"),
    // systemd prints 2^64-1 when memory accounting is off.
    memory_bytes: Number.isSafeInteger(memory) ? memory : null,
  };
}

/**
 * A one-line summary of a unit's state.
 *
 * @param s A parsed state.
 * @returns E.g. `nginx.service: active (running) since ..., enabled, pid 812`.
 */
export function renderState(s: ServiceState): string {
  if (s.load_state === "not-found") return `${s.unit}: no such unit on this host`;
  const parts = [`${s.unit}: ${s.active_state} (${s.sub_state})`];
  if (s.since) parts.push(`since ${s.since}`);
  if (s.enabled) parts.push(s.enabled);
  if (s.main_pid) parts.push(`pid ${s.main_pid}`);
  return parts.join(", ");
}

/** The state of one systemd unit. */
export const serviceStatus = defineOperation({
  name: "service_status",
  title: "Service status",
  description:
    'One systemd unit\'s load, active and sub state, description, enabled state, main pid, since when, and memory bytes. A missing unit has load_state "not-found". The name may omit ".service". unsupported without systemd.',
  input: z.strictObject({ unit: unitNameSchema }),
  output: serviceStateOutput,
  capability: "system:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["systemctl"],
  plan: (args, target) => ({
    kind: "exec",
    commands: [showArgv(args.unit)],
    mode: "all",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result, args) => parseShow(execCommands(result, 1)[0], args.unit),
  render: renderState,
});

/** What `service_control` did and the unit's state afterwards. */
export const serviceControlOutput = z.object({
  unit: z.string(),
  action: z.enum(["start", "stop", "restart", "reload"]),
  state: serviceStateOutput,
});

/**
 * Maps a failed `systemctl ACTION` to an error the model can act on.
 *
 * @param cmd The failed command.
 * @param unit The unit.
 * @throws {OperationError} Always.
 */
function throwControlFailure(cmd: CommandResult, unit: string): never {
  const err = cmd.stderr;
  if (/not found|not loaded/i.test(err)) {
    throw new OperationError("not_found", `Unit "${unit}" does not exist on this host`);
  }
  if (/Access denied|authentication required|Permission denied|password is required/i.test(err)) {
    throw new OperationError(
      "forbidden",
      `Not allowed to control "${unit}": the host refused; allow it in a polkit rule on the gateway's own host (deploy/polkit/50-tailops.rules) or a sudo rule on an SSH target (deploy/sudoers.example)`,
    );
  }
  if (/not applicable|does not support|cannot be reloaded/i.test(err)) {
    throw new OperationError("unsupported", `Unit "${unit}" does not support this action`);
  }
  throw new OperationError("failed", `systemctl failed for "${unit}": ${firstErrorLine(cmd)}`);
}

/** Start, stop, restart or reload one systemd unit. */
export const serviceControl = defineOperation({
  name: "service_control",
  title: "Control a service",
  description:
    "Starts, stops, restarts or reloads one systemd unit, waits for the job, and returns the unit's state after (as service_status). Stopping interrupts the service.",
  input: z.strictObject({
    unit: unitNameSchema,
    action: z.enum(["start", "stop", "restart", "reload"]),
  }),
  output: serviceControlOutput,
  capability: "system:control",
  targetTypes: ["local", "ssh"],
  mutates: true,
  // Any of these can interrupt service (a restart or a failed reload too); stop always does.
  destructive: true,
  programs: ["systemctl"],
  plan: (args, target) => ({
    kind: "exec",
    commands: [
      ["systemctl", "--no-ask-password", args.action, "--", args.unit],
      showArgv(args.unit),
    ],
    mode: "all",
    sudo: usesSudo(target, "service_control"),
    ...targetLimits(target),
  }),
  parse: (result, args) => {
    const [action, show] = execCommands(result, 1);
    throwCommonFailure(action, "systemd");
    if (action.exitCode !== 0) throwControlFailure(action, args.unit);
    if (!show) badOutput("systemctl show", "the unit's state after the action");
    return { unit: args.unit, action: args.action, state: parseShow(show, args.unit) };
  },
  render: (out) => `${out.action} ${out.unit}: done\n${renderState(out.state)}`,
});
