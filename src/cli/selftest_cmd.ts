/**
 * `tailops selftest URL`: checks a running gateway's resource-server
 * behaviour and prints PASS, FAIL or SKIP per check.
 *
 * @module
 */
import { formatSelftestReport, runSelftest } from "../auth/selftest.ts";
import { CliError } from "./errors.ts";
import { SELFTEST_HELP } from "./help.ts";
import { parseFlags, stringOption } from "./options.ts";
import { defaultStateDir } from "./state_dir.ts";

/** Refuses a URL that is not http(s), and one nothing answers at, before any check runs. */
async function reachable(url: string): Promise<void> {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || !/^https?:$/.test(parsed.protocol)) {
    throw new CliError(
      `Invalid URL ${
        JSON.stringify(url)
      }: expected the gateway's MCP endpoint such as http://127.0.0.1:8080/mcp`,
    );
  }
  try {
    const response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(10_000) });
    await response.body?.cancel();
  } catch (error) {
    // Deno's fetch says "fetch failed" and keeps the socket error in `cause`.
    const text = `${(error as Error).message} ${String((error as Error).cause ?? "")}`;
    const why = /refused/i.test(text)
      ? "the connection was refused"
      : /timed? ?out|abort/i.test(text)
      ? "no answer within 10 s"
      : /dns|resolve|lookup/i.test(text)
      ? "the host name does not resolve"
      : "the request failed";
    throw new CliError(`Cannot reach ${url}: expected a running gateway, found ${why}`, 1);
  }
}

/**
 * Runs `tailops selftest`.
 *
 * Needs `net` for the gateway, `read` for the state directory, `env` for fallbacks.
 *
 * @param args Arguments after `selftest`.
 * @returns Exit code: 0 when no check failed, 1 otherwise.
 * @throws {CliError} On bad usage (exit 2).
 */
export async function runSelftestCommand(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    "state-dir": { type: "string" },
    token: { type: "string" },
    "other-token": { type: "string" },
    resource: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (parsed.values.help) {
    console.log(SELFTEST_HELP);
    return 0;
  }
  const [url, extra] = parsed.positionals;
  if (url === undefined || extra !== undefined) {
    throw new CliError(
      "Usage: tailops selftest URL [--state-dir DIR] [--token T] [--other-token T] (URL such as http://127.0.0.1:8080/mcp)",
    );
  }
  await reachable(url);
  let report;
  try {
    report = await runSelftest(url, {
      stateDir: stringOption(parsed, "state-dir", "TAILOPS_STATE_DIR") ?? defaultStateDir(),
      token: stringOption(parsed, "token"),
      otherToken: stringOption(parsed, "other-token"),
      resource: stringOption(parsed, "resource"),
    });
  } catch (error) {
    if (error instanceof TypeError) {
      throw new CliError(error.message);
    }
    throw error;
  }
  console.log(parsed.values.json ? JSON.stringify(report, null, 2) : formatSelftestReport(report));
  return report.ok ? 0 : 1;
}
