/**
 * The authenticator's contract: a Web `Request` in, an identity or a refusal
 * out. No framework types, so any HTTP layer can call it.
 *
 * @module
 */
import type { Identity } from "../gate/identity.ts";

/** Who proved what, before roles are applied. */
export type Principal =
  /** The bootstrap admin token from `STATE/admin.token`. */
  | { readonly kind: "admin" }
  /** A token minted by this gateway (`tailops token mint`). */
  | {
    readonly kind: "gateway_token";
    readonly sub: string;
    readonly role: string;
    readonly jti: string;
    /** Expiry, seconds since the epoch. */
    readonly exp: number;
  }
  /** An OAuth 2.1 / OIDC access token from a configured issuer. */
  | {
    readonly kind: "oidc";
    readonly issuer: string;
    readonly sub: string;
    readonly email?: string;
    readonly groups: readonly string[];
    /** Expiry, seconds since the epoch. */
    readonly exp: number;
    /** Whether it was a JWT or an introspected opaque token. */
    readonly via: "jwt" | "introspection";
  }
  /** A tailnet user, vouched for by `tailscale serve` on this host through the private socket. */
  | { readonly kind: "tailscale"; readonly login: string; readonly name?: string }
  /** The local user of the stdio transport. */
  | { readonly kind: "local"; readonly user: string };

/** A principal established by an OAuth 2.1 / OIDC access token. */
export type OidcPrincipal = Extract<Principal, { kind: "oidc" }>;

/** The body of a refusal, as RFC 6750 names its fields. */
export interface AuthErrorBody {
  /** `invalid_token`, `invalid_request` or `insufficient_scope`. */
  error: string;
  /** A sentence for humans. */
  error_description: string;
}

/** What the authenticator decided about one request. */
export type AuthOutcome =
  | {
    readonly ok: true;
    readonly identity: Identity;
    readonly principal: Principal;
    /** Set when Tailscale identity headers were present but not trusted (log it). */
    readonly ignoredTailscaleHeaders?: true;
  }
  | {
    readonly ok: false;
    readonly status: 401 | 403;
    /** Includes `WWW-Authenticate`. */
    readonly headers: Record<string, string>;
    readonly body: AuthErrorBody;
    /** Set when Tailscale identity headers were present but not trusted (log it). */
    readonly ignoredTailscaleHeaders?: true;
  };

/** Facts about the connection that the request itself does not carry. */
export interface ConnectionInfo {
  /** The peer's IP address, without port (empty on a unix socket). */
  remoteAddr: string;
  /**
   * The listener the request arrived on, as the server (never the request)
   * says: `tailscale_socket` is the private socket `tailscale serve` proxies
   * to, the only channel whose Tailscale identity headers are trusted.
   * Absent means the TCP listener.
   */
  channel?: "tcp" | "tailscale_socket";
}

/** Turns HTTP requests into identities. */
export interface Authenticator {
  /** The canonical resource URI tokens must be issued for. */
  readonly resource: string;
  /**
   * Authenticates one request.
   *
   * @param request The incoming request; only its headers are read.
   * @param info The peer address and the listener it came through.
   * @returns The identity, or the status, headers and body to refuse with.
   */
  authenticate(request: Request, info: ConnectionInfo): Promise<AuthOutcome>;
}
