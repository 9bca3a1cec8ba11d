/**
 * Refusals in the shape RFC 6750 and the MCP authorization spec prescribe:
 * 401 with a `WWW-Authenticate: Bearer` challenge naming the resource
 * metadata, or 403 `insufficient_scope`.
 *
 * @module
 */
import { SCOPE_NAMES } from "../config/capabilities.ts";
import { resourceMetadataUrl } from "./metadata.ts";
import type { AuthOutcome } from "./types.ts";

type Refusal = Extract<AuthOutcome, { ok: false }>;

// Header values must be printable ASCII; quotes and backslashes are escaped.
const quote = (value: string) =>
  `"${value.replace(/[^\x20-\x7e]/g, "?").replace(/["\\]/g, "\\$&")}"`;

function challenge(resource: string, error?: string, description?: string): string {
  const params = [
    ...(error ? [`error=${quote(error)}`] : []),
    ...(description ? [`error_description=${quote(description)}`] : []),
    `resource_metadata=${quote(resourceMetadataUrl(resource))}`,
    `scope=${quote(SCOPE_NAMES.join(" "))}`,
  ];
  return `Bearer ${params.join(", ")}`;
}

/**
 * A 401 refusal. Without a presented token the challenge carries no error
 * code, as RFC 6750 §3.1 asks.
 *
 * @param resource The canonical resource URI.
 * @param description Why, when a token was presented and rejected.
 * @returns The refusal.
 */
export function unauthorized(resource: string, description?: string): Refusal {
  const error = description === undefined ? undefined : "invalid_token";
  return {
    ok: false,
    status: 401,
    headers: { "WWW-Authenticate": challenge(resource, error, description) },
    body: {
      error: error ?? "invalid_request",
      error_description: description ?? "Authentication required: expected a Bearer token",
    },
  };
}

/**
 * A 403 refusal for a valid credential that grants nothing.
 *
 * @param resource The canonical resource URI.
 * @param subject The identity that was recognised.
 * @returns The refusal.
 */
export function insufficientScope(resource: string, subject: string): Refusal {
  const description = `Identity ${JSON.stringify(subject)} holds no scopes on this gateway`;
  return {
    ok: false,
    status: 403,
    headers: {
      "WWW-Authenticate": challenge(resource, "insufficient_scope", description),
    },
    body: { error: "insufficient_scope", error_description: description },
  };
}
