/**
 * `tailops token mint|list|revoke|rotate-key`: gateway access tokens on the
 * gateway host.
 *
 * @module
 */
import { type MintOptions, mintToken } from "../auth/gateway_tokens.ts";
import { listTokens, revokeToken, type TokenListing } from "../auth/gateway_tokens.ts";
import { rotateGatewayKey } from "../auth/gateway_key.ts";
import { canonicalResource } from "../auth/metadata.ts";
import { MAX_TOKEN_TTL_SECONDS } from "../config/auth_schema.ts";
import { ConfigError } from "../config/errors.ts";
import { loadPolicy } from "../config/load.ts";
import { CliError } from "./errors.ts";
import { TOKEN_HELP } from "./help.ts";
import {
  type Parsed,
  parseFlags,
  runSubcommand,
  stringOption,
  type Subcommand,
} from "./options.ts";
import { defaultStateDir } from "./state_dir.ts";
import type { StateBackend } from "../state/mod.ts";
import { cliState, STATE_URL_FLAG } from "./cli_state.ts";

/** The resource URI tokens are minted for when neither --resource nor TAILOPS_PUBLIC_URL is set. */
export const DEFAULT_RESOURCE = "http://127.0.0.1:8080/mcp";

const UNITS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses a lifetime: `30m`, `8h`, `7d`, `90s` or plain seconds.
 *
 * @param text The flag value.
 * @returns Seconds.
 * @throws {CliError} When it is not a positive whole number with an optional unit.
 */
export function parseTtl(text: string): number {
  const m = /^([0-9]{1,9})([smhd]?)$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * UNITS[m[2]] : NaN;
  if (!m || seconds < 1) {
    throw new CliError(
      `Invalid --ttl ${JSON.stringify(text)}: expected a lifetime such as 30m, 8h, 7d or seconds`,
    );
  }
  return seconds;
}

/**
 * Renders seconds in the largest whole unit (`8h`, `90m`, `45s`).
 *
 * @param seconds A lifetime.
 * @returns The short form.
 */
export function formatTtl(seconds: number): string {
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

function stateDirOf(parsed: Parsed): string {
  return stringOption(parsed, "state-dir", "TAILOPS_STATE_DIR") ?? defaultStateDir();
}

function noPositionals(parsed: Parsed, command: string): void {
  if (parsed.positionals.length > 0) {
    throw new CliError(
      `Unexpected argument ${
        JSON.stringify(parsed.positionals[0])
      }: token ${command} takes only flags`,
    );
  }
}

/** The policy's token cap and roles, when a policy file is named. */
async function policyLimits(
  file: string | undefined,
): Promise<{ maxTtl: number; roles?: string[]; file?: string }> {
  if (file === undefined) return { maxTtl: MAX_TOKEN_TTL_SECONDS };
  try {
    const { policy } = await loadPolicy(file, { resolveSecrets: false });
    return {
      maxTtl: policy.auth.gateway_tokens.max_ttl_seconds,
      roles: policy.identities ? Object.keys(policy.identities.roles) : [],
      file,
    };
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 1);
    throw error;
  }
}

async function mint(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    sub: { type: "string" },
    role: { type: "string" },
    ttl: { type: "string" },
    resource: { type: "string" },
    policy: { type: "string" },
    "state-dir": { type: "string" },
    ...STATE_URL_FLAG,
  });
  noPositionals(parsed, "mint");
  const [sub, role, ttl] = (["sub", "role", "ttl"] as const).map((name) => {
    const value = stringOption(parsed, name);
    if (value === undefined) {
      throw new CliError(
        `Missing --${name}: expected tailops token mint --sub NAME --role ROLE --ttl 8h`,
      );
    }
    return value;
  });
  const ttlSeconds = parseTtl(ttl);
  const limits = await policyLimits(stringOption(parsed, "policy", "TAILOPS_POLICY"));
  if (ttlSeconds > limits.maxTtl) {
    throw new CliError(
      `Invalid --ttl ${JSON.stringify(ttl)}: expected at most ${
        formatTtl(limits.maxTtl)
      } (${limits.maxTtl} seconds${
        limits.file ? ` from ${limits.file}` : ""
      }), found ${ttlSeconds} seconds`,
    );
  }
  if (limits.roles !== undefined && !limits.roles.includes(role)) {
    throw new CliError(
      limits.roles.length === 0
        ? `Unknown role ${
          JSON.stringify(role)
        }: expected a role of the identities section of ${limits.file}, found no roles (gateway tokens would get no scopes)`
        : `Unknown role ${JSON.stringify(role)} in ${limits.file}: expected one of ${
          limits.roles.join(", ")
        }`,
    );
  }
  const options: MintOptions = {
    sub,
    role,
    ttlSeconds,
    maxTtlSeconds: limits.maxTtl,
    resource: stringOption(parsed, "resource", "TAILOPS_PUBLIC_URL") ?? DEFAULT_RESOURCE,
  };
  let minted;
  await using state = await cliState(parsed, stateDirOf(parsed));
  try {
    minted = await mintToken(stateDirOf(parsed), { ...options, tokens: state.tokens });
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) {
      throw new CliError(error.message);
    }
    throw new CliError(`Cannot mint a token: ${(error as Error).message}`, 1);
  }
  console.log(minted.token);
  console.error(
    `Minted token ${minted.jti} for token:${minted.sub} (role ${minted.role}), audience ${
      canonicalResource(options.resource)
    }, expires ${new Date(minted.exp * 1000).toISOString()} (in ${formatTtl(ttlSeconds)})`,
  );
  return 0;
}

/**
 * A token's state for people: revoked wins over expired.
 *
 * @param token A listing entry.
 * @returns `active`, `expired` or `revoked`.
 */
export function tokenState(token: TokenListing): "active" | "expired" | "revoked" {
  return token.revoked ? "revoked" : token.expired ? "expired" : "active";
}

/**
 * Lays out rows as columns separated by two spaces.
 *
 * @param rows Header first.
 * @returns The lines.
 */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd())
    .join("\n");
}

async function list(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    json: { type: "boolean" },
    "state-dir": { type: "string" },
    ...STATE_URL_FLAG,
  });
  noPositionals(parsed, "list");
  await using state = await cliState(parsed, stateDirOf(parsed));
  const tokens = await readTokens(stateDirOf(parsed), state);
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
  if (parsed.values.json) {
    console.log(JSON.stringify(
      tokens.map((t) => ({
        jti: t.jti,
        sub: t.sub,
        role: t.role,
        kid: t.kid,
        issued: iso(t.iat),
        expires: iso(t.exp),
        state: tokenState(t),
      })),
      null,
      2,
    ));
    return 0;
  }
  if (tokens.length === 0) {
    console.log(`No tokens minted in ${stateDirOf(parsed)}`);
    return 0;
  }
  console.log(table([
    ["JTI", "SUB", "ROLE", "EXPIRES", "STATE"],
    ...tokens.map((t) => [t.jti, t.sub, t.role, iso(t.exp), tokenState(t)]),
  ]));
  return 0;
}

async function readTokens(stateDir: string, state: StateBackend): Promise<TokenListing[]> {
  try {
    return await listTokens(stateDir, { tokens: state.tokens });
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new CliError(`Cannot read the token ledger in ${stateDir}: permission denied`, 1);
    }
    throw new CliError((error as Error).message, 1);
  }
}

async function revoke(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    force: { type: "boolean" },
    "state-dir": { type: "string" },
    ...STATE_URL_FLAG,
  });
  const [jti, extra] = parsed.positionals;
  if (jti === undefined || extra !== undefined) {
    throw new CliError("Usage: tailops token revoke JTI (the id from tailops token list)");
  }
  const stateDir = stateDirOf(parsed);
  await using state = await cliState(parsed, stateDir);
  const entry = (await readTokens(stateDir, state)).find((t) => t.jti === jti);
  if (entry === undefined && parsed.values.force !== true) {
    throw new CliError(
      `No token ${
        JSON.stringify(jti)
      } in the ledger of ${stateDir}: expected an id from tailops token list (--force revokes an id minted elsewhere)`,
      1,
    );
  }
  if (entry?.revoked) {
    console.log(`Token ${jti} was already revoked`);
    return 0;
  }
  try {
    await revokeToken(stateDir, jti, { tokens: state.tokens });
  } catch (error) {
    if (error instanceof TypeError) throw new CliError(error.message);
    throw error;
  }
  console.log(
    `Revoked token ${jti}${entry ? ` (token:${entry.sub}, role ${entry.role})` : ""}`,
  );
  return 0;
}

async function rotateKey(args: string[]): Promise<number> {
  const parsed = parseFlags(args, { "state-dir": { type: "string" } });
  noPositionals(parsed, "rotate-key");
  const key = await rotateGatewayKey(stateDirOf(parsed));
  console.log(`Rotated the gateway key: new kid ${key.kid}`);
  console.error(
    "Tokens signed by the old key still verify until they expire or are revoked; new tokens use the new key",
  );
  return 0;
}

const COMMANDS: Record<string, Subcommand> = {
  mint,
  list,
  revoke,
  "rotate-key": rotateKey,
};

/**
 * Runs `tailops token`.
 *
 * Needs `read` and `write` for the state directory, `env` for fallbacks.
 *
 * @param args Arguments after `token`.
 * @returns Exit code: 0 done, 1 failed.
 * @throws {CliError} On bad usage (exit 2) or a failure (exit 1).
 */
export async function runToken(args: string[]): Promise<number> {
  return await runSubcommand(args, { name: "token", commands: COMMANDS, help: TOKEN_HELP });
}
