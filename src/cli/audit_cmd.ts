/**
 * `tailops audit verify FILE|DIR [--key KEY] [--shipped FILE]`: walks an audit
 * log's hash chain and checks its signed checkpoints; given a state directory,
 * every chain in it (one per gateway that ran there). `tailops audit key`:
 * prints the public key that verifies them.
 *
 * @module
 */
import { basename } from "node:path";
import { listAuditChains } from "../audit/chains.ts";
import { importCheckpointKey } from "../audit/checkpoint.ts";
import { type AuditRecord, auditRecordSchema } from "../audit/record.ts";
import { verifyAuditFile, type VerifyReport } from "../audit/verify.ts";
import { loadOrCreateAuditKey } from "../auth/gateway_key.ts";
import { CliError } from "./errors.ts";
import { AUDIT_HELP } from "./help.ts";
import { parseFlags, stringOption } from "./options.ts";
import { defaultStateDir } from "./state_dir.ts";
import { connectState } from "../state/mod.ts";
import { type MirrorReport, verifyAuditMirror } from "../state/audit_mirror_verify.ts";

const FLAGS = {
  help: { type: "boolean", short: "h" },
  key: { type: "string" },
  shipped: { type: "string" },
  "state-dir": { type: "string" },
  "state-url": { type: "string" },
} as const;

/**
 * Runs `tailops audit`.
 *
 * @param args Arguments after `audit`.
 * @returns Exit code: 0 intact, 1 broken, 2 intact with an unsigned tail (with `--key`).
 * @throws {CliError} On bad usage or an unreadable file.
 */
export async function runAudit(args: string[]): Promise<number> {
  const parsed = parseFlags(args, FLAGS);
  if (parsed.values.help) {
    console.log(AUDIT_HELP);
    return 0;
  }
  const [command, file, extra] = parsed.positionals;
  if (command === "key") {
    if (file !== undefined) throw new CliError("Usage: tailops audit key [--state-dir DIR]");
    const stateDir = stringOption(parsed, "state-dir", "TAILOPS_STATE_DIR") ?? defaultStateDir();
    try {
      console.log(JSON.stringify((await loadOrCreateAuditKey(stateDir)).publicJwk));
    } catch (error) {
      throw new CliError(`Cannot load the audit key: ${(error as Error).message}`, 1);
    }
    return 0;
  }
  if (command !== "verify") {
    throw new CliError(
      `Unknown audit command ${JSON.stringify(command ?? "")}: expected verify or key`,
    );
  }
  const keyText = parsed.values.key as string | undefined;
  const stateUrl = parsed.values["state-url"] as string | undefined;
  if (stateUrl !== undefined && file === undefined) {
    return await verifyMirror(stateUrl, keyText === undefined ? undefined : await readKey(keyText));
  }
  if (file === undefined || extra !== undefined) {
    throw new CliError(
      "Usage: tailops audit verify FILE|DIR [--key KEY] [--shipped FILE] (or --state-url URL instead of FILE)",
    );
  }
  const key = keyText === undefined ? undefined : await readKey(keyText);
  const shippedFile = parsed.values.shipped as string | undefined;
  const chains = await chainsOf(file);
  if (chains === undefined) {
    const shipped = shippedFile === undefined ? undefined : await readShipped(shippedFile);
    return await verifyChain(file, { key, shipped });
  }
  const shipped = shippedFile === undefined ? undefined : await readShipped(shippedFile);
  const { byChain, unmatched } = shipped === undefined
    ? { byChain: new Map<string, AuditRecord[]>(), unmatched: [] }
    : await assignShipped(chains.map((c) => c.path), shipped);
  // Each gateway on the state directory wrote its own chain: verify them all,
  // each on its own lines; the worst outcome is the exit code.
  const severity = (code: number) => [0, 2, 1].indexOf(code); // intact < incomplete < broken
  let code = 0;
  for (const chain of chains) {
    const result = await verifyChain(chain.path, {
      key,
      shipped: shipped && (byChain.get(chain.path) ?? []),
      label: `${basename(chain.path)}: `,
    });
    if (severity(result) > severity(code)) code = result;
  }
  for (const record of unmatched) {
    console.log(
      `BROKEN: the shipped checkpoint for seq ${record.seq} (hash "${record.hash}") signs a head no chain in ${file} holds: records were cut off a chain, or it came from elsewhere`,
    );
    code = 1;
  }
  console.log(
    `${chains.length} chain${chains.length === 1 ? "" : "s"} in ${file}: ${
      code === 0 ? "all intact" : code === 1 ? "BROKEN" : "intact, some INCOMPLETE"
    }`,
  );
  return code;
}

/**
 * Sorts shipped checkpoints to the chains they signed: a copy belongs to the
 * chain holding the head it signs (its `prev`). Shipped copies do not name
 * their chain, and a chain cut before that head holds it no more: such a copy
 * is unmatched, which the caller reports as a cut.
 */
async function assignShipped(
  paths: readonly string[],
  shipped: readonly AuditRecord[],
): Promise<{ byChain: Map<string, AuditRecord[]>; unmatched: AuditRecord[] }> {
  const wanted = new Map(shipped.map((record) => [record.prev, record]));
  const byChain = new Map<string, AuditRecord[]>();
  for (const path of paths) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      throw new CliError(`Cannot read ${JSON.stringify(path)}: ${(error as Error).message}`, 1);
    }
    for (const line of text.split("\n")) {
      const hash = /"hash":"([0-9a-f]{64})"/.exec(line.slice(-80))?.[1];
      const record = hash === undefined ? undefined : wanted.get(hash);
      if (record === undefined) continue;
      wanted.delete(hash!);
      byChain.set(path, [...byChain.get(path) ?? [], record]);
    }
  }
  return { byChain, unmatched: [...wanted.values()] };
}

/** The chains of a directory, or `undefined` when the path is not a directory. */
async function chainsOf(path: string): Promise<{ chain: number; path: string }[] | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new CliError(`Cannot read ${JSON.stringify(path)}: ${(error as Error).message}`, 1);
  }
  if (!info.isDirectory) return undefined;
  let chains;
  try {
    chains = await listAuditChains(path);
  } catch (error) {
    throw new CliError(`Cannot read ${JSON.stringify(path)}: ${(error as Error).message}`, 1);
  }
  if (chains.length === 0) {
    throw new CliError(
      `No audit log in ${
        JSON.stringify(path)
      }: expected audit.jsonl or audit.N.jsonl (one chain per gateway that ran there)`,
      1,
    );
  }
  return chains;
}

/** Verifies one chain and prints its report; returns 0 intact, 1 broken, 2 unsigned tail. */
async function verifyChain(
  file: string,
  options: {
    key?: Awaited<ReturnType<typeof readKey>>;
    shipped?: AuditRecord[];
    label?: string;
  },
): Promise<number> {
  const { key, shipped } = options;
  const say = (line: string) => console.log(`${options.label ?? ""}${line}`);
  let report: VerifyReport;
  try {
    report = await verifyAuditFile(file, { key, shipped });
  } catch (error) {
    throw new CliError(`Cannot read ${JSON.stringify(file)}: ${(error as Error).message}`, 1);
  }
  if (!report.ok) {
    say(`BROKEN at seq ${report.seq} (line ${report.line}): ${report.reason}: ${report.message}`);
    return 1;
  }
  say(`OK: ${report.count} records, chain intact`);
  const cp = report.checkpoints;
  if (cp.last) {
    const how = cp.signaturesChecked
      ? `signed by key "${key!.kid}", signatures verified`
      : "signatures not checked (give --key)";
    say(
      `Checkpoints: ${cp.count}, ${how}; the last, at seq ${cp.last.seq}, ${
        cp.last.final ? "was written at a clean shutdown" : "is a periodic one"
      }`,
    );
  } else if (key) say("Checkpoints: none");
  if (shipped) {
    say(`Shipped checkpoints matched: ${cp.shippedMatched} of ${shipped.length}`);
  }
  for (const notice of report.notices) say(`Notice: ${notice}`);
  if (key && cp.uncovered > 0) {
    const from = report.count - cp.uncovered + 1;
    const where = cp.last
      ? "come after the last checkpoint and are not covered by a signature"
      : "are not covered by any signed checkpoint";
    say(
      `INCOMPLETE: records ${from}-${report.count} ${where}; records cut off after seq ${report.count} could not be detected here (compare with checkpoints shipped off the host: --shipped)`,
    );
    return 2;
  }
  return 0;
}

/** `audit verify --state-url`: every gateway's chain in the shared mirror. */
async function verifyMirror(
  stateUrl: string,
  key: Awaited<ReturnType<typeof readKey>> | undefined,
): Promise<number> {
  let client;
  try {
    client = await connectState(stateUrl);
  } catch (error) {
    throw new CliError((error as Error).message, 1);
  }
  let reports: MirrorReport[];
  try {
    reports = await verifyAuditMirror(client, { key });
  } catch (error) {
    throw new CliError(`Cannot read the audit mirror: ${(error as Error).message}`, 1);
  } finally {
    await client.close();
  }
  if (reports.length === 0) {
    console.log("No audit records in the shared mirror");
    return 0;
  }
  let broken = false;
  for (const r of reports) {
    const gaps = r.gaps.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
    if (r.chain.ok && gaps.length === 0) {
      console.log(`${r.gateway}: OK: ${r.rows} records, chain intact`);
      continue;
    }
    broken = true;
    if (gaps.length > 0) {
      console.log(`${r.gateway}: GAP: records ${gaps.join(", ")} missing from the mirror`);
    }
    if (!r.chain.ok) {
      console.log(
        `${r.gateway}: BROKEN at seq ${r.chain.seq}: ${r.chain.reason}: ${r.chain.message}`,
      );
    }
  }
  return broken ? 1 : 0;
}

async function readKey(value: string) {
  let text = value;
  if (!/^\s*\{/.test(value) && !/^[A-Za-z0-9_-]{43}$/.test(value.trim())) {
    try {
      text = await Deno.readTextFile(value);
    } catch (error) {
      throw new CliError(`Cannot read --key ${JSON.stringify(value)}: ${(error as Error).message}`);
    }
  }
  try {
    return await importCheckpointKey(text);
  } catch (error) {
    throw new CliError(`Invalid --key: ${(error as Error).message}`);
  }
}

/** Reads shipped checkpoints: one per line, a record's JSON after any syslog header. */
async function readShipped(path: string): Promise<AuditRecord[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new CliError(
      `Cannot read --shipped ${JSON.stringify(path)}: ${(error as Error).message}`,
    );
  }
  const records: AuditRecord[] = [];
  for (const [index, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    const start = line.indexOf("{");
    let value: unknown;
    try {
      value = start === -1 ? undefined : JSON.parse(line.slice(start));
    } catch {
      value = undefined;
    }
    const result = auditRecordSchema.safeParse(value);
    if (!result.success || result.data.event !== "checkpoint") {
      throw new CliError(
        `Cannot read --shipped ${JSON.stringify(path)}: expected a checkpoint record on line ${
          index + 1
        }, found something else`,
      );
    }
    records.push(result.data);
  }
  return records;
}
