/**
 * Fixtures for the host operation tests: targets, fake command results, and
 * a runner that executes a plan's argv on this machine the way the local
 * executor would (argv only, empty environment).
 *
 * @module
 */
import { type Target, targetSchema } from "../../src/config/targets_schema.ts";
import type { CommandResult, ExecPlan, ExecResult, Plan } from "../../src/exec/plan.ts";

/**
 * A local target.
 *
 * @param roots File roots.
 * @returns The validated target.
 */
export function localTarget(roots: string[] = []): Target {
  return targetSchema.parse({
    id: "gw",
    type: "local",
    capabilities: ["system:read", "system:control", "system:admin", "file:read", "network:read"],
    files: { roots },
    constraints: { timeout_ms: 5000, output_cap_bytes: 65536 },
  });
}

/**
 * An ssh target.
 *
 * @param sudo Its sudo policy.
 * @param roots File roots.
 * @returns The validated target.
 */
export function sshTarget(sudo: unknown = "none", roots: string[] = []): Target {
  return targetSchema.parse({
    id: "web-1",
    type: "ssh",
    capabilities: ["system:read", "system:control", "system:admin", "file:read", "network:read"],
    connection: {
      host: "127.0.0.1",
      user: "ops",
      agent: "/run/agent.sock",
      host_key: `SHA256:${"a".repeat(43)}`,
    },
    files: { roots },
    sudo,
  });
}

/**
 * A command result.
 *
 * @param argv The argv.
 * @param stdout Standard output.
 * @param more Exit code, stderr and the like.
 * @returns The result.
 */
export function cmd(
  argv: string[],
  stdout: string,
  more: Partial<Omit<CommandResult, "argv" | "stdout">> = {},
): CommandResult {
  return {
    argv,
    exitCode: 0,
    signal: null,
    stdout,
    stderr: "",
    truncated: false,
    bytes: stdout.length,
    ...more,
  };
}

/**
 * An exec result.
 *
 * @param commands Command results.
 * @returns The result.
 */
export function exec(...commands: CommandResult[]): ExecResult {
  return { kind: "exec", commands };
}

/**
 * Narrows a plan to an exec plan.
 *
 * @param plan A plan.
 * @returns The plan.
 * @throws {TypeError} When it is not an exec plan.
 */
export function asExec(plan: Plan): ExecPlan {
  if (plan.kind !== "exec") throw new TypeError(`Expected an exec plan, found ${plan.kind}`);
  return plan;
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Whether a program is installed on this machine.
 *
 * @param program A bare program name.
 * @returns `true` when found on the standard PATH.
 */
export function has(program: string): boolean {
  return PATH.split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${program}`).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * Runs one argv for real, with an empty environment but PATH, as the local
 * executor does. Needs `--allow-run`.
 *
 * @param argv The argv.
 * @returns Its result.
 */
export async function runReal(argv: readonly string[]): Promise<CommandResult> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    clearEnv: true,
    env: { PATH },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return {
    argv: [...argv],
    exitCode: out.signal === null ? out.code : null,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    truncated: false,
    bytes: out.stdout.length + out.stderr.length,
  };
}

/**
 * Runs each command of an exec plan for real; `first_available` runs only the
 * first whose program exists.
 *
 * @param plan The plan.
 * @returns The exec result.
 */
export async function runPlan(plan: ExecPlan): Promise<ExecResult> {
  const commands: CommandResult[] = [];
  for (const argv of plan.commands) {
    if (plan.mode === "first_available" && !has(argv[0])) continue;
    commands.push(await runReal(argv));
    if (plan.mode === "first_available") break;
  }
  return { kind: "exec", commands };
}
