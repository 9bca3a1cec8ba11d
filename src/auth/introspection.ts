/**
 * Opaque access tokens, checked by RFC 7662 introspection at the issuers that
 * configure it. A token is sent only to the issuers whose format it matches
 * (`token_prefix` and `token_length`, or a known `token_format` such as
 * tsidp's 32 hex characters): a bearer is a secret, and anything else —
 * a mistyped admin token, a cut-off gateway JWT, another issuer's token —
 * never leaves the gateway. Answers are cached by the token's SHA-256, never
 * longer than the token lives nor than the issuer's `cache_seconds` (at most
 * 5 minutes). An answer that names another kind of token (a refresh token, a
 * key-bound one) is refused like an inactive one.
 *
 * @module
 */
import { z } from "zod";
import { type OidcIssuerConfig, TOKEN_FORMATS } from "../config/auth_schema.ts";
import { toHex } from "./_encoding.ts";
import { sha256 } from "./bootstrap_token.ts";
import { fetchJson, type ServerMetadata } from "./discovery.ts";
import { mappedClaims } from "./oidc.ts";
import { notAnAccessTokenClaims } from "./access_token_kind.ts";
import type { OidcPrincipal } from "./types.ts";

/** Most answers kept in the cache. */
export const MAX_CACHED_ANSWERS = 10_000;

const answerSchema = z.looseObject({
  active: z.boolean(),
  sub: z.string().min(1).max(512).optional(),
  exp: z.number().optional(),
  nbf: z.number().optional(),
  iss: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
});

/** Options of {@linkcode createIntrospector}. */
export interface IntrospectorOptions {
  /** Canonical resource URI: the required audience unless an issuer overrides it. */
  resource: string;
  /** Clock skew allowed, in seconds. */
  skewSeconds: number;
  /** Clock in milliseconds since the epoch. */
  now: () => number;
  /** Looks up an issuer's metadata (cached by the caller). */
  metadata: (issuer: string) => Promise<ServerMetadata>;
}

type Answer = OidcPrincipal | string;

/**
 * Whether an opaque token has an issuer's format: its prefix and length
 * bounds, or its known shape (`token_format`), and nothing of a JWT (a `.`
 * or a leading `eyJ`), whatever the prefix, so a broken gateway token is
 * never sent.
 *
 * @param token A bearer token that is not JWT-shaped.
 * @param issuer The issuer's configuration (with `introspection`).
 * @returns `true` when the token may be sent to this issuer's introspection endpoint.
 */
export function matchesIssuerFormat(token: string, issuer: OidcIssuerConfig): boolean {
  const config = issuer.introspection;
  if (config === undefined) return false;
  if (token.includes(".") || token.startsWith("eyJ")) return false;
  if (config.token_format !== undefined) return TOKEN_FORMATS[config.token_format].test(token);
  const prefix = config.token_prefix;
  if (prefix === undefined || !token.startsWith(prefix) || token.length <= prefix.length) {
    return false;
  }
  const length = config.token_length;
  return length === undefined || (token.length >= length.min && token.length <= length.max);
}

async function ask(
  issuer: OidcIssuerConfig,
  token: string,
  options: IntrospectorOptions,
): Promise<Answer | undefined> {
  const config = issuer.introspection!;
  const endpoint = config.endpoint ??
    (await options.metadata(issuer.issuer).catch(() => undefined))?.introspection_endpoint;
  if (endpoint === undefined) return undefined;
  const basic = btoa(
    `${encodeURIComponent(config.client_id)}:${encodeURIComponent(config.client_secret.reveal())}`,
  );
  const raw = await fetchJson(endpoint, {
    method: "POST",
    headers: {
      authorization: `Basic ${basic}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ token, token_type_hint: "access_token" }),
  });
  const parsed = answerSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const answer = parsed.data;
  const now = options.now() / 1000;
  if (!answer.active) return "Invalid token: the issuer reports it inactive";
  if (answer.iss !== undefined && answer.iss !== issuer.issuer) return undefined;
  if (answer.sub === undefined) return "Invalid token: expected a sub in the introspection answer";
  if (answer.exp === undefined) return "Invalid token: expected an exp in the introspection answer";
  if (answer.exp + options.skewSeconds <= now) return "Invalid token: expected an unexpired token";
  if (answer.nbf !== undefined && answer.nbf - options.skewSeconds > now) {
    return "Invalid token: it is not valid yet";
  }
  const audience = issuer.audience ?? options.resource;
  if (![answer.aud ?? []].flat().includes(audience)) {
    return `Invalid token: expected audience ${JSON.stringify(audience)}`;
  }
  // A refresh token is active at some issuers' endpoints too (Okta, Keycloak, Hydra).
  const kind = notAnAccessTokenClaims(answer);
  if (kind !== undefined) return kind;
  return {
    kind: "oidc",
    issuer: issuer.issuer,
    sub: answer.sub,
    exp: answer.exp,
    via: "introspection",
    ...mappedClaims(answer, issuer),
  };
}

/**
 * Builds the verifier for opaque tokens.
 *
 * Needs `net` permission for the introspection endpoints.
 *
 * @param issuers The configured issuers; only those with `introspection` whose format the token matches are asked.
 * @param options Resource URI, skew, clock, metadata lookup.
 * @returns A verifier: a principal, a rejection reason, or `undefined` when no issuer's format matches.
 */
export function createIntrospector(
  issuers: readonly OidcIssuerConfig[],
  options: IntrospectorOptions,
): (token: string) => Promise<Answer | undefined> {
  const introspecting = issuers.filter((issuer) => issuer.introspection !== undefined);
  const cache = new Map<string, { answer: Answer; until: number }>();
  return async function introspect(token) {
    const matching = introspecting.filter((issuer) => matchesIssuerFormat(token, issuer));
    if (matching.length === 0) return undefined;
    const key = toHex(await sha256(token));
    const now = options.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.answer;
    cache.delete(key);
    let answer: Answer | undefined;
    let ttl = 300;
    for (const issuer of matching) {
      ttl = Math.min(ttl, issuer.introspection!.cache_seconds);
      answer = await ask(issuer, token, options);
      if (answer !== undefined && typeof answer !== "string") break;
    }
    if (answer === undefined) return "Invalid token: no issuer could introspect it";
    const lifetime = typeof answer === "string" ? Infinity : answer.exp * 1000 - now;
    const until = now + Math.min(ttl * 1000, lifetime);
    if (until > now) {
      if (cache.size >= MAX_CACHED_ANSWERS) {
        for (const [k, v] of cache) {
          if (v.until <= now || cache.size >= MAX_CACHED_ANSWERS) cache.delete(k);
        }
      }
      cache.set(key, { answer, until });
    }
    return answer;
  };
}
