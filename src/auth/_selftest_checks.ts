/**
 * The self-test checks that need more than one request.
 *
 * @module
 */
import { z } from "zod";
import { INITIALIZE, postMcp } from "./_selftest_http.ts";
import { resourceMetadataUrl } from "./metadata.ts";

type Result = [boolean | "skip", string];

const prmSchema = z.looseObject({
  resource: z.string(),
  authorization_servers: z.array(z.string()),
  scopes_supported: z.array(z.string()).min(1),
  bearer_methods_supported: z.array(z.string()).refine((m) => m.includes("header"), {
    error: 'expected "header" among bearer methods',
  }),
});

/**
 * Fetches the protected resource metadata at its path-suffixed URL and checks
 * its shape. A 404 passes: a gateway without an authorization server serves
 * none (the MCP spec requires at least one in it); its challenges must then
 * not name it ({@linkcode checkChallenge} with `metadata: false`).
 *
 * @param url The MCP endpoint.
 * @param resource The canonical resource URI.
 * @returns Pass or fail with a detail, and whether metadata is served.
 */
export async function checkMetadata(
  url: string,
  resource: string,
): Promise<{ result: Result; served: boolean }> {
  const where = resourceMetadataUrl(resource);
  const response = await fetch(new URL(new URL(where).pathname, url), {
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status === 404) {
    await response.body?.cancel();
    return {
      result: [true, `None at ${where} (no authorization server configured)`],
      served: false,
    };
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    return { result: [false, `Expected 200 at ${where}, found ${response.status}`], served: true };
  }
  const parsed = prmSchema.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
    return {
      result: [false, `Expected a well-formed document, found ${issues.join("; ")}`],
      served: true,
    };
  }
  return {
    result: parsed.data.resource === resource
      ? [true, `Served at ${where}`]
      : [false, `Expected resource "${resource}", found ${JSON.stringify(parsed.data.resource)}`],
    served: true,
  };
}

/**
 * Sends `initialize` with a token (or none) and checks the refusal.
 *
 * @param url The MCP endpoint.
 * @param resource The canonical resource URI.
 * @param token The token, or `undefined` for none.
 * @param expect 401 (with `invalid_token` when a token was sent) or 403 `insufficient_scope`,
 *   and whether the challenge must name the metadata (it must not when none is served).
 * @returns Pass or fail with a detail.
 */
export async function checkChallenge(
  url: string,
  resource: string,
  token: string | undefined,
  expect: { status: 401 | 403; metadata: boolean },
): Promise<Result> {
  const { status: expected, metadata } = expect;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const { status, headers: got } = await postMcp(url, INITIALIZE, headers);
  const challenge = got.get("www-authenticate") ?? "";
  const error = expected === 403 ? "insufficient_scope" : token ? "invalid_token" : undefined;
  const wants = [
    status === expected || `status ${status}`,
    /^Bearer /i.test(challenge) || "no Bearer challenge",
    metadata
      ? challenge.includes(`resource_metadata="${resourceMetadataUrl(resource)}"`) ||
        "no resource_metadata"
      : !challenge.includes("resource_metadata=") || "resource_metadata naming no document",
    /scope="[^"]+"/.test(challenge) || "no scope",
    !error || challenge.includes(`error="${error}"`) || `no error="${error}"`,
  ].filter((w) => w !== true);
  return wants.length === 0
    ? [true, `${status} ${challenge.slice(0, 60)}...`]
    : [false, `Expected ${expected} with a Bearer challenge, found ${wants.join(", ")}`];
}

/**
 * Opens a session as one identity and tries to use it as another.
 *
 * @param url The MCP endpoint.
 * @param token The session creator's token.
 * @param otherToken Another identity's token.
 * @returns Pass when the creator may use the session and the other identity is refused.
 */
export async function checkSessionHijack(
  url: string,
  token: string | undefined,
  otherToken: string | undefined,
): Promise<Result> {
  if (!token || !otherToken) return ["skip", "Needs a valid token and --other-token"];
  const owner = { authorization: `Bearer ${token}` };
  const init = await postMcp(url, INITIALIZE, owner);
  const session = init.headers.get("mcp-session-id");
  if (init.status !== 200 || !session) {
    return ["skip", `Gateway issued no session (initialize: ${init.status})`];
  }
  const sessionHeaders = { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" };
  const list = { jsonrpc: "2.0", id: 2, method: "tools/list" };
  await postMcp(url, { jsonrpc: "2.0", method: "notifications/initialized" }, {
    ...owner,
    ...sessionHeaders,
  });
  const mine = await postMcp(url, list, { ...owner, ...sessionHeaders });
  if (mine.status !== 200) {
    return [false, `Expected the creator to use its session, found ${mine.status}`];
  }
  const theirs = await postMcp(url, list, {
    authorization: `Bearer ${otherToken}`,
    ...sessionHeaders,
  });
  return [
    theirs.status >= 400 && theirs.status < 500,
    `Expected another identity to be refused the session, found ${theirs.status}`,
  ];
}
