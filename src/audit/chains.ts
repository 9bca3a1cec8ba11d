/**
 * Several gateways on one state directory: each writes its own hash chain.
 * Chain 1 is `STATE/audit.jsonl` (where a single gateway has always written),
 * chain N ≥ 2 is `STATE/audit.N.jsonl`, each with its anchor beside it. A
 * gateway takes the first chain no other process holds (the file lock is the
 * claim), so a restarted gateway usually continues the chain it wrote before,
 * and two stdio instances plus an HTTP gateway of one user run at once, every
 * call of each in a verifiable chain. `tailops audit verify DIR` checks them
 * all.
 *
 * @module
 */
import { AuditLockedError } from "./audit_error.ts";
import { AuditLog } from "./writer.ts";
import type { AuditLogOptions } from "./writer_options.ts";

/** How many chains (gateways at once) one state directory holds. */
export const MAX_AUDIT_CHAINS = 32;

const CHAIN_FILE = /^audit(?:\.([1-9]\d{0,3}))?\.jsonl$/;

/**
 * The files of one chain.
 *
 * @param stateDir The state directory.
 * @param chain The chain number, from 1.
 * @returns The log and its anchor.
 */
export function auditChainPaths(stateDir: string, chain: number): { log: string; anchor: string } {
  const stem = chain === 1 ? `${stateDir}/audit` : `${stateDir}/audit.${chain}`;
  return { log: `${stem}.jsonl`, anchor: `${stem}.anchor.json` };
}

/** A chain this process holds. */
export interface OpenChain {
  /** The chain number, from 1. */
  readonly chain: number;
  /** The open log. */
  readonly log: AuditLog;
}

/**
 * Opens the first audit chain of a state directory that no other process
 * holds.
 *
 * Needs `read` and `write` permission for the state directory.
 *
 * @param stateDir The state directory.
 * @param options The log's options (its `anchor` is set per chain).
 * @returns The chain number and its open log.
 * @throws {AuditLockedError} When every chain up to {@linkcode MAX_AUDIT_CHAINS} is held.
 * @throws {AuditError} When a chain cannot be opened for another reason.
 */
export async function openAuditChain(
  stateDir: string,
  options: Omit<AuditLogOptions, "anchor"> = {},
): Promise<OpenChain> {
  for (let chain = 1; chain <= MAX_AUDIT_CHAINS; chain++) {
    const paths = auditChainPaths(stateDir, chain);
    try {
      return { chain, log: await AuditLog.open(paths.log, { ...options, anchor: paths.anchor }) };
    } catch (error) {
      if (!(error instanceof AuditLockedError)) throw error;
    }
  }
  throw new AuditLockedError(
    `Cannot open an audit log in "${stateDir}": expected a free chain, found all ${MAX_AUDIT_CHAINS} held by running gateways`,
  );
}

/**
 * The audit chains in a directory, in chain order.
 *
 * Needs `read` permission for the directory.
 *
 * @param dir A state directory.
 * @returns The chain logs' paths with their numbers.
 * @throws {Deno.errors.NotFound} When the directory does not exist (other errors likewise).
 */
export async function listAuditChains(dir: string): Promise<{ chain: number; path: string }[]> {
  const found: { chain: number; path: string }[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = entry.isFile ? CHAIN_FILE.exec(entry.name) : null;
    if (match) found.push({ chain: Number(match[1] ?? 1), path: `${dir}/${entry.name}` });
  }
  return found.sort((a, b) => a.chain - b.chain);
}
