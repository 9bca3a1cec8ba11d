/**
 * Self-test checks of the MCP 2026-07-28 (stateless) leg: discovery, a
 * header naming another tool than the body, and `requestState` that is no
 * credential and is verified before any tool runs.
 *
 * @module
 */
import { postMcp } from "./_selftest_http.ts";

type Result = [boolean | "skip", string];

const REVISION = "2026-07-28";

const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": REVISION,
  "io.modelcontextprotocol/clientInfo": { name: "tailops-selftest", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

/** A JWS-shaped state no gateway key signed. */
const FORGED_STATE = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJzZWxmdGVzdCJ9.AAAA";

function toolCall(name: string, extra: Record<string, unknown> = {}) {
  return {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name, arguments: {}, _meta: ENVELOPE, ...extra },
  };
}

function headers(token: string | undefined, name: string): Record<string, string> {
  return {
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    "mcp-protocol-version": REVISION,
    "mcp-method": "tools/call",
    "mcp-name": name,
  };
}

/** The JSON-RPC error code of an answer (JSON or one SSE event), if any. */
function errorCode(text: string): number | undefined {
  const json = text.trimStart().startsWith("{")
    ? text
    : text.split("\n").find((line) => line.startsWith("data:"))?.slice(5);
  try {
    return JSON.parse(json ?? "").error?.code;
  } catch {
    return undefined;
  }
}

/**
 * `server/discover` names 2026-07-28 and opens no session.
 *
 * @param url The MCP endpoint.
 * @param token A valid token.
 * @returns The check's verdict.
 */
export async function checkDiscover(url: string, token: string | undefined): Promise<Result> {
  if (!token) return ["skip", "Needs a valid token (--token or --state-dir)"];
  const answer = await postMcp(url, {
    jsonrpc: "2.0",
    id: 1,
    method: "server/discover",
    params: { _meta: ENVELOPE },
  }, {
    authorization: `Bearer ${token}`,
    "mcp-protocol-version": REVISION,
    "mcp-method": "server/discover",
  });
  let versions: unknown;
  try {
    versions = JSON.parse(answer.text).result?.supportedVersions;
  } catch {
    versions = undefined;
  }
  const ok = answer.status === 200 && Array.isArray(versions) && versions.includes(REVISION) &&
    answer.headers.get("mcp-session-id") === null;
  return [
    ok,
    `Expected 200 naming ${REVISION} and no session id, found ${answer.status} ${
      JSON.stringify(versions ?? null)
    }`,
  ];
}

/**
 * A 2026-07-28 call whose `Mcp-Name` header names another tool than its body
 * is refused with 400 / -32020 before it reaches any tool.
 *
 * @param url The MCP endpoint.
 * @param token A valid token.
 * @returns The check's verdict.
 */
export async function checkHeaderMismatch(
  url: string,
  token: string | undefined,
): Promise<Result> {
  if (!token) return ["skip", "Needs a valid token (--token or --state-dir)"];
  const answer = await postMcp(url, toolCall("system_status"), headers(token, "service_control"));
  const code = errorCode(answer.text);
  return [
    answer.status === 400 && code === -32020,
    `Expected 400 with -32020 for Mcp-Name "service_control" on a call of "system_status", found ${answer.status} with ${
      code ?? "no error code"
    }`,
  ];
}

/**
 * A `requestState` is never a credential (no token: 401) and a forged one is
 * refused with -32602 before any tool runs.
 *
 * @param url The MCP endpoint.
 * @param token A valid token.
 * @returns The check's verdict.
 */
export async function checkForgedState(url: string, token: string | undefined): Promise<Result> {
  const echo = {
    requestState: FORGED_STATE,
    inputResponses: { confirm: { action: "accept", content: { confirm: true } } },
  };
  const anonymous = await postMcp(
    url,
    toolCall("system_status", echo),
    headers(undefined, "system_status"),
  );
  if (anonymous.status !== 401) {
    return [false, `Expected 401 for a requestState without a token, found ${anonymous.status}`];
  }
  if (!token) return ["skip", "401 without a token; the forged state needs a valid token"];
  const forged = await postMcp(
    url,
    toolCall("system_status", echo),
    headers(token, "system_status"),
  );
  const code = errorCode(forged.text);
  return [
    code === -32602,
    `Expected 401 without a token (found 401) and -32602 for a forged requestState, found ${forged.status} with ${
      code ?? "no error code"
    }`,
  ];
}
