/**
 * Running gateways, as each records itself in `STATE/instances/CHAIN.json`
 * (one file per audit chain it holds): PID, transport, URL and audience, and
 * the policy with its roles. `token mint` reads them to mint for the running
 * gateway, and start-up errors read them to name the process in the way.
 * A record counts only while its audit chain is locked, so a gateway that
 * crashed leaves nothing that is believed.
 *
 * @module
 */
import { z } from "zod";
import { auditChainPaths } from "../audit/chains.ts";

const instanceSchema = z.object({
  pid: z.number().int().positive(),
  chain: z.number().int().positive(),
  transport: z.enum(["stdio", "http"]),
  started: z.string(),
  /** The `/mcp` URL it listens on (HTTP). */
  url: z.string().optional(),
  /** The listen address as given (HTTP), e.g. `127.0.0.1:8080`. */
  listen: z.string().optional(),
  /** The audience its gateway tokens must carry (HTTP). */
  resource: z.string().optional(),
  /** The unix socket it serves `tailscale serve` on (HTTP with Tailscale identity). */
  tailscale_socket: z.string().optional(),
  /** The policy file it loaded (`<embedded default>` for the shipped default). */
  policy_file: z.string(),
  /** The roles of the policy's identities section (empty when it has none). */
  roles: z.array(z.string()),
  /** The policy's cap on gateway token lifetimes, in seconds. */
  max_token_ttl_seconds: z.number().int().positive().optional(),
});

/** What a running gateway records about itself. */
export type Instance = z.infer<typeof instanceSchema>;

/**
 * The directory of instance records.
 *
 * @param stateDir The state directory.
 * @returns `STATE/instances`.
 */
export function instancesDir(stateDir: string): string {
  return `${stateDir}/instances`;
}

/**
 * Records this gateway (mode 0600, replaced atomically).
 *
 * Needs `write` permission for the state directory.
 *
 * @param stateDir The state directory.
 * @param instance The record; its `chain` names the file.
 */
export async function writeInstance(stateDir: string, instance: Instance): Promise<void> {
  const dir = instancesDir(stateDir);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = `${dir}/${instance.chain}.json`;
  const temp = `${file}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temp, `${JSON.stringify(instanceSchema.parse(instance))}\n`, {
    mode: 0o600,
  });
  await Deno.rename(temp, file);
}

/**
 * Removes this gateway's record; a missing one is fine.
 *
 * @param stateDir The state directory.
 * @param chain The chain the gateway holds.
 */
export function removeInstance(stateDir: string, chain: number): void {
  try {
    Deno.removeSync(`${instancesDir(stateDir)}/${chain}.json`);
  } catch {
    // Gone already, or the state directory is unusable: nothing to keep clean.
  }
}

/** Whether another process holds a chain's lock (a shared lock cannot be had). */
async function chainHeld(stateDir: string, chain: number): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(auditChainPaths(stateDir, chain).log, { read: true });
  } catch {
    return false;
  }
  try {
    if (!await file.tryLock(false)) return true;
    await file.unlock();
    return false;
  } finally {
    file.close();
  }
}

/**
 * The gateways running on a state directory now, in chain order.
 *
 * Needs `read` permission for the state directory.
 *
 * @param stateDir The state directory.
 * @returns Each live gateway's record; unreadable or stale records are skipped.
 */
export async function runningInstances(stateDir: string): Promise<Instance[]> {
  const found: Instance[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(instancesDir(stateDir)));
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!entry.isFile || !/^\d+\.json$/.test(entry.name)) continue;
    let value: unknown;
    try {
      value = JSON.parse(await Deno.readTextFile(`${instancesDir(stateDir)}/${entry.name}`));
    } catch {
      continue;
    }
    const parsed = instanceSchema.safeParse(value);
    if (parsed.success && await chainHeld(stateDir, parsed.data.chain)) found.push(parsed.data);
  }
  return found.sort((a, b) => a.chain - b.chain);
}

/**
 * Describes gateways for a one-line message, e.g. `PID 41 (http on
 * http://127.0.0.1:8080/mcp), PID 52 (stdio)`.
 *
 * @param instances Running gateways.
 * @returns The description; `unknown processes` when none recorded itself.
 */
export function describeInstances(instances: readonly Instance[]): string {
  if (instances.length === 0) return "processes that did not record themselves";
  return instances.map((i) => `PID ${i.pid} (${i.transport}${i.url ? ` on ${i.url}` : ""})`)
    .join(", ");
}
