/**
 * OAuth 2.1 / OIDC access tokens in JWT form, verified as a resource server
 * per the MCP authorization spec (2025-11-25): the issuer must be configured
 * and match exactly, `aud` must be the canonical resource URI, `exp` is
 * required, `exp`/`nbf` allow a small skew, and only the issuer's allowed
 * asymmetric algorithms are accepted. Keys come from the issuer's JWKS, which
 * is refetched when a token names an unknown `kid`. A valid JWT that is not
 * an access token (an ID token, a logout or refresh token, a key-bound
 * token) is refused: see `access_token_kind.ts`.
 *
 * @module
 */
import { createRemoteJWKSet, jwtVerify } from "jose";
import { z } from "zod";
import type { OidcIssuerConfig } from "../config/auth_schema.ts";
import { describeJoseError } from "./_jose_errors.ts";
import { readJwtParts } from "./_jwt_parts.ts";
import {
  type AccessTokenTyp,
  DEFAULT_ACCESS_TOKEN_TYPS,
  notAnAccessTokenJwt,
} from "./access_token_kind.ts";
import type { ServerMetadata } from "./discovery.ts";
import type { Principal } from "./types.ts";

/**
 * The `typ` values an issuer's JWT access tokens may have, or `false` when it
 * issues none: `jwt` in its configuration, else none for tsidp (its access
 * tokens are opaque; its JWTs are ID tokens), else RFC 9068's and plain JWT.
 *
 * @param issuer The issuer's configuration.
 * @returns The accepted `typ` values, or `false`.
 */
export function acceptedTyps(issuer: OidcIssuerConfig): readonly AccessTokenTyp[] | false {
  if (issuer.jwt !== undefined) return issuer.jwt === false ? false : issuer.jwt.typ;
  return issuer.introspection?.token_format === "tsidp" ? false : DEFAULT_ACCESS_TOKEN_TYPS;
}

/** Options of {@linkcode createOidcVerifier}. */
export interface OidcVerifierOptions {
  /** Canonical resource URI: the required audience unless an issuer overrides it. */
  resource: string;
  /** Clock skew allowed, in seconds (at most 60). */
  skewSeconds: number;
  /** Clock in milliseconds since the epoch. */
  now: () => number;
  /** Looks up an issuer's metadata (cached by the caller). */
  metadata: (issuer: string) => Promise<ServerMetadata>;
  /** Minimum time between JWKS fetches, in milliseconds; default 30 s. */
  jwksCooldownMs?: number;
}

const claimsSchema = z.looseObject({
  sub: z.string().min(1).max(512),
  exp: z.number(),
});

/**
 * Reads the email and group claims an issuer is configured to use.
 *
 * @param payload Verified claims.
 * @param issuer The issuer's configuration.
 * @returns The email (if a string) and the groups (a string or a string list).
 */
export function mappedClaims(
  payload: Record<string, unknown>,
  issuer: OidcIssuerConfig,
): { email?: string; groups: string[] } {
  const email = z.string().max(320).safeParse(payload[issuer.claims.email]);
  const groups = z.union([z.string(), z.array(z.string().max(256)).max(1000)])
    .safeParse(payload[issuer.claims.groups]);
  return {
    ...(email.success ? { email: email.data } : {}),
    groups: groups.success ? [groups.data].flat() : [],
  };
}

/**
 * Builds the verifier for OIDC access tokens in JWT form.
 *
 * Needs `net` permission for the issuers' discovery and JWKS hosts.
 *
 * @param issuers The configured issuers.
 * @param options Resource URI, skew, clock, metadata lookup.
 * @returns A verifier: a principal, or a rejection reason.
 */
export function createOidcVerifier(
  issuers: readonly OidcIssuerConfig[],
  options: OidcVerifierOptions,
): (token: string) => Promise<Principal | string> {
  const jwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  async function keysFor(issuer: OidcIssuerConfig) {
    const existing = jwks.get(issuer.issuer);
    if (existing) return existing;
    const uri = issuer.jwks_uri ?? (await options.metadata(issuer.issuer)).jwks_uri;
    if (uri === undefined) throw new Error("Issuer metadata has no jwks_uri");
    const set = createRemoteJWKSet(new URL(uri), {
      cooldownDuration: options.jwksCooldownMs ?? 30_000,
      cacheMaxAge: 10 * 60_000,
      timeoutDuration: 5000,
    });
    jwks.set(issuer.issuer, set);
    return set;
  }

  return async function verifyOidcToken(token) {
    const parts = readJwtParts(token);
    if (typeof parts === "string") return parts;
    const { alg, iss } = { alg: parts.header.alg, iss: parts.payload.iss };
    const issuer = issuers.find((i) => i.issuer === iss);
    if (issuer === undefined) {
      return `Invalid token: issuer ${JSON.stringify(String(iss))} is not trusted here`;
    }
    const typs = acceptedTyps(issuer);
    if (typs === false) {
      return `Invalid token: expected an opaque access token from issuer ${
        JSON.stringify(issuer.issuer)
      } (jwt: false), found a JWT`;
    }
    if (typeof alg !== "string" || !(issuer.algorithms as string[]).includes(alg)) {
      return `Invalid token: expected algorithm ${issuer.algorithms.join(" or ")}, found ${
        JSON.stringify(String(alg))
      }`;
    }
    let payload: Record<string, unknown>;
    try {
      payload = (await jwtVerify(token, await keysFor(issuer), {
        issuer: issuer.issuer,
        audience: issuer.audience ?? options.resource,
        algorithms: issuer.algorithms,
        requiredClaims: ["exp", "sub"],
        clockTolerance: Math.min(options.skewSeconds, 60),
        currentDate: new Date(options.now()),
      })).payload;
    } catch (error) {
      if (error instanceof Error && error.message === "Issuer metadata has no jwks_uri") {
        return "Invalid token: the issuer publishes no keys";
      }
      return describeJoseError(error);
    }
    // After the signature, so the audit log says "ID token" only of what the issuer signed.
    const kind = notAnAccessTokenJwt({ header: parts.header, payload }, typs);
    if (kind !== undefined) return kind;
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) return "Invalid token: expected string sub and numeric exp claims";
    return {
      kind: "oidc",
      issuer: issuer.issuer,
      sub: claims.data.sub,
      exp: claims.data.exp,
      via: "jwt",
      ...mappedClaims(payload, issuer),
    };
  };
}
