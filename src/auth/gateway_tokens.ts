/**
 * Gateway tokens: JWTs signed with the gateway key (EdDSA), issued for and
 * by the canonical resource URI, with a mandatory capped expiry. Minting
 * records the token's id (never its text) in the ledger; revocation is
 * checked on every request.
 *
 * @module
 */
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import { MAX_TOKEN_TTL_SECONDS } from "../config/auth_schema.ts";
import { describeJoseError } from "./_jose_errors.ts";
import { type GatewayKey, loadOrCreateGatewayKey } from "./gateway_key.ts";
import { canonicalResource } from "./metadata.ts";
import { fileTokenStore, type LedgerEntry, type TokenStore } from "./token_ledger.ts";
import type { Principal } from "./types.ts";
import { StateUnavailableError } from "../state/state_error.ts";

/** The `typ` header of gateway tokens, which tells them apart from OIDC tokens. */
export const GATEWAY_TOKEN_TYP = "tailops+jwt";

const subSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/, {
  error: 'Invalid subject: expected letters, digits, ".", "_", "@" or "-"',
}).refine((s) => s !== "admin", { error: 'Invalid subject: "admin" is reserved' });
const roleSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, {
  error: 'Invalid role: expected lowercase letters, digits, ".", "_" or "-"',
});

const claimsSchema = z.object({
  sub: subSchema,
  role: roleSchema,
  jti: z.string().min(1).max(128),
  iat: z.number().int(),
  exp: z.number().int(),
});

/** What to mint. */
export interface MintOptions {
  /** Subject; the identity becomes `token:SUB`. */
  sub: string;
  /** Role granted by the token (a role of the `identities` section). */
  role: string;
  /** Lifetime in seconds; mandatory. */
  ttlSeconds: number;
  /** Canonical resource URI: the token's `iss` and `aud`. */
  resource: string;
  /** Longest lifetime allowed; default and ceiling 30 days. */
  maxTtlSeconds?: number;
  /** Clock in milliseconds since the epoch. */
  now?: () => number;
  /** Where the ledger is kept; default the state directory's files. */
  tokens?: TokenStore;
}

/** A minted token: its text (shown once) and its ledger record. */
export interface MintedToken extends LedgerEntry {
  /** The compact JWT. */
  token: string;
}

/**
 * Mints a gateway token and records it in the ledger.
 *
 * Needs `read` and `write` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @param options Subject, role, lifetime, resource URI.
 * @returns The token and its record.
 * @throws {RangeError} When the lifetime is not between 1 s and the cap.
 * @throws {TypeError} When the subject, role or resource is malformed.
 */
export async function mintToken(stateDir: string, options: MintOptions): Promise<MintedToken> {
  const max = Math.min(options.maxTtlSeconds ?? MAX_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS);
  if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds < 1 || options.ttlSeconds > max) {
    throw new RangeError(
      `Invalid token lifetime: expected 1 to ${max} seconds, found ${options.ttlSeconds}`,
    );
  }
  const sub = subSchema.safeParse(options.sub);
  const role = roleSchema.safeParse(options.role);
  if (!sub.success) throw new TypeError(sub.error.issues[0].message);
  if (!role.success) throw new TypeError(role.error.issues[0].message);
  const resource = canonicalResource(options.resource);
  const key = await loadOrCreateGatewayKey(stateDir);
  const iat = Math.floor((options.now ?? Date.now)() / 1000);
  const entry: LedgerEntry = {
    jti: crypto.randomUUID(),
    sub: sub.data,
    role: role.data,
    kid: key.kid,
    iat,
    exp: iat + options.ttlSeconds,
  };
  const token = await new SignJWT({ role: entry.role })
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: GATEWAY_TOKEN_TYP })
    .setIssuer(resource).setAudience(resource).setSubject(entry.sub).setJti(entry.jti)
    .setIssuedAt(entry.iat).setExpirationTime(entry.exp)
    .sign(key.privateKey);
  await (options.tokens ?? fileTokenStore(stateDir)).appendLedger(entry);
  return { ...entry, token };
}

/**
 * Revokes a gateway token by id. Revoking an id twice is harmless.
 *
 * Needs `read` and `write` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @param jti The token id, as `listTokens` shows it.
 * @param options `now`: clock in milliseconds since the epoch; `tokens`: where the ledger is kept.
 * @returns Whether the id is in this gateway's ledger (an unknown id is revoked all the same).
 * @throws {TypeError} When `jti` is not a token id.
 * @throws {Error} When the ledger is malformed or readable by others.
 */
export async function revokeToken(
  stateDir: string,
  jti: string,
  options: { now?: () => number; tokens?: TokenStore } = {},
): Promise<{ known: boolean }> {
  if (!/^[A-Za-z0-9-]{1,128}$/.test(jti)) {
    throw new TypeError(`Invalid token id: expected a UUID, found ${JSON.stringify(jti)}`);
  }
  const tokens = options.tokens ?? fileTokenStore(stateDir);
  const known = (await tokens.readLedger()).some((entry) => entry.jti === jti);
  const at = Math.floor((options.now ?? Date.now)() / 1000);
  await tokens.revoke({ jti, at });
  return { known };
}

/** A ledger entry with its current state. */
export interface TokenListing extends LedgerEntry {
  /** Whether the token was revoked. */
  revoked: boolean;
  /** Whether the token has expired. */
  expired: boolean;
}

/**
 * Lists minted tokens (never their text).
 *
 * Needs `read` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @param options `now`: clock in milliseconds since the epoch; `tokens`: where the ledger is kept.
 * @returns Every ledger entry with its revoked and expired flags.
 * @throws {Error} When the ledger is malformed or readable by others.
 */
export async function listTokens(
  stateDir: string,
  options: { now?: () => number; tokens?: TokenStore } = {},
): Promise<TokenListing[]> {
  const tokens = options.tokens ?? fileTokenStore(stateDir);
  const revoked = await tokens.readRevoked();
  const now = Math.floor((options.now ?? Date.now)() / 1000);
  return (await tokens.readLedger()).map((entry) => ({
    ...entry,
    revoked: revoked.has(entry.jti),
    expired: entry.exp <= now,
  }));
}

/** Options of {@linkcode createGatewayTokenVerifier}. */
export interface GatewayTokenVerifierOptions {
  /** Canonical resource URI. */
  resource: string;
  /** Longest lifetime accepted. */
  maxTtlSeconds: number;
  /** Clock skew allowed, in seconds. */
  skewSeconds: number;
  /** Clock in milliseconds since the epoch. */
  now: () => number;
  /** Where revocations are kept; default the state directory's files. */
  tokens?: TokenStore;
}

/**
 * Builds the verifier for gateway tokens. It claims only tokens whose `typ`
 * header is {@linkcode GATEWAY_TOKEN_TYP}; others are left for the next mode.
 *
 * Needs `read` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @param options Resource URI, lifetime cap, skew, clock.
 * @returns A verifier: a principal, a rejection reason, or `undefined` for "not mine".
 */
export async function createGatewayTokenVerifier(
  stateDir: string,
  options: GatewayTokenVerifierOptions,
): Promise<(token: string) => Promise<Principal | string | undefined>> {
  let key: GatewayKey = await loadOrCreateGatewayKey(stateDir);
  let keys = createLocalJWKSet({ keys: [...key.publicJwks] });
  const tokens = options.tokens ?? fileTokenStore(stateDir);
  return async function verifyGatewayToken(token) {
    let typ: unknown;
    try {
      typ = decodeProtectedHeader(token).typ;
    } catch {
      return "Invalid token: expected a well-formed JWT header";
    }
    if (typ !== GATEWAY_TOKEN_TYP) return undefined;
    const verifyOptions = {
      algorithms: ["EdDSA"],
      issuer: options.resource,
      audience: options.resource,
      typ: GATEWAY_TOKEN_TYP,
      requiredClaims: ["exp", "iat", "jti", "sub"],
      clockTolerance: options.skewSeconds,
      currentDate: new Date(options.now()),
    };
    let payload: unknown;
    try {
      try {
        payload = (await jwtVerify(token, keys, verifyOptions)).payload;
      } catch (error) {
        // The key may have been rotated by `tailops token` in another process.
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
        key = await loadOrCreateGatewayKey(stateDir);
        keys = createLocalJWKSet({ keys: [...key.publicJwks] });
        payload = (await jwtVerify(token, keys, verifyOptions)).payload;
      }
    } catch (error) {
      return describeJoseError(error);
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) return "Invalid token: expected sub, role, jti, iat and exp claims";
    const { sub, role, jti, iat, exp } = claims.data;
    if (exp - iat > options.maxTtlSeconds) {
      return `Invalid token: expected a lifetime of at most ${options.maxTtlSeconds} s`;
    }
    let revoked: boolean;
    try {
      revoked = await tokens.isRevoked(jti);
    } catch (error) {
      // Fail closed: a revocation list that cannot be read refuses the token, saying why.
      if (error instanceof StateUnavailableError) return `Invalid token: ${error.message}`;
      throw error;
    }
    if (revoked) return "Invalid token: it has been revoked";
    return { kind: "gateway_token", sub, role, jti, exp };
  };
}
