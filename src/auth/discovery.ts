/**
 * Authorization server metadata discovery: OpenID Connect Discovery first,
 * then RFC 8414. The document must name the configured issuer exactly.
 *
 * @module
 */
import { z } from "zod";

/** The fields of an authorization server's metadata the gateway uses. */
export const serverMetadataSchema = z.looseObject({
  issuer: z.string(),
  jwks_uri: z.url({ protocol: /^https?$/ }).optional(),
  introspection_endpoint: z.url({ protocol: /^https?$/ }).optional(),
});

/** Validated server metadata. */
export type ServerMetadata = z.infer<typeof serverMetadataSchema>;

/** Biggest metadata document accepted, in bytes. */
export const MAX_METADATA_BYTES = 256 * 1024;

/** How long fetched metadata is reused, in milliseconds. */
export const METADATA_TTL_MS = 60 * 60 * 1000;

/**
 * The URLs metadata is looked for at, in order.
 *
 * @param issuer The issuer identifier.
 * @returns OIDC discovery (appended), RFC 8414 (inserted), OIDC (inserted).
 */
export function discoveryUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return [
    ...new Set([
      `${url.origin}${path}/.well-known/openid-configuration`,
      `${url.origin}/.well-known/oauth-authorization-server${path}`,
      `${url.origin}/.well-known/openid-configuration${path}`,
    ]),
  ];
}

/**
 * Fetches JSON with a timeout and a size cap, refusing redirects.
 *
 * Needs `net` permission for the URL's host.
 *
 * @param url Where.
 * @param init Extra request options.
 * @returns The parsed body, or `undefined` on any failure.
 */
export async function fetchJson(url: string, init: RequestInit = {}): Promise<unknown> {
  try {
    const response = await fetch(url, {
      ...init,
      redirect: "error",
      signal: AbortSignal.timeout(5000),
      headers: { accept: "application/json", ...init.headers },
    });
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    const text = await response.text();
    return text.length > MAX_METADATA_BYTES ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A cached metadata lookup for one issuer. Failures are not cached.
 *
 * Needs `net` permission for the issuer's host.
 *
 * @param issuer The issuer identifier, as configured.
 * @param now Clock in milliseconds since the epoch.
 * @returns A function that resolves to the metadata.
 * @throws {Error} (from the returned function) When no document names this issuer.
 */
export function metadataLoader(issuer: string, now: () => number): () => Promise<ServerMetadata> {
  let cached: { metadata: ServerMetadata; until: number } | undefined;
  return async function loadMetadata() {
    if (cached && cached.until > now()) return cached.metadata;
    for (const url of discoveryUrls(issuer)) {
      const result = serverMetadataSchema.safeParse(await fetchJson(url));
      if (result.success && result.data.issuer === issuer) {
        cached = { metadata: result.data, until: now() + METADATA_TTL_MS };
        return result.data;
      }
    }
    throw new Error(
      `Cannot discover issuer ${JSON.stringify(issuer)}: expected metadata naming it, found none`,
    );
  };
}
