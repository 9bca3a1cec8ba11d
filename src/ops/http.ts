/**
 * HTTP target operations: `http_request` and `http_health`. The plan builder
 * refuses methods and paths the target does not allow (so dry run shows the
 * refusal); the HTTP worker enforces the same rules again.
 *
 * @module
 */
import { z } from "zod";
import type { HttpTarget, Target } from "../config/targets_schema.ts";
import {
  HTTP_METHODS,
  pathProblem,
  REQUEST_HEADER_ALLOWLIST,
  requestProblem,
} from "../exec/http_kind.ts";
import type { HttpPlan, HttpResult, PlanResult } from "../exec/plan.ts";
import { defineOperation, OperationError, targetLimits } from "./operation.ts";

/** Largest JSON request body, serialised. */
export const MAX_HTTP_BODY_BYTES = 256 * 1024;

const PRINTABLE = /^[\t\x20-\x7e\u00a0-\uffff]*$/;

/** A path relative to the target's base URL. */
const pathSchema = z.string().max(2048).superRefine((path, ctx) => {
  const problem = pathProblem(path);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const querySchema = z.record(
  z.string().regex(/^[A-Za-z0-9_.~\[\]-]{1,128}$/, {
    error: 'Invalid query name: expected letters, digits, "_", ".", "~", "[", "]" or "-"',
  }),
  z.string().max(2048).regex(PRINTABLE, { error: "Invalid query value: expected printable text" }),
).refine((q) => Object.keys(q).length <= 64, { error: "Invalid query: expected at most 64 names" });

const headerKeys = REQUEST_HEADER_ALLOWLIST as [string, ...string[]];
const headersSchema = z.partialRecord(
  z.enum(headerKeys),
  z.string().max(1024).regex(PRINTABLE, { error: "Invalid header value: expected printable text" }),
);

const requestInput = z.strictObject({
  method: z.enum(HTTP_METHODS).default("GET").describe("HTTP method; GET and HEAD only read"),
  path: pathSchema.describe('Path under the target\'s base URL, e.g. "/api/v1/items"'),
  query: querySchema.optional().describe("Query parameters"),
  // The allowed names are the schema's enum; the description need not repeat them.
  headers: headersSchema.optional().describe("Request headers (lowercase)"),
  body: z.json().optional().describe("JSON request body (not for GET or HEAD)"),
}).superRefine((args, ctx) => {
  if (args.body === undefined) return;
  if (args.method === "GET" || args.method === "HEAD") {
    ctx.addIssue({
      code: "custom",
      path: ["body"],
      message: `Invalid body: a ${args.method} request has none`,
    });
  } else if (new TextEncoder().encode(JSON.stringify(args.body)).length > MAX_HTTP_BODY_BYTES) {
    ctx.addIssue({
      code: "custom",
      path: ["body"],
      message: `Invalid body: expected at most ${MAX_HTTP_BODY_BYTES} bytes of JSON`,
    });
  }
});

const requestOutput = z.object({
  status: z.int(),
  headers: z.record(z.string(), z.string()),
  body: z.unknown().describe("Parsed JSON when the response is JSON, else text"),
  truncated: z.boolean(),
  latencyMs: z.number(),
});

const healthInput = z.strictObject({
  path: pathSchema.default("/").describe('Path to GET, e.g. "/healthz"'),
});

const healthOutput = z.object({
  status: z.int(),
  ok: z.boolean().describe("Whether the status is 2xx or 3xx"),
  latencyMs: z.number(),
  certificateExpires: z.string().nullable(),
  certificateDaysLeft: z.number().nullable(),
  certificateNote: z.string().optional(),
});

function httpTarget(target: Target, operation: string): HttpTarget {
  if (target.type !== "http") {
    throw new OperationError(
      "wrong_target",
      `${operation} runs on http targets, found a ${target.type} target`,
    );
  }
  return target;
}

function allowed(target: HttpTarget, method: string, path: string): void {
  const problem = requestProblem({ method, path }, target.connection);
  if (problem) throw new OperationError("forbidden", problem);
}

function httpResult(result: PlanResult): HttpResult {
  if (result.kind !== "http") {
    throw new OperationError("bad_output", `Expected an http result, found ${result.kind}`);
  }
  return result;
}

/** Characters of a body the text rendering shows. */
const BODY_PREVIEW = 4000;

/**
 * A copy of a JSON value cut down to about `room` characters of content
 * (strings shortened, arrays and objects stopped early), so rendering a
 * large body never pretty-prints all of it.
 */
function preview(value: unknown, room: { left: number }): unknown {
  if (typeof value === "string") {
    const kept = value.slice(0, Math.max(0, room.left));
    room.left -= kept.length + 2;
    return kept.length < value.length ? `${kept}…` : kept;
  }
  if (value === null || typeof value !== "object") {
    room.left -= 8;
    return value;
  }
  const entries = Array.isArray(value) ? value.entries() : Object.entries(value).values();
  const out: [string | number, unknown][] = [];
  for (const [key, item] of entries) {
    if (room.left <= 0) {
      out.push([Array.isArray(value) ? out.length : "…", "…"]);
      break;
    }
    room.left -= String(key).length + 4;
    out.push([key, preview(item, room)]);
  }
  return Array.isArray(value) ? out.map(([, item]) => item) : Object.fromEntries(out);
}

function renderBody(body: unknown): string {
  const text = typeof body === "string"
    ? body.slice(0, BODY_PREVIEW + 1)
    : JSON.stringify(preview(body, { left: BODY_PREVIEW }), null, 2) ?? "";
  const whole = typeof body === "string" ? body.length : undefined;
  if (text.length <= BODY_PREVIEW && (whole === undefined || whole <= BODY_PREVIEW)) return text;
  const more = whole === undefined ? "more" : `${whole - BODY_PREVIEW} more characters`;
  return `${text.slice(0, BODY_PREVIEW)}\n… (${more}; the structured result has the whole body)`;
}

/** Sends one request to an HTTP API target; `http:write` for methods other than GET and HEAD. */
export const HTTP_REQUEST = defineOperation({
  name: "http_request",
  title: "HTTP request",
  description:
    "Send one request to an HTTP API target. The target's credentials are added by the " +
    "gateway; only the target's allowed methods and paths can be used. Responses are capped.",
  input: requestInput,
  output: requestOutput,
  paramReach: {
    query: { absent: "no query string", absentIsNarrowest: true },
    headers: { absent: "no extra headers", absentIsNarrowest: true },
    body: { absent: "no body", absentIsNarrowest: true },
  },
  capability: "http:read",
  capabilityFor: (
    args,
  ) => (args.method === "GET" || args.method === "HEAD" ? "http:read" : "http:write"),
  targetTypes: ["http"],
  // Any method but GET/HEAD may change the target, and DELETE may destroy data; the gate's
  // tier still comes from `capabilityFor`, so GET calls stay observe-tier.
  mutates: true,
  destructive: true,
  programs: [],
  plan(args, target): HttpPlan {
    const http = httpTarget(target, "http_request");
    allowed(http, args.method, args.path);
    return {
      kind: "http",
      method: args.method,
      path: args.path,
      ...(args.query ? { query: args.query } : {}),
      ...(args.headers ? { headers: args.headers as Record<string, string> } : {}),
      ...(args.body !== undefined ? { body: args.body } : {}),
      ...targetLimits(target),
    };
  },
  parse(result) {
    const r = httpResult(result);
    return {
      status: r.status,
      headers: r.headers,
      body: r.body,
      truncated: r.truncated,
      latencyMs: r.latencyMs,
    };
  },
  render(output) {
    const head = `HTTP ${output.status} in ${output.latencyMs} ms${
      output.truncated ? " (body truncated)" : ""
    }`;
    const body = renderBody(output.body);
    return body === "" ? head : `${head}\n${body}`;
  },
});

/** Checks an HTTP target: status, latency and TLS certificate expiry. */
export const HTTP_HEALTH = defineOperation({
  name: "http_health",
  title: "HTTP health check",
  description: "GET a path on an HTTP target and report its status, latency and, for https, when " +
    "its TLS certificate expires.",
  input: healthInput,
  output: healthOutput,
  capability: "http:read",
  targetTypes: ["http"],
  mutates: false,
  destructive: false,
  programs: [],
  plan(args, target): HttpPlan {
    const http = httpTarget(target, "http_health");
    allowed(http, "GET", args.path);
    return { kind: "http", method: "GET", path: args.path, health: true, ...targetLimits(target) };
  },
  /** Reads the clock to count the certificate's days left. */
  parse(result) {
    const r = httpResult(result);
    const expires = r.certificateExpires ?? null;
    const daysLeft = expires === null
      ? null
      : Math.floor((Date.parse(expires) - Date.now()) / 86_400_000);
    return {
      status: r.status,
      ok: r.status >= 200 && r.status < 400,
      latencyMs: r.latencyMs,
      certificateExpires: expires,
      certificateDaysLeft: daysLeft,
      ...(r.certificateNote ? { certificateNote: r.certificateNote } : {}),
    };
  },
  render(output) {
    const cert = output.certificateExpires === null
      ? `certificate expiry unknown${output.certificateNote ? ` (${output.certificateNote})` : ""}`
      : `certificate expires ${output.certificateExpires} (${output.certificateDaysLeft} days left)`;
    return `HTTP ${output.status} ${
      output.ok ? "healthy" : "unhealthy"
    } in ${output.latencyMs} ms; ${cert}`;
  },
});
