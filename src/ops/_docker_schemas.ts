/**
 * Parameter schemas and result helpers shared by the Docker operations
 * (`container.ts`, `engine.ts`, `stack.ts`). Parameters are allowlists;
 * engine answers are read through zod so a surprising engine fails clearly.
 *
 * @module
 */
import { z } from "zod";
import type { Target } from "../config/targets_schema.ts";
import type { DockerPlan, DockerResult, PlanResult } from "../exec/plan.ts";
import { OperationError, targetLimits } from "./operation.ts";

/** A container name (`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`) or id (12 to 64 hex digits). */
export const containerRefSchema = z.string().regex(
  /^(?:[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}|[0-9a-f]{12,64})$/,
  {
    error:
      'Invalid container: expected a container name (letters, digits, "_", ".", "-", starting with a letter or digit, at most 128 characters) or an id of 12 to 64 hex digits',
  },
);

const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const IMAGE_REF = new RegExp(
  `^(?:[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)*(?::[0-9]{1,5})?/)?${COMPONENT}(?:/${COMPONENT})*` +
    `(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$`,
);

/** An image reference: `[registry[:port]/]name[/name...][:tag][@sha256:digest]`. */
export const imageRefSchema = z.string().max(255).regex(IMAGE_REF, {
  error:
    'Invalid image: expected a reference such as "nginx", "nginx:1.27", "ghcr.io/org/app:v1" or "name@sha256:<64 hex>"',
});

/** A label filter: `key` or `key=value`, both from a conservative character set. */
export const labelFilterSchema = z.string().regex(
  /^[A-Za-z0-9][A-Za-z0-9._\/-]{0,127}(?:=[A-Za-z0-9 _.:\/@+,-]{0,256})?$/,
  {
    error:
      'Invalid label filter: expected "key" or "key=value" (key: letters, digits, ".", "_", "/", "-"; value: letters, digits, spaces and "_.:/@+,-")',
  },
);

/** A compose project name as Compose itself allows it. */
export const projectNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
  error:
    'Invalid project: expected a compose project name (lowercase letters, digits, "_", "-", starting with a letter or digit)',
});

/** One entry of the engine's `GET /containers/json` answer (the fields we read). */
export const containerSummarySchema = z.object({
  Id: z.string(),
  Names: z.array(z.string()).default([]),
  Image: z.string().default(""),
  State: z.string().default("unknown"),
  Status: z.string().default(""),
  Created: z.number().optional(),
  Labels: z.record(z.string(), z.string()).nullable().default({}),
});

/** The compose labels naming a container's project and service. */
export { PROJECT_LABEL, SERVICE_LABEL } from "../exec/compose_ps.ts";

/**
 * A Docker plan with the target's limits.
 *
 * @param target The target.
 * @param request Method, path, query, body, response handling.
 * @returns The plan.
 */
export function dockerPlan(
  target: Target,
  request: Omit<DockerPlan, "kind" | "timeoutMs" | "outputCapBytes">,
): DockerPlan {
  return { kind: "docker", ...targetLimits(target), ...request };
}

/**
 * The path segment for a validated container reference.
 *
 * @param container A value accepted by {@linkcode containerRefSchema}.
 * @returns `/containers/<ref>`.
 */
export function containerPath(container: string): string {
  return `/containers/${encodeURIComponent(container)}`;
}

/**
 * Checks an executor result is a Docker answer with an expected status.
 *
 * @param result What the executor returned.
 * @param options Statuses accepted and what was being done, for the message.
 * @returns The Docker result.
 * @throws {OperationError} `bad_output` for a non-Docker result, `conflict` on 409,
 *   `engine_error` on any other unexpected status (with the engine's short message).
 */
export function dockerAnswer(
  result: PlanResult,
  options: { ok: readonly number[]; doing: string },
): DockerResult {
  if (result.kind !== "docker") {
    throw new OperationError(
      "bad_output",
      `Expected a Docker answer, found a ${result.kind} result`,
    );
  }
  if (options.ok.includes(result.status)) return result;
  const message = engineMessage(result);
  if (result.status === 409) {
    throw new OperationError("conflict", `Cannot ${options.doing}: ${message}`);
  }
  throw new OperationError(
    "engine_error",
    `Cannot ${options.doing}: the engine answered ${result.status}${
      message ? ` (${message})` : ""
    }`,
  );
}

/**
 * The engine's short message from an error answer.
 *
 * @param result A Docker result.
 * @returns The message, or an empty string.
 */
export function engineMessage(result: DockerResult): string {
  const body = result.body as { message?: unknown } | null;
  return typeof body?.message === "string" ? body.message : "";
}

/**
 * Parses an engine answer body with a schema.
 *
 * @param schema The shape relied on.
 * @param value The body.
 * @param what What it is, for the message.
 * @returns The parsed value.
 * @throws {OperationError} `bad_output` when the body does not match.
 */
export function parseBody<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new OperationError("bad_output", `The engine's ${what} did not have the expected shape`);
  }
  return parsed.data;
}

/**
 * Converts an engine Unix timestamp (seconds) or RFC 3339 string to ISO 8601.
 *
 * @param value Seconds since the epoch, or a date string.
 * @returns ISO 8601, or `null` for zero/unset dates.
 */
export function isoTime(value: number | string | undefined | null): string | null {
  if (value === undefined || value === null || value === 0 || value === "") return null;
  if (typeof value === "string" && value.startsWith("0001-01-01")) return null;
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
