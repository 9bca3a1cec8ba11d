/**
 * `tailops selftest URL`: checks a running gateway's resource-server
 * behaviour from the outside — metadata, challenges, token attacks, missing
 * scope, DNS rebinding and session hijack — and reports pass or fail per check.
 *
 * @module
 */
import { postMcp, statusWithHost } from "./_selftest_http.ts";
import { type SelftestIssuerKey, type TokenFactory, tokenFactory } from "./_selftest_tokens.ts";
import { checkDiscover, checkForgedState, checkHeaderMismatch } from "./_selftest_2026.ts";
import { checkChallenge, checkMetadata, checkSessionHijack } from "./_selftest_checks.ts";
import { canonicalResource } from "./metadata.ts";

export type { SelftestIssuerKey } from "./_selftest_tokens.ts";

/** One check's result. */
export interface SelftestCheck {
  /** Short stable name, e.g. `alg_none`. */
  name: string;
  /** `pass`, `fail`, or `skip` when the options lack what the check needs. */
  result: "pass" | "fail" | "skip";
  /** What was expected and what was found. */
  detail: string;
}

/** The whole report. */
export interface SelftestReport {
  /** The MCP endpoint tested. */
  url: string;
  /** Whether no check failed. */
  ok: boolean;
  /** Every check, in order. */
  checks: SelftestCheck[];
}

/** What the self-test may use. */
export interface SelftestOptions {
  /** The gateway's state directory: its key signs test tokens, its admin token is the valid caller. */
  stateDir?: string;
  /** An issuer key the gateway trusts, to sign test tokens instead of the gateway key. */
  issuerKey?: SelftestIssuerKey;
  /** A valid token with scopes; default: `STATE/admin.token`. */
  token?: string;
  /** A second valid token for another identity, for the session hijack check. */
  otherToken?: string;
  /** Canonical resource URI, when it differs from `url`. */
  resource?: string;
}

async function readAdminToken(stateDir?: string): Promise<string | undefined> {
  if (!stateDir) return undefined;
  return await Deno.readTextFile(`${stateDir}/admin.token`).then((t) => t.trim(), () => undefined);
}

/**
 * Runs every check against a running gateway.
 *
 * Needs `net` for the gateway and `read` for the state directory.
 *
 * @param url The gateway's MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`.
 * @param options Keys and tokens the checks use.
 * @returns The report; it never throws for a failing gateway.
 * @throws {TypeError} When `url` is not an http(s) URL.
 */
export async function runSelftest(
  url: string,
  options: SelftestOptions = {},
): Promise<SelftestReport> {
  const resource = canonicalResource(options.resource ?? url);
  const token = options.token ?? await readAdminToken(options.stateDir);
  const factory = await tokenFactory(resource, options).catch(() => undefined);
  const checks: SelftestCheck[] = [];
  const record = (name: string, pass: boolean | "skip", detail: string) =>
    checks.push({ name, result: pass === "skip" ? "skip" : pass ? "pass" : "fail", detail });
  const guarded = async (name: string, run: () => Promise<[boolean | "skip", string]>) => {
    try {
      record(name, ...await run());
    } catch (error) {
      record(name, false, `Cannot run: ${(error as Error).message}`);
    }
  };

  let metadata = true;
  await guarded("prm_document", async () => {
    const checked = await checkMetadata(url, resource);
    metadata = checked.served;
    return checked.result;
  });
  await guarded(
    "challenge_401",
    () => checkChallenge(url, resource, undefined, { status: 401, metadata }),
  );
  const attack = (name: string, make: (f: TokenFactory) => Promise<string> | string) =>
    guarded(name, async () => {
      if (!factory) return ["skip", "Needs --state-dir or an issuer key to sign test tokens"];
      return await checkChallenge(url, resource, await make(factory), { status: 401, metadata });
    });
  await attack("wrong_audience", (f) => f.sign({ aud: "https://wrong.invalid/mcp" }));
  const past = Math.floor(Date.now() / 1000) - 7200;
  await attack("expired", (f) => f.sign({ iat: past, exp: past + 60 }));
  await attack("bad_signature", (f) => f.forge({}));
  await attack("alg_none", (f) => f.unsigned({}));
  await guarded("missing_scope_403", async () => {
    if (!factory) return ["skip", "Needs --state-dir or an issuer key to sign test tokens"];
    return await checkChallenge(url, resource, await factory.sign({}), { status: 403, metadata });
  });
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  await guarded("bad_host_403", async () => {
    const status = await statusWithHost(url, "evil.invalid", auth);
    return [status === 403, `Expected 403 for Host "evil.invalid", found ${status}`];
  });
  await guarded("bad_origin_403", async () => {
    const { status } = await postMcp(url, {}, { ...auth, origin: "https://evil.invalid" });
    return [status === 403, `Expected 403 for Origin "https://evil.invalid", found ${status}`];
  });
  await guarded("session_hijack", () => checkSessionHijack(url, token, options.otherToken));
  // MCP 2026-07-28: stateless requests.
  await guarded("discover_2026", () => checkDiscover(url, token));
  await guarded("header_mismatch_2026", () => checkHeaderMismatch(url, token));
  await guarded("request_state_not_credential", () => checkForgedState(url, token));
  return { url, ok: checks.every((c) => c.result !== "fail"), checks };
}

/**
 * Renders a report as one line per check, then a summary.
 *
 * @param report What {@linkcode runSelftest} returned.
 * @returns Lines such as `PASS alg_none  Expected 401 ...`.
 */
export function formatSelftestReport(report: SelftestReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map((c) =>
    `${c.result.toUpperCase().padEnd(4)} ${c.name.padEnd(width)}  ${c.detail}`
  );
  const failed = report.checks.filter((c) => c.result === "fail").length;
  lines.push(failed === 0 ? `All checks passed for ${report.url}` : `${failed} check(s) failed`);
  return lines.join("\n");
}
