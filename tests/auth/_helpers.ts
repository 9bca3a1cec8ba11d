/**
 * Shared test helpers: temporary state directories and requests.
 *
 * @module
 */

/**
 * Creates a temporary state directory.
 *
 * @returns Its path.
 */
export async function tempStateDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "tailops-auth-" });
}

/**
 * A request to `/mcp` with optional bearer token and extra headers.
 *
 * @param token Bearer token, if any.
 * @param headers Extra headers.
 * @returns The request.
 */
export function mcpRequest(token?: string, headers: Record<string, string> = {}): Request {
  return new Request("http://127.0.0.1:8080/mcp", {
    method: "POST",
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
}

/** The resource URI the tests use. */
export const RESOURCE = "http://127.0.0.1:8080/mcp";

/** A loopback peer. */
export const LOOPBACK = { remoteAddr: "127.0.0.1" };
