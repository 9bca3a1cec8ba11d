/**
 * RFC 9728 protected resource metadata, and the canonical resource URI that
 * tokens must be issued for.
 *
 * @module
 */
import type { AuthConfig } from "../config/auth_schema.ts";
import { SCOPE_NAMES } from "../config/capabilities.ts";

/** The well-known path prefix of RFC 9728. */
export const PRM_PATH = "/.well-known/oauth-protected-resource";

/**
 * Normalises a resource URI: lowercase scheme and host, no trailing slash
 * except for the root, no fragment.
 *
 * @param resource An http(s) URI.
 * @returns The canonical form.
 * @throws {TypeError} When it is not an http(s) URI or has a query or fragment.
 */
export function canonicalResource(resource: string): string {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    throw new TypeError(`Invalid resource URI: expected an absolute URL, found "${resource}"`);
  }
  if (!/^https?:$/.test(url.protocol) || url.search || url.hash || url.username) {
    throw new TypeError(
      `Invalid resource URI: expected http(s) without query, fragment or user, found "${resource}"`,
    );
  }
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.protocol}//${url.host}${path}`;
}

/**
 * Picks the canonical resource URI from an override or the config.
 *
 * @param config The `auth` section.
 * @param override A URI given on the command line, which wins.
 * @returns The canonical resource URI.
 * @throws {TypeError} When neither gives one, or it is malformed.
 */
export function resolveResource(config: AuthConfig, override?: string): string {
  const resource = override ?? config.resource;
  if (resource === undefined) {
    throw new TypeError(
      "Cannot authenticate: expected a resource URI in auth.resource or --public-url, found none",
    );
  }
  return canonicalResource(resource);
}

/**
 * The metadata URL for a resource: the well-known prefix inserted between
 * host and path (`https://h/mcp` → `https://h/.well-known/oauth-protected-resource/mcp`).
 *
 * @param resource The canonical resource URI.
 * @returns The URL clients fetch the metadata from.
 */
export function resourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === "/" ? "" : url.pathname;
  return `${url.origin}${PRM_PATH}${path}`;
}

/**
 * The OAuth scopes clients are told to request: the union of each issuer's
 * `scopes`, or the gateway's scope names for an issuer without them (and when
 * there is no issuer). Scopes are only what a client asks its authorization
 * server for; roles come from `identities.bindings`.
 *
 * @param config The `auth` section.
 * @returns The scope names, in first-seen order.
 */
export function advertisedScopes(config: AuthConfig): string[] {
  if (config.oidc.length === 0) return [...SCOPE_NAMES];
  return [
    ...new Set(config.oidc.flatMap((issuer): readonly string[] => issuer.scopes ?? SCOPE_NAMES)),
  ];
}

/** The RFC 9728 document. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: ["header"];
  resource_name: string;
}

/**
 * The protected resource metadata document and the paths to serve it at.
 * Without an authorization server (no `auth.oidc` issuer) there is none: the
 * MCP authorization spec requires at least one in `authorization_servers`,
 * and an empty list sends OAuth-only clients into a registration that fails.
 *
 * @param config The `auth` section.
 * @param options `resource` overrides `auth.resource`.
 * @returns The document and the request paths (plain and path-suffixed), or
 *   `undefined` when no issuer is configured.
 * @throws {TypeError} When no valid resource URI is known.
 */
export function protectedResourceMetadata(
  config: AuthConfig,
  options: { resource?: string } = {},
): { document: ProtectedResourceMetadata; paths: string[] } | undefined {
  if (config.oidc.length === 0) return undefined;
  const resource = resolveResource(config, options.resource);
  const suffixed = new URL(resourceMetadataUrl(resource)).pathname;
  return {
    document: {
      resource,
      authorization_servers: config.oidc.map((issuer) => issuer.issuer),
      scopes_supported: advertisedScopes(config),
      bearer_methods_supported: ["header"],
      resource_name: "TailOpsMCP gateway",
    },
    paths: [...new Set([PRM_PATH, suffixed])],
  };
}
