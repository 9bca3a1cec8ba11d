/**
 * Reads the bearer token from an `Authorization` header (RFC 6750 §2.1; the
 * MCP spec forbids tokens in query strings, so only the header is read).
 *
 * @module
 */

/** What the `Authorization` header held. */
export type BearerResult =
  | { readonly kind: "none" }
  | { readonly kind: "malformed"; readonly reason: string }
  | { readonly kind: "token"; readonly token: string };

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Longest token accepted, in characters. */
export const MAX_TOKEN_LENGTH = 8192;

/**
 * Extracts the bearer token from a request.
 *
 * @param headers The request headers.
 * @returns The token, nothing, or why the header cannot be used.
 */
export function readBearer(headers: Headers): BearerResult {
  const value = headers.get("authorization");
  if (value === null) return { kind: "none" };
  const match = /^Bearer +(\S+)$/i.exec(value.trim());
  if (!match) {
    return { kind: "malformed", reason: 'Invalid Authorization header: expected "Bearer TOKEN"' };
  }
  const token = match[1];
  if (token.length > MAX_TOKEN_LENGTH || !TOKEN68.test(token)) {
    return {
      kind: "malformed",
      reason: `Invalid bearer token: expected at most ${MAX_TOKEN_LENGTH} token68 characters`,
    };
  }
  return { kind: "token", token };
}

/**
 * Whether a token has the shape of a compact JWS: three base64url segments.
 *
 * @param token A bearer token.
 * @returns `true` for `xxx.yyy.zzz` (the signature may be empty, as in `alg: none`).
 */
export function isJwtShaped(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
