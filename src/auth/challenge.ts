/**
 * Refusals in the shape RFC 6750 and the MCP authorization spec prescribe:
 * 401 with a `WWW-Authenticate: Bearer` challenge naming the resource
 * metadata, or 403 `insufficient_scope`. A gateway that names no
 * authorization server serves no metadata (the MCP spec requires at least one
 * in it), so its challenge names none either: clients then send a bearer
 * token they were given, and the 401 body says how to get one.
 *
 * @module
 */
import { resourceMetadataUrl } from "./metadata.ts";
import type { AuthOutcome } from "./types.ts";

type Refusal = Extract<AuthOutcome, { ok: false }>;

// Header values must be printable ASCII; quotes and backslashes are escaped.
const quote = (value: string) =>
  `"${value.replace(/[^\x20-\x7e]/g, "?").replace(/["\\]/g, "\\$&")}"`;

/** What a challenge names: the resource, and whether its metadata is served. */
export interface ChallengeTarget {
  /** The canonical resource URI. */
  readonly resource: string;
  /** Whether `/.well-known/oauth-protected-resource` is served (an authorization server is configured). */
  readonly metadata: boolean;
  /** The scopes clients are told to request (`advertisedScopes()` in metadata.ts). */
  readonly scopes: readonly string[];
}

/** How to get a token, for the 401 body. */
const HOW_TO_GET_A_TOKEN =
  "on the gateway host, run tailops token mint --sub NAME --role ROLE --ttl 8h (or use the admin token file admin.token in its state directory) and send it as Authorization: Bearer TOKEN";

function challenge(target: ChallengeTarget, error?: string, description?: string): string {
  const params = [
    ...(target.metadata ? [] : [`realm="tailops"`]),
    ...(error ? [`error=${quote(error)}`] : []),
    ...(description ? [`error_description=${quote(description)}`] : []),
    ...(target.metadata
      ? [`resource_metadata=${quote(resourceMetadataUrl(target.resource))}`]
      : []),
    `scope=${quote(target.scopes.join(" "))}`,
  ];
  return `Bearer ${params.join(", ")}`;
}

/**
 * A 401 refusal. Without a presented token the challenge carries no error
 * code, as RFC 6750 §3.1 asks.
 *
 * @param target The resource and whether its metadata is served.
 * @param description Why, when a token was presented and rejected.
 * @returns The refusal; its body says how to get a token.
 */
export function unauthorized(target: ChallengeTarget, description?: string): Refusal {
  const error = description === undefined ? undefined : "invalid_token";
  const how = target.metadata
    ? `get an access token from an authorization server in ${
      resourceMetadataUrl(target.resource)
    }, or ${HOW_TO_GET_A_TOKEN}`
    : HOW_TO_GET_A_TOKEN;
  return {
    ok: false,
    status: 401,
    headers: { "WWW-Authenticate": challenge(target, error, description) },
    body: {
      error: error ?? "invalid_request",
      error_description: `${description ?? "A bearer token is required"}: ${how}`,
    },
  };
}

/**
 * A 403 refusal for a valid credential that grants nothing.
 *
 * @param target The resource and whether its metadata is served.
 * @param subject The identity that was recognised.
 * @returns The refusal.
 */
export function insufficientScope(target: ChallengeTarget, subject: string): Refusal {
  const description = `Identity ${JSON.stringify(subject)} holds no scopes on this gateway`;
  return {
    ok: false,
    status: 403,
    headers: {
      "WWW-Authenticate": challenge(target, "insufficient_scope", description),
    },
    body: { error: "insufficient_scope", error_description: description },
  };
}
