/**
 * The authenticator: one function from a Web `Request` to an identity or a
 * refusal. Credentials are tried by the token's shape: a JWT is a gateway
 * token (its `typ`) or an OIDC access token (a configured `iss`); an opaque
 * token is the bootstrap admin token or is introspected; a request without a
 * token may come from a Tailscale user through `tailscale serve`, but only on
 * the private unix socket (`STATE/tailscale/serve.sock`): on TCP any local
 * process could write those headers.
 *
 * @module
 */
import { type AuthConfig, authConfigSchema } from "../config/auth_schema.ts";
import type { IdentitiesConfig } from "../config/identities_schema.ts";
import type { SecretResolver } from "../config/secret.ts";
import { isJwtShaped, readBearer } from "./bearer.ts";
import { compileBindings } from "./bindings.ts";
import { loadAdminTokenVerifier } from "./bootstrap_token.ts";
import { insufficientScope, unauthorized } from "./challenge.ts";
import { metadataLoader, type ServerMetadata } from "./discovery.ts";
import { createGatewayTokenVerifier } from "./gateway_tokens.ts";
import { createIntrospector } from "./introspection.ts";
import { advertisedScopes, resolveResource } from "./metadata.ts";
import { createOidcVerifier } from "./oidc.ts";
import { readTailscaleHeaders } from "./tailscale.ts";
import type { TokenStore } from "./token_ledger.ts";
import type { Authenticator, AuthOutcome, ConnectionInfo, Principal } from "./types.ts";

/** The configuration the authenticator reads: a policy file's two sections. */
export interface AuthenticatorConfig {
  /** The `auth` section; defaults apply when absent. */
  auth?: AuthConfig;
  /** The `identities` section; absent means admin token and local user only. */
  identities?: IdentitiesConfig;
}

/** Where state lives and what can be injected. */
export interface AuthenticatorOptions {
  /** The gateway's state directory (keys, admin token, revocations). */
  stateDir: string;
  /** Canonical resource URI; overrides `auth.resource`. */
  resource?: string;
  /** Clock in milliseconds since the epoch (tests inject one). */
  now?: () => number;
  /** Reads `${ENV}` and `file:` secret references (tests inject one). */
  secrets?: SecretResolver;
  /** Minimum time between JWKS fetches per issuer, in milliseconds; default 30 s. */
  jwksCooldownMs?: number;
  /** Where the token ledger and revocations are kept; default the state directory's files. */
  tokens?: TokenStore;
}

/** Verifies one presented token; `string` is the reason it was rejected. */
type TokenVerifier = (token: string) => Promise<Principal | string | undefined>;

const UNKNOWN = "Invalid token: expected a token this gateway accepts, found an unknown one";

/**
 * Builds the authenticator from configuration.
 *
 * Needs `read` for the state directory, `env`/`read` for secret references,
 * and `net` for the configured issuers.
 *
 * @param config The `auth` and `identities` sections of the policy.
 * @param options State directory, resource URI override, clock, secret resolver.
 * @returns The authenticator.
 * @throws {TypeError} When no resource URI is configured.
 * @throws {Error} When key or token files are unreadable or too open, or a secret is unset.
 */
export async function createAuthenticator(
  config: AuthenticatorConfig,
  options: AuthenticatorOptions,
): Promise<Authenticator> {
  const auth = config.auth ?? authConfigSchema.parse({});
  const resource = resolveResource(auth, options.resource);
  const now = options.now ?? Date.now;
  const skewSeconds = auth.clock_skew_seconds;
  const resolve = compileBindings(config.identities);
  for (const issuer of auth.oidc) {
    const secret = issuer.introspection?.client_secret;
    if (secret && !secret.resolved) await secret.resolve(options.secrets);
  }
  const loaders = new Map(auth.oidc.map((i) => [i.issuer, metadataLoader(i.issuer, now)]));
  const metadata = (issuer: string): Promise<ServerMetadata> => loaders.get(issuer)!();

  const jwtVerifiers: TokenVerifier[] = [];
  const opaqueVerifiers: TokenVerifier[] = [];
  if (auth.gateway_tokens.enabled) {
    const { max_ttl_seconds: maxTtlSeconds } = auth.gateway_tokens;
    jwtVerifiers.push(
      await createGatewayTokenVerifier(options.stateDir, {
        resource,
        maxTtlSeconds,
        skewSeconds,
        now,
        tokens: options.tokens,
      }),
    );
  }
  if (auth.oidc.length > 0) {
    const shared = { resource, skewSeconds, now, metadata };
    jwtVerifiers.push(
      createOidcVerifier(auth.oidc, { ...shared, jwksCooldownMs: options.jwksCooldownMs }),
    );
    opaqueVerifiers.push(createIntrospector(auth.oidc, shared));
  }
  if (auth.admin_token) {
    const isAdmin = await loadAdminTokenVerifier(options.stateDir);
    opaqueVerifiers.unshift(async (token) =>
      (await isAdmin(token)) ? { kind: "admin" } : undefined
    );
  }

  async function verify(token: string): Promise<Principal | string> {
    try {
      for (const verifier of isJwtShaped(token) ? jwtVerifiers : opaqueVerifiers) {
        const result = await verifier(token);
        if (result !== undefined) return result;
      }
    } catch {
      // Fail closed: a state file that cannot be read refuses the token.
      return "Invalid token: it cannot be verified now";
    }
    return UNKNOWN;
  }

  // Metadata is served only when it can name an authorization server.
  const target = { resource, metadata: auth.oidc.length > 0, scopes: advertisedScopes(auth) };
  return Object.freeze({
    resource,
    async authenticate(request: Request, info: ConnectionInfo): Promise<AuthOutcome> {
      const bearer = readBearer(request.headers);
      const tailscale = readTailscaleHeaders(request.headers);
      // The channel, not the peer address: every local user can reach loopback TCP.
      const trusted = auth.tailscale.enabled && info.channel === "tailscale_socket";
      const flag = tailscale.present && !trusted ? { ignoredTailscaleHeaders: true as const } : {};
      let principal: Principal | string;
      if (bearer.kind === "malformed") {
        principal = bearer.reason;
      } else if (bearer.kind === "token") {
        principal = await verify(bearer.token);
      } else if (trusted && tailscale.present && tailscale.login !== undefined) {
        const { login, name } = tailscale;
        principal = { kind: "tailscale", login, ...(name !== undefined ? { name } : {}) };
      } else {
        return { ...unauthorized(target), ...flag };
      }
      if (typeof principal === "string") return { ...unauthorized(target, principal), ...flag };
      const identity = resolve(principal);
      if (identity.scopes.size === 0) {
        return { ...insufficientScope(target, identity.subject), ...flag };
      }
      return { ok: true, identity, principal, ...flag };
    },
  });
}
