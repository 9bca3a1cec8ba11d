/**
 * The authenticator: one function from a Web `Request` to an identity or a
 * refusal. Credentials are tried by the token's shape: a JWT is a gateway
 * token (known `kid`) or an OIDC access token (configured `iss`); an opaque
 * token is the bootstrap admin token or is introspected; no token at all may
 * be a Tailscale user on loopback.
 *
 * @module
 */
import { type AuthConfig, authConfigSchema } from "../config/auth_schema.ts";
import type { IdentitiesConfig } from "../config/identities_schema.ts";
import { readBearer } from "./bearer.ts";
import { compileBindings } from "./bindings.ts";
import { loadAdminTokenVerifier } from "./bootstrap_token.ts";
import { insufficientScope, unauthorized } from "./challenge.ts";
import { resolveResource } from "./metadata.ts";
import type { Authenticator, AuthOutcome, Principal } from "./types.ts";

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
}

/** Verifies one presented token; `string` is the reason it was rejected. */
type TokenVerifier = (token: string) => Promise<Principal | string | undefined>;

/**
 * Builds the authenticator from configuration.
 *
 * Needs `read` for the state directory and `net` for the configured issuers.
 *
 * @param config The `auth` and `identities` sections of the policy.
 * @param options State directory, resource URI override, clock.
 * @returns The authenticator.
 * @throws {TypeError} When no resource URI is configured.
 * @throws {Error} When key or token files are unreadable or too open.
 */
export async function createAuthenticator(
  config: AuthenticatorConfig,
  options: AuthenticatorOptions,
): Promise<Authenticator> {
  const auth = config.auth ?? authConfigSchema.parse({});
  const resource = resolveResource(auth, options.resource);
  const resolve = compileBindings(config.identities);
  const verifiers: TokenVerifier[] = [];
  if (auth.admin_token) {
    const isAdmin = await loadAdminTokenVerifier(options.stateDir);
    verifiers.push(async (token) => (await isAdmin(token)) ? { kind: "admin" } : undefined);
  }

  async function verify(token: string): Promise<Principal | string> {
    for (const verifier of verifiers) {
      const result = await verifier(token);
      if (result !== undefined) return result;
    }
    return "Invalid token: expected a token this gateway accepts, found an unknown one";
  }

  return Object.freeze({
    resource,
    async authenticate(request: Request): Promise<AuthOutcome> {
      const bearer = readBearer(request.headers);
      if (bearer.kind === "malformed") return unauthorized(resource, bearer.reason);
      if (bearer.kind === "none") return unauthorized(resource);
      const principal = await verify(bearer.token);
      if (typeof principal === "string") return unauthorized(resource, principal);
      const identity = resolve(principal);
      if (identity.scopes.size === 0) return insufficientScope(resource, identity.subject);
      return { ok: true, identity, principal };
    },
  });
}
