/**
 * The gateway token ledger (`STATE/tokens/ledger.jsonl`: what was minted,
 * never the token text) and the revocation list (`STATE/tokens/revoked.jsonl`),
 * which the verifier re-reads whenever its modification time changes.
 *
 * @module
 */
import { z } from "zod";
import { ensurePrivateDir, readPrivateFile } from "./_fs.ts";

/** One minted token, as recorded. */
export const ledgerEntrySchema = z.object({
  jti: z.string().min(1).max(128),
  sub: z.string().min(1).max(128),
  role: z.string().min(1).max(63),
  kid: z.string().min(1).max(128),
  iat: z.number().int(),
  exp: z.number().int(),
});

/** A ledger entry. */
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

const revocationSchema = z.object({ jti: z.string().min(1).max(128), at: z.number().int() });

/**
 * Paths of the ledger files.
 *
 * @param stateDir The gateway's state directory.
 * @returns The directory and both files.
 */
export function ledgerPaths(stateDir: string) {
  const dir = `${stateDir}/tokens`;
  return { dir, ledger: `${dir}/ledger.jsonl`, revoked: `${dir}/revoked.jsonl` };
}

/**
 * Appends one JSON line to a private file (created with mode 0600).
 *
 * Needs `write` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @param file Which file: `"ledger"` or `"revoked"`.
 * @param record The record.
 */
export async function appendRecord(
  stateDir: string,
  file: "ledger" | "revoked",
  record: LedgerEntry | z.infer<typeof revocationSchema>,
): Promise<void> {
  const paths = ledgerPaths(stateDir);
  await ensurePrivateDir(paths.dir);
  await Deno.writeTextFile(paths[file], `${JSON.stringify(record)}\n`, {
    append: true,
    mode: 0o600,
  });
}

function parseLines<T>(text: string | undefined, schema: z.ZodType<T>): T[] {
  if (text === undefined) return [];
  return text.split("\n").filter((line) => line.trim() !== "").map((line, index) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    const result = schema.safeParse(value);
    if (!result.success) {
      throw new Error(`Cannot read token ledger line ${index + 1}: expected a ledger record`);
    }
    return result.data;
  });
}

/**
 * Reads every minted token's record.
 *
 * Needs `read` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @returns The entries in minting order.
 * @throws {Error} When the file is malformed or readable by others.
 */
export async function readLedger(stateDir: string): Promise<LedgerEntry[]> {
  return parseLines(await readPrivateFile(ledgerPaths(stateDir).ledger), ledgerEntrySchema);
}

/**
 * Reads the set of revoked token ids.
 *
 * Needs `read` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @returns The revoked `jti` values.
 * @throws {Error} When the file is malformed or readable by others.
 */
export async function readRevoked(stateDir: string): Promise<Set<string>> {
  const path = ledgerPaths(stateDir).revoked;
  return new Set(parseLines(await readPrivateFile(path), revocationSchema).map((r) => r.jti));
}

/**
 * A revocation check that re-reads the list only when the file changed.
 *
 * @param stateDir The gateway's state directory.
 * @returns A function telling whether a `jti` is revoked.
 */
export function revocationChecker(stateDir: string): (jti: string) => Promise<boolean> {
  const path = ledgerPaths(stateDir).revoked;
  let stamp = "";
  let revoked = new Set<string>();
  return async function isRevoked(jti) {
    let next = "absent";
    try {
      const info = await Deno.stat(path);
      next = `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (next !== stamp) {
      revoked = next === "absent" ? new Set() : await readRevoked(stateDir);
      stamp = next;
    }
    return revoked.has(jti);
  };
}

/** A revocation: the token id and when, in seconds since the epoch. */
export type Revocation = z.infer<typeof revocationSchema>;

/**
 * Where the token ledger and the revocation list are kept: the state
 * directory's files ({@linkcode fileTokenStore}) or a shared database
 * (`src/state/`), so a token revoked on one gateway is refused by all.
 */
export interface TokenStore {
  /** Records a minted token. */
  appendLedger(entry: LedgerEntry): Promise<void>;
  /** Every minted token's record, in minting order. */
  readLedger(): Promise<LedgerEntry[]>;
  /** Records a revocation (revoking twice is harmless). */
  revoke(revocation: Revocation): Promise<void>;
  /** The set of revoked token ids. */
  readRevoked(): Promise<Set<string>>;
  /** Whether one token id is revoked: the per-request check (cached by the store). */
  isRevoked(jti: string): Promise<boolean>;
}

/**
 * The embedded token store: `STATE/tokens/ledger.jsonl` and `revoked.jsonl`.
 *
 * Needs `read` and `write` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @returns The store.
 */
export function fileTokenStore(stateDir: string): TokenStore {
  return {
    appendLedger: (entry) => appendRecord(stateDir, "ledger", entry),
    readLedger: () => readLedger(stateDir),
    revoke: (revocation) => appendRecord(stateDir, "revoked", revocation),
    readRevoked: () => readRevoked(stateDir),
    isRevoked: revocationChecker(stateDir),
  };
}
