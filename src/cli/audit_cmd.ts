/**
 * `tailops audit verify FILE`: walks an audit log's hash chain.
 *
 * @module
 */
import { verifyAuditFile } from "../audit/verify.ts";
import { CliError } from "./errors.ts";
import { AUDIT_HELP } from "./help.ts";
import { parseFlags } from "./options.ts";

/**
 * Runs `tailops audit`.
 *
 * @param args Arguments after `audit`.
 * @returns Exit code: 0 intact, 1 broken.
 * @throws {CliError} On bad usage or an unreadable file.
 */
export async function runAudit(args: string[]): Promise<number> {
  const parsed = parseFlags(args, { help: { type: "boolean", short: "h" } });
  if (parsed.values.help) {
    console.log(AUDIT_HELP);
    return 0;
  }
  const [command, file, extra] = parsed.positionals;
  if (command !== "verify") {
    throw new CliError(`Unknown audit command ${JSON.stringify(command ?? "")}: expected verify`);
  }
  if (file === undefined || extra !== undefined) {
    throw new CliError("Usage: tailops audit verify FILE");
  }
  let report;
  try {
    report = await verifyAuditFile(file);
  } catch (error) {
    throw new CliError(`Cannot read ${JSON.stringify(file)}: ${(error as Error).message}`, 1);
  }
  if (report.ok) {
    console.log(`OK: ${report.count} records, chain intact`);
    return 0;
  }
  console.log(
    `BROKEN at seq ${report.seq} (line ${report.line}): ${report.reason}: ${report.message}`,
  );
  return 1;
}
