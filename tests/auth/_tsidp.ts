/**
 * A tsidp-shaped authorization server on loopback for tests, built from what
 * Tailscale's tsidp (github.com/tailscale/tsidp, server/*.go) does:
 *
 * - metadata at `/.well-known/openid-configuration` and
 *   `/.well-known/oauth-authorization-server` with its fields (introspection,
 *   registration, `resource_indicators_supported`, PKCE plain and S256, client
 *   secret basic/post only), keys at `/.well-known/jwks.json` (RS256);
 * - `/register` (RFC 7591) only with the `allow_dcr` grant; client ids are 32
 *   and secrets 64 lowercase hex characters; the requested auth method is
 *   stored as given, and a secret is always issued;
 * - `/authorize` checks the client and the exact redirect URI, accepts only
 *   the scopes `openid`, `email`, `profile` (others: `invalid_scope` through
 *   the redirect), ignores `resource`, and issues a code for the tailnet user
 *   (here one fixed user instead of WhoIs);
 * - `/token` requires the client's secret (basic or post), checks PKCE, and
 *   takes `resource` (RFC 8707) only when the user's grant lists it: the
 *   audience is then `[client_id, ...resources]`, else `[client_id]`. Access
 *   and refresh tokens are 32 lowercase hex characters; access tokens live
 *   5 minutes, `nbf` is 5 minutes before issue;
 * - `/introspect` answers `active`, `client_id`, `exp`, `iat`, `nbf`, `iss`,
 *   `jti`, `sub` (the numeric user id), `username` (the login name), `email`
 *   with the `email` scope, `aud` and `scope`.
 *
 * Stricter than tsidp on purpose: tsidp also answers a loopback or tailnet
 * caller without client credentials; this one answers `active: false` unless
 * a registered client authenticates, so a test proves the gateway sends them.
 *
 * @module
 */
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { createHash } from "node:crypto";

/** The tailnet user `/authorize` signs in (tsidp learns it from WhoIs). */
export const TSIDP_USER = { uid: 7001, login: "alice@example.com" } as const;

const SCOPES = ["openid", "email", "profile"];
const TOKEN_SECONDS = 300;

/** A registered client, as tsidp stores it. */
interface Client {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  token_endpoint_auth_method: string;
  grant_types: string[];
  response_types: string[];
  client_name?: string;
}

interface Grant {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  challenge?: { value: string; method: string };
  resources: string[];
  exp: number;
  iat: number;
}

/** What the test issuer's tailnet grant (`tailscale.com/cap/tsidp`) allows. */
export interface TsidpGrant {
  /** `allow_dcr`: dynamic client registration. */
  allowDcr: boolean;
  /** `resources`: what a token request may name as `resource` (`*` for any). */
  resources: string[];
}

/** A running tsidp-shaped issuer. */
export interface TsidpIssuer extends AsyncDisposable {
  /** The issuer identifier (`http://127.0.0.1:PORT`, no trailing slash, as tsidp's server URL). */
  readonly issuer: string;
  /** The grant in force; tests may change it. */
  readonly grant: TsidpGrant;
  /** Requests served, by path. */
  readonly hits: Map<string, number>;
  /** Registers a client as the admin UI does (for the gateway's introspection credentials). */
  addClient(redirectUris?: string[]): { id: string; secret: string };
  /** Issues an access token directly, as `/token` would (for tests that skip the browser). */
  issue(options: { clientId: string; resources?: string[]; scopes?: string[] }): string;
  /** Stops the server. */
  close(): Promise<void>;
}

const hex = (chars: number) =>
  Array.from(
    crypto.getRandomValues(new Uint8Array(chars / 2)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");

const oauthError = (status: number, error: string, description: string) =>
  Response.json({ error, error_description: description }, { status });

/**
 * Starts the tsidp-shaped issuer on 127.0.0.1, port chosen by the system.
 *
 * @param grant The tailnet grant; default DCR allowed and no resources.
 * @returns The running issuer.
 */
export async function startTsidp(
  grant: TsidpGrant = { allowDcr: true, resources: [] },
): Promise<TsidpIssuer> {
  const key = await generateKeyPair("RS256", { extractable: true });
  const kid = String(Date.now());
  const clients = new Map<string, Client>();
  const codes = new Map<string, Grant>();
  const accessTokens = new Map<string, Grant & { jti: string }>();
  const refreshTokens = new Map<string, Grant>();
  const hits = new Map<string, number>();
  let issuer = "";

  function addClient(redirectUris: string[] = [], method = "client_secret_basic") {
    const client: Client = {
      client_id: hex(32),
      client_secret: hex(64),
      redirect_uris: redirectUris,
      token_endpoint_auth_method: method,
      grant_types: ["authorization_code"],
      response_types: ["code"],
    };
    clients.set(client.client_id, client);
    return client;
  }

  function authenticatedClient(req: Request, form: URLSearchParams): Client | undefined {
    let id = form.get("client_id") ?? "", secret = form.get("client_secret") ?? "";
    const basic = /^Basic (.+)$/.exec(req.headers.get("authorization") ?? "");
    if (basic) {
      const decoded = atob(basic[1]);
      const colon = decoded.indexOf(":");
      id = decodeURIComponent(decoded.slice(0, colon));
      secret = decodeURIComponent(decoded.slice(colon + 1));
    }
    const client = clients.get(id);
    return client && secret !== "" && client.client_secret === secret ? client : undefined;
  }

  function allowedResources(requested: string[]): string[] {
    return requested.filter((r) => grant.resources.includes("*") || grant.resources.includes(r));
  }

  function metadata(oidc: boolean) {
    return {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      introspection_endpoint: `${issuer}/introspect`,
      registration_endpoint: `${issuer}/register`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      response_types_supported: ["id_token", "code"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      scopes_supported: SCOPES,
      token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic"],
      code_challenge_methods_supported: ["plain", "S256"],
      ...(oidc
        ? {
          userinfo_endpoint: `${issuer}/userinfo`,
          subject_types_supported: ["public"],
          id_token_signing_alg_values_supported: ["RS256"],
        }
        : {
          resource_indicators_supported: true,
          authorization_details_types_supported: ["resource_indicators"],
        }),
    };
  }

  async function register(req: Request): Promise<Response> {
    if (!grant.allowDcr) {
      return oauthError(403, "access_denied", "application capability not granted");
    }
    let body: Record<string, unknown>;
    try {
      body = await req.json();
    } catch {
      return oauthError(400, "invalid_request", "invalid request body");
    }
    const uris = Array.isArray(body.redirect_uris) ? body.redirect_uris.map(String) : [];
    if (uris.length === 0) {
      return oauthError(400, "invalid_client_metadata", "redirect_uris is required");
    }
    const client = addClient(
      uris,
      String(body.token_endpoint_auth_method ?? "client_secret_basic"),
    );
    if (Array.isArray(body.grant_types)) client.grant_types = body.grant_types.map(String);
    if (typeof body.client_name === "string") client.client_name = body.client_name;
    return Response.json(client, { status: 201 });
  }

  function authorize(url: URL): Response {
    const q = url.searchParams;
    const redirectUri = q.get("redirect_uri") ?? "";
    if (redirectUri === "") return oauthError(400, "invalid_request", "must specify redirect_uri");
    const client = clients.get(q.get("client_id") ?? "");
    if (client === undefined) return oauthError(400, "invalid_client", "invalid client ID");
    if (!client.redirect_uris.includes(redirectUri)) {
      return oauthError(400, "invalid_request", "redirect_uri mismatch");
    }
    const back = new URL(redirectUri);
    const state = q.get("state");
    const scopes = (q.get("scope") ?? "").split(" ").filter((s) => s !== "");
    const unknown = scopes.find((s) => !SCOPES.includes(s));
    if (unknown !== undefined) {
      back.searchParams.set("error", "invalid_scope");
      back.searchParams.set("error_description", `invalid scope: unsupported scope: "${unknown}"`);
      if (state) back.searchParams.set("state", state);
      return Response.redirect(back, 302);
    }
    const code = hex(32);
    const challenge = q.get("code_challenge");
    codes.set(code, {
      clientId: client.client_id,
      redirectUri,
      scopes: scopes.length > 0 ? scopes : ["openid"],
      ...(challenge
        ? { challenge: { value: challenge, method: q.get("code_challenge_method") ?? "plain" } }
        : {}),
      resources: [],
      iat: 0,
      exp: 0,
    });
    back.searchParams.set("code", code);
    if (state) back.searchParams.set("state", state);
    return Response.redirect(back, 302);
  }

  async function issueTokens(granted: Grant): Promise<Response> {
    const iat = Math.floor(Date.now() / 1000);
    const at = hex(32), rt = hex(32), jti = hex(32);
    const audience = [granted.clientId, ...granted.resources];
    const idToken = await new SignJWT({
      sub: String(TSIDP_USER.uid),
      ...(granted.scopes.includes("email") ? { email: TSIDP_USER.login } : {}),
      ...(audience.length > 1 ? { azp: granted.clientId } : {}),
    }).setProtectedHeader({ alg: "RS256", kid, typ: "JWT" }).setIssuer(issuer)
      .setAudience(audience).setIssuedAt(iat).setExpirationTime(iat + TOKEN_SECONDS)
      .setNotBefore(iat - 300).setJti(jti).sign(key.privateKey);
    accessTokens.set(at, { ...granted, iat, exp: iat + TOKEN_SECONDS, jti });
    refreshTokens.set(rt, { ...granted, iat, exp: iat + 30 * 86400 });
    return Response.json({
      id_token: idToken,
      token_type: "Bearer",
      access_token: at,
      refresh_token: rt,
      expires_in: TOKEN_SECONDS,
    });
  }

  async function token(req: Request): Promise<Response> {
    const form = new URLSearchParams(await req.text());
    const grantType = form.get("grant_type");
    const store = grantType === "authorization_code"
      ? codes
      : grantType === "refresh_token"
      ? refreshTokens
      : undefined;
    if (store === undefined) {
      return oauthError(400, "unsupported_grant_type", "unsupported grant type");
    }
    const handle = form.get(grantType === "authorization_code" ? "code" : "refresh_token") ?? "";
    const granted = store.get(handle);
    store.delete(handle);
    if (
      granted === undefined || (grantType === "refresh_token" && granted.exp * 1000 < Date.now())
    ) {
      return oauthError(400, "invalid_grant", "code not found");
    }
    const client = authenticatedClient(req, form);
    if (client === undefined || client.client_id !== granted.clientId) {
      return oauthError(401, "invalid_client", "client authentication failed");
    }
    if (grantType === "authorization_code") {
      if (form.get("redirect_uri") !== granted.redirectUri) {
        return oauthError(400, "invalid_request", "redirect_uri mismatch");
      }
      if (granted.challenge) {
        const verifier = form.get("code_verifier") ?? "";
        const computed = granted.challenge.method === "S256"
          ? createHash("sha256").update(verifier).digest("base64url")
          : verifier;
        if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || computed !== granted.challenge.value) {
          return oauthError(400, "invalid_grant", "code verification failed");
        }
      }
    }
    const requested = form.getAll("resource");
    let next = granted;
    if (requested.length > 0) {
      const resources = allowedResources(requested);
      if (resources.length === 0) return oauthError(400, "invalid_request", "invalid resource");
      if (
        grantType === "refresh_token" && granted.resources.length > 0 &&
        resources.some((r) => !granted.resources.includes(r))
      ) {
        return oauthError(400, "invalid_request", "requested resource not in original grant");
      }
      next = { ...granted, resources };
    }
    return await issueTokens(next);
  }

  async function introspect(req: Request): Promise<Response> {
    const form = new URLSearchParams(await req.text());
    const tokenValue = form.get("token") ?? "";
    if (tokenValue === "") return oauthError(400, "invalid_request", "token is required");
    const found = accessTokens.get(tokenValue);
    if (found === undefined || found.exp * 1000 < Date.now()) {
      return Response.json({ active: false });
    }
    if (authenticatedClient(req, form) === undefined) return Response.json({ active: false });
    return Response.json({
      active: true,
      client_id: found.clientId,
      exp: found.exp,
      iat: found.iat,
      nbf: found.iat - 300,
      token_type: "Bearer",
      iss: issuer,
      jti: found.jti,
      sub: String(TSIDP_USER.uid),
      username: TSIDP_USER.login,
      ...(found.scopes.includes("email") ? { email: TSIDP_USER.login } : {}),
      aud: [found.clientId, ...found.resources],
      scope: found.scopes.join(" "),
    });
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    switch (`${req.method} ${url.pathname}`) {
      case "GET /.well-known/openid-configuration":
        return Response.json(metadata(true));
      case "GET /.well-known/oauth-authorization-server":
        return Response.json(metadata(false));
      case "GET /.well-known/jwks.json":
        return Response.json({
          keys: [{ ...(await exportJWK(key.publicKey)), alg: "RS256", use: "sig", kid }],
        });
      case "POST /register":
        return await register(req);
      case "GET /authorize":
      case "POST /authorize":
        return authorize(url);
      case "POST /token":
        return await token(req);
      case "POST /introspect":
        return await introspect(req);
    }
    return oauthError(404, "not_found", "not found");
  });
  issuer = `http://127.0.0.1:${server.addr.port}`;
  const close = () => server.shutdown();
  return {
    issuer,
    grant,
    hits,
    addClient(redirectUris = []) {
      const client = addClient(redirectUris);
      return { id: client.client_id, secret: client.client_secret };
    },
    issue({ clientId, resources = [], scopes = ["openid"] }) {
      const at = hex(32);
      const iat = Math.floor(Date.now() / 1000);
      accessTokens.set(at, {
        clientId,
        redirectUri: "",
        scopes,
        resources: allowedResources(resources),
        iat,
        exp: iat + TOKEN_SECONDS,
        jti: hex(32),
      });
      return at;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
