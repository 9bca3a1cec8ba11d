/**
 * Tells access tokens apart from the other tokens an issuer signs with the
 * same keys. An OIDC provider's ID tokens, logout tokens and (at some
 * providers) refresh tokens are JWTs with the same `iss`, keys and often an
 * `aud` that names the resource too (tsidp's ID token lists every granted
 * resource beside the client). Signature, issuer, audience and expiry do not
 * tell them apart; what they carry does:
 *
 * - the `typ` header: RFC 9068 access tokens say `at+jwt`; most providers
 *   (Keycloak, Auth0 by default, Entra, Okta) say `JWT` or nothing. Anything
 *   else (`id_token+jwt`, `logout+jwt`, `secevent+jwt`, `JOSE`…) is refused.
 *   Compared case-insensitively with an optional `application/` (RFC 7515
 *   §4.1.9); a missing `typ` counts as `JWT` (RFC 7519 §5.1);
 * - ID-token-only claims (OpenID Connect Core §2, §3.1.3.6, §3.3.2.11, FAPI):
 *   `nonce`, `at_hash`, `c_hash`, `s_hash`;
 * - an audience that includes the client the token was issued to (`azp` or
 *   `client_id`): an ID token is addressed to its client (OIDC Core §2:
 *   `aud` MUST contain the client id), an access token to the resource;
 * - a claim naming another kind of token: `typ` (Keycloak: `ID`, `Refresh`,
 *   `Offline`, `Logout`; its access tokens say `Bearer`), `token_use`
 *   (Cognito `id`, Hydra `refresh_token`), `token_type` (Okta's
 *   introspection says `refresh_token`); `events` (back-channel logout and
 *   security event tokens, RFC 8417);
 * - `cnf` (RFC 7800): a token bound to a client key (DPoP, mutual TLS) is
 *   not a bearer token, and this gateway checks no proof of possession.
 *
 * The claim rules apply to introspection answers too, except the audience
 * rule: tsidp's introspection lists the client in `aud` of its access tokens.
 *
 * @module
 */

import { ACCESS_TOKEN_TYPS } from "../config/auth_schema.ts";

/** One accepted `typ` value, normalised. */
export type AccessTokenTyp = typeof ACCESS_TOKEN_TYPS[number];

/** The `typ` values accepted when an issuer does not say: RFC 9068's and plain JWT. */
export const DEFAULT_ACCESS_TOKEN_TYPS: readonly AccessTokenTyp[] = ACCESS_TOKEN_TYPS;

/** Claims that only ID tokens carry. */
const ID_TOKEN_CLAIMS = ["nonce", "at_hash", "c_hash", "s_hash"];

/** Claims that name the token's kind, with the values an access token may have (lower case). */
const KIND_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  typ: ["bearer", "at+jwt", "jwt"],
  token_use: ["access", "access_token"],
  token_type: ["bearer", "access_token"],
};

/**
 * A `typ` header value as compared: lower case, without `application/`; a
 * missing one is `jwt`.
 *
 * @param typ The header's `typ`, whatever its type.
 * @returns The normalised value, or `undefined` when it is not a string.
 */
export function normalisedTyp(typ: unknown): string | undefined {
  if (typ === undefined) return "jwt";
  if (typeof typ !== "string") return undefined;
  const lower = typ.toLowerCase();
  return lower.startsWith("application/") ? lower.slice("application/".length) : lower;
}

/**
 * Why a signed, unexpired JWT from a trusted issuer is still not an access
 * token, if it is not.
 *
 * @param parts The JWT's header and claims.
 * @param typs The `typ` values this issuer's access tokens may have.
 * @returns A refusal sentence, or `undefined` for an access token.
 */
export function notAnAccessTokenJwt(
  parts: { header: Record<string, unknown>; payload: Record<string, unknown> },
  typs: readonly AccessTokenTyp[],
): string | undefined {
  const typ = normalisedTyp(parts.header.typ);
  if (typ === undefined || !(typs as readonly string[]).includes(typ)) {
    const found = parts.header.typ === undefined
      ? "no typ"
      : `typ ${JSON.stringify(parts.header.typ)}`;
    return `Invalid token: expected an access token (typ ${
      typs.map((t) => t === "jwt" ? "JWT or none" : t).join(" or ")
    }), found ${found}`;
  }
  const marker = ID_TOKEN_CLAIMS.find((claim) => claim in parts.payload);
  if (marker !== undefined) {
    return `Invalid token: expected an access token, found an ID token (it carries ${
      JSON.stringify(marker)
    })`;
  }
  const client = [parts.payload.azp, parts.payload.client_id].find((c) => typeof c === "string");
  if (client !== undefined && [parts.payload.aud].flat().includes(client)) {
    return `Invalid token: expected an access token for this resource, found one addressed to its own client ${
      JSON.stringify(client)
    } (an ID token)`;
  }
  return notAnAccessTokenClaims(parts.payload);
}

/**
 * Why a token's claims (a JWT's payload or an introspection answer) name
 * another kind of token than a bearer access token, if they do.
 *
 * @param claims The claims.
 * @returns A refusal sentence, or `undefined`.
 */
export function notAnAccessTokenClaims(claims: Record<string, unknown>): string | undefined {
  for (const [claim, allowed] of Object.entries(KIND_CLAIMS)) {
    const value = claims[claim];
    if (value === undefined) continue;
    if (typeof value !== "string" || !allowed.includes(value.toLowerCase())) {
      return `Invalid token: expected an access token, found ${claim} ${JSON.stringify(value)}`;
    }
  }
  if ("events" in claims) {
    return 'Invalid token: expected an access token, found a logout or security event token (it carries "events")';
  }
  if ("cnf" in claims) {
    return 'Invalid token: expected a bearer token, found one bound to a client key ("cnf"), whose proof this gateway does not check';
  }
  return undefined;
}
