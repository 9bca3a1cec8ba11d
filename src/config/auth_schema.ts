/**
 * The policy file's `auth` section: the gateway's canonical resource URI and
 * which credentials the HTTP transport accepts.
 *
 * @example
 * ```yaml
 * auth:
 *   resource: https://gateway.tail1234.ts.net/mcp
 *   gateway_tokens: { max_ttl_seconds: 2592000 }
 *   oidc:
 *     - issuer: https://idp.tail1234.ts.net
 *       algorithms: [ES256]
 *       claims: { email: email, groups: groups }
 *       introspection:
 *         token_prefix: "idp_at_"
 *         client_id: tailops
 *         client_secret: ${TAILOPS_INTROSPECTION_SECRET}
 *   tailscale: { enabled: true }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { secretRefSchema } from "./secret.ts";

/** Signature algorithms an OIDC issuer may use: asymmetric only. */
export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

/** Longest gateway token lifetime allowed anywhere: 30 days. */
export const MAX_TOKEN_TTL_SECONDS = 30 * 24 * 3600;

const httpUrl = (what: string) =>
  z.url({
    protocol: /^https?$/,
    error: (issue) =>
      `Invalid ${what}: expected an http or https URL, found ${JSON.stringify(issue.input)}`,
  }).refine((u) => !u.includes("#"), { error: `Invalid ${what}: expected no fragment` });

/** The canonical resource URI: where clients reach `/mcp`, as they write it. */
export const resourceUriSchema = httpUrl("resource URI").refine((u) => !new URL(u).search, {
  error: "Invalid resource URI: expected no query string",
});

const algorithmSchema = z.enum(ASYMMETRIC_ALGORITHMS, {
  error: (issue) =>
    `Invalid algorithm ${JSON.stringify(issue.input)}: expected one of ${
      ASYMMETRIC_ALGORITHMS.join(", ")
    } (symmetric and "none" are never accepted)`,
});

/**
 * An issuer's opaque-token prefix: 4 to 64 token characters, no `.` and not
 * the start of a JWT (`eyJ`), so no gateway token or JWT can match it.
 */
export const tokenPrefixSchema = z.string({
  error:
    "Invalid introspection: expected token_prefix, the prefix every opaque token of this issuer starts with (only such tokens are sent to it)",
}).regex(/^[A-Za-z0-9_~+/-]{4,64}$/, {
  error: (issue) =>
    `Invalid token_prefix ${
      JSON.stringify(issue.input)
    }: expected 4 to 64 characters from A-Z a-z 0-9 - _ ~ + /`,
}).refine((prefix) => !prefix.startsWith("eyJ"), {
  error: 'Invalid token_prefix: expected an opaque-token prefix, found the start of a JWT ("eyJ")',
});

/**
 * Token shapes the gateway knows for issuers without a token prefix. Only
 * tokens of exactly that shape are sent to such an issuer.
 *
 * - `tsidp`: Tailscale's tsidp, whose access tokens are 32 lowercase hex
 *   characters (128 random bits) and nothing else. No gateway token (a JWT)
 *   or bootstrap admin token (43 base64url characters) has that shape.
 */
export const TOKEN_FORMATS = { tsidp: /^[0-9a-f]{32}$/ } as const;

/** The name of a known token shape. */
export const tokenFormatSchema = z.enum(Object.keys(TOKEN_FORMATS) as ["tsidp"], {
  error: (issue) =>
    `Invalid token_format ${JSON.stringify(issue.input)}: expected one of ${
      Object.keys(TOKEN_FORMATS).join(", ")
    }`,
});

/**
 * The `typ` header values an issuer's access tokens may be told to have
 * (`jwt.typ`), compared case-insensitively without `application/`: RFC
 * 9068's `at+jwt`, and `jwt`, which also admits a token without `typ`.
 */
export const ACCESS_TOKEN_TYPS = ["at+jwt", "jwt"] as const;

const isAccessTokenTyp = (typ: string) => (ACCESS_TOKEN_TYPS as readonly string[]).includes(typ);

const claimName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_:./-]{0,127}$/);

/** One trusted OAuth 2.1 / OIDC authorization server. */
export const oidcIssuerSchema = z.strictObject({
  /** The issuer identifier, exactly as it appears in `iss`. */
  issuer: httpUrl("issuer"),
  /** Expected `aud` when it is not the canonical resource URI (discouraged). */
  audience: z.string().min(1).max(512).optional(),
  /** Accepted JWS algorithms. */
  algorithms: z.array(algorithmSchema).min(1).default(["RS256", "ES256", "EdDSA"]),
  /** Skip discovery and fetch keys from here. */
  jwks_uri: httpUrl("jwks_uri").optional(),
  /** Which claims carry the email address and the group list. */
  claims: z.strictObject({
    email: claimName.default("email"),
    groups: claimName.default("groups"),
  }).default({ email: "email", groups: "groups" }),
  /**
   * RFC 7662 introspection for opaque (non-JWT) access tokens. Only tokens in
   * this issuer's format (`token_prefix`, `token_length`) are ever sent to it:
   * a bearer is a secret, and a mistyped admin token must not reach an IdP.
   */
  introspection: z.strictObject({
    /** Endpoint; discovered from the issuer's metadata when omitted. */
    endpoint: httpUrl("introspection endpoint").optional(),
    /** What every opaque token of this issuer starts with (e.g. `ory_at_`). */
    token_prefix: tokenPrefixSchema.optional(),
    /**
     * A fixed token shape the gateway knows, for issuers whose tokens have no
     * prefix (see {@linkcode TOKEN_FORMATS}); instead of `token_prefix`.
     */
    token_format: tokenFormatSchema.optional(),
    /** Length bounds of this issuer's opaque tokens, prefix included. */
    token_length: z.strictObject({
      min: z.number().int().min(8).max(8192),
      max: z.number().int().min(8).max(8192),
    }).refine((l) => l.min <= l.max, {
      error: "Invalid token_length: expected min <= max",
    }).optional(),
    client_id: z.string().min(1).max(256),
    client_secret: secretRefSchema,
    /** Longest time an answer is reused, in seconds. */
    cache_seconds: z.number().int().min(0).max(300).default(120),
  }).refine((i) => (i.token_prefix === undefined) !== (i.token_format === undefined), {
    error:
      "Invalid introspection: expected token_prefix (the prefix every opaque token of this issuer starts with) or token_format (tsidp), exactly one, so only such tokens are sent to it",
  }).refine((i) => i.token_format === undefined || i.token_length === undefined, {
    error:
      "Invalid introspection: token_length applies to token_prefix; token_format fixes the length",
  }).optional(),
  /**
   * Which JWTs from this issuer are taken as access tokens. `false`: none —
   * its access tokens are opaque and introspected, so any JWT it signed (an
   * ID token) is refused; the default for `token_format: tsidp`.
   * `{ typ: [at+jwt] }`: only RFC 9068 tokens. Default `{ typ: [at+jwt, jwt] }`
   * (`jwt` also admits a token without `typ`). See src/auth/access_token_kind.ts
   * for what else marks a JWT as not an access token.
   */
  jwt: z.union([
    z.literal(false),
    z.strictObject({
      // One check on the list, not z.enum per item: inside a union only a
      // non-aborting check keeps its own message (else "Invalid input").
      typ: z.array(z.string())
        .min(1, { error: "Invalid jwt.typ: expected at least one value, or jwt: false" })
        .refine((typs) => typs.every(isAccessTokenTyp), {
          error: (issue) =>
            `Invalid jwt.typ ${
              JSON.stringify((issue.input as string[]).find((t) => !isAccessTokenTyp(t)))
            }: expected one of ${ACCESS_TOKEN_TYPS.join(", ")}`,
        })
        .transform((typs) => typs as typeof ACCESS_TOKEN_TYPS[number][]),
    }),
  ], {
    error: (issue) =>
      typeof issue.input === "object" && issue.input !== null
        ? undefined
        : `Invalid jwt ${
          JSON.stringify(issue.input)
        }: expected false (no JWT access tokens from this issuer) or { typ: [at+jwt, jwt] }`,
  }).optional(),
  /**
   * The OAuth scopes clients should request from this issuer (advertised in
   * the challenge and the resource metadata). Default: the gateway's scope
   * names. An issuer that refuses unknown scopes needs its own list here —
   * tsidp accepts only `openid`, `email` and `profile`. The gateway never
   * reads scopes from tokens: roles come from `identities.bindings`.
   */
  scopes: z.array(
    z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, {
      error: (issue) =>
        `Invalid scope ${
          JSON.stringify(issue.input)
        }: expected 1 to 128 printable characters without space, quote or backslash`,
    }),
  ).min(1, { error: "Invalid scopes: expected at least one, or leave scopes out" }).max(32)
    .optional(),
});

/** The `auth` section. Every credential type is off unless its key says otherwise. */
export const authConfigSchema = z.strictObject({
  /** Canonical resource URI; the CLI may supply it instead (`--public-url`). */
  resource: resourceUriSchema.optional(),
  /** Accept the bootstrap admin token from `STATE/admin.token`. */
  admin_token: z.boolean().default(true),
  /** Gateway-signed tokens (`tailops token mint`). */
  gateway_tokens: z.strictObject({
    enabled: z.boolean().default(true),
    max_ttl_seconds: z.number().int().min(60).max(MAX_TOKEN_TTL_SECONDS)
      .default(MAX_TOKEN_TTL_SECONDS),
  }).default({ enabled: true, max_ttl_seconds: MAX_TOKEN_TTL_SECONDS }),
  /** Trusted authorization servers. */
  oidc: z.array(oidcIssuerSchema).max(16).default([]),
  /** Clock skew allowed on `exp`/`nbf`, at most 60 s. */
  clock_skew_seconds: z.number().int().min(0).max(60).default(60),
  /**
   * Tailscale identity headers from `tailscale serve` on the same host,
   * trusted only on the private socket `STATE/tailscale/serve.sock`.
   */
  tailscale: z.strictObject({ enabled: z.boolean().default(false) }).default({ enabled: false }),
});

/** A validated OIDC issuer entry. */
export type OidcIssuerConfig = z.infer<typeof oidcIssuerSchema>;
/** The validated `auth` section. */
export type AuthConfig = z.infer<typeof authConfigSchema>;
