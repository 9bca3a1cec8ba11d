/**
 * Runs one Docker plan on one engine: the live existence check, the request
 * itself (once, or once per matching container), and reading its body under
 * the plan's cap.
 *
 * @module
 */
import {
  type DockerEachResult,
  type DockerPlan,
  type DockerResult,
  jsonTextTooDeep,
  MAX_OUTPUT_DEPTH,
  tooDeepMessage,
  valueTooDeep,
} from "../plan.ts";
import { type ResultText, TRANSFER_TEXT_MIN } from "../protocol.ts";
import { demuxLogBytes, readCapped, readJsonLines } from "./_docker_body.ts";
import { compareApiVersions, type DockerClient, DockerFailure } from "./_docker_client.ts";

const SAFE_PATH = /^\/[A-Za-z0-9_.\-\/{}%:@]{0,1024}$/;
const ERROR_BODY_CAP = 16 * 1024;
const MESSAGE_CHARS = 300;

interface Call {
  readonly client: DockerClient;
  readonly target: string;
  readonly version: string;
  readonly signal: AbortSignal;
  /** Where long log streams go as bytes instead of strings (see `ResultText`). */
  readonly texts?: ResultText[];
}

/** A log stream as text, or `""` with its bytes noted for transfer when long. */
function logText(bytes: Uint8Array, field: "stdout" | "stderr", texts?: ResultText[]): string {
  if (!texts || bytes.length < TRANSFER_TEXT_MIN) return new TextDecoder().decode(bytes);
  texts.push({ path: [field], bytes });
  return "";
}

/**
 * Runs a Docker plan.
 *
 * @param client The target's engine client.
 * @param plan The plan.
 * @param options Target id (for messages), the call's abort signal, and where
 *   long log streams go as bytes (`texts`; without it they are strings).
 * @returns The engine's answer; error statuses other than 404 come back as results with the
 *   engine's short message in `body.message`.
 * @throws {DockerFailure} On 404 (`not_found`), connection problems, caps on JSON, timeouts.
 */
export async function runDockerPlan(
  client: DockerClient,
  plan: DockerPlan,
  options: { target: string; signal: AbortSignal; texts?: ResultText[] },
): Promise<DockerResult> {
  if (!SAFE_PATH.test(plan.path)) {
    throw new DockerFailure(
      "forbidden",
      "The plan's API path contains characters outside the allowed set",
    );
  }
  const version = await client.apiVersion(options.signal);
  const call: Call = { client, version, ...options };
  let tty: boolean | undefined;
  if (plan.requireContainer !== undefined) {
    const name = plan.requireContainer;
    const inspect = await request(call, plan, {
      method: "GET",
      path: `/containers/${encodeURIComponent(name)}/json`,
      response: "json",
    });
    if (inspect.status === 404) {
      throw new DockerFailure(
        "not_found",
        `No container "${name}" exists on target "${call.target}"; nothing was changed`,
      );
    }
    tty = (inspect.body as { Config?: { Tty?: unknown } } | null)?.Config?.Tty === true;
  }
  if (plan.forEach) return await runEach(call, plan, plan.forEach.filters);
  const result = await request(call, plan, { ...plan, tty });
  const missing = result.status === 404 ? notFound(plan.path, call.target) : null;
  if (missing) throw missing;
  return result;
}

async function runEach(
  call: Call,
  plan: DockerPlan,
  filters: Readonly<Record<string, readonly string[]>>,
): Promise<DockerResult> {
  const list = await request(call, plan, {
    method: "GET",
    path: "/containers/json",
    query: { all: "1", filters: JSON.stringify(filters) },
    response: "json",
  });
  if (list.status !== 200 || !Array.isArray(list.body)) {
    throw new DockerFailure(
      "bad_response",
      `The engine of target "${call.target}" did not list its containers`,
    );
  }
  const results: DockerEachResult[] = [];
  for (const item of list.body as { Id?: unknown; Names?: unknown }[]) {
    const id = typeof item.Id === "string" && /^[0-9a-f]{64}$/.test(item.Id) ? item.Id : null;
    if (id === null) continue;
    const name = Array.isArray(item.Names) && typeof item.Names[0] === "string"
      ? item.Names[0].replace(/^\//, "")
      : id.slice(0, 12);
    const answer = await request(call, plan, { ...plan, path: plan.path.replaceAll("{id}", id) });
    const message = (answer.body as { message?: string } | null)?.message ?? null;
    results.push({
      id,
      name,
      status: answer.status,
      message: answer.status >= 400 ? message : null,
    });
  }
  return { kind: "docker", status: 200, body: results, truncated: false, apiVersion: call.version };
}

interface Request {
  readonly method: DockerPlan["method"];
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly response: DockerPlan["response"];
  readonly tty?: boolean;
}

async function request(call: Call, plan: DockerPlan, req: Request): Promise<DockerResult> {
  const query = req.query && Object.keys(req.query).length > 0
    ? `?${new URLSearchParams(req.query)}`
    : "";
  const body = req.body === undefined ? undefined : JSON.stringify(req.body);
  const { response, release } = await call.client.open(
    req.method,
    `/v${call.version}${req.path}${query}`,
    { body, signal: call.signal },
  );
  const base = { kind: "docker", status: response.status, apiVersion: call.version } as const;
  try {
    if (response.status >= 400) {
      const { bytes } = await readCapped(response.body, ERROR_BODY_CAP);
      return { ...base, body: { message: shortMessage(bytes) }, truncated: false };
    }
    const cap = plan.outputCapBytes;
    switch (req.response) {
      case "logs": {
        // Engines from API 1.42 say which framing they use; older ones always say
        // raw-stream, so the inspection made for `requireContainer` decides.
        const type = response.headers.get("content-type") ?? "";
        const multiplexed = req.tty !== undefined
          ? !req.tty
          : !(type.includes("raw-stream") && compareApiVersions(call.version, "1.42") >= 0);
        const logs = await demuxLogBytes(response.body, { cap, multiplexed });
        return {
          ...base,
          body: null,
          stdout: logText(logs.stdout, "stdout", call.texts),
          stderr: logText(logs.stderr, "stderr", call.texts),
          truncated: logs.truncated,
        };
      }
      case "stream_json": {
        const { values, truncated } = await readJsonLines(response.body, cap);
        if (valueTooDeep(values, MAX_OUTPUT_DEPTH + 1)) {
          throw new DockerFailure(
            "bad_output",
            tooDeepMessage(`The engine's progress stream on target "${call.target}"`),
          );
        }
        return { ...base, body: values, truncated };
      }
      case "none": {
        await readCapped(response.body, ERROR_BODY_CAP);
        return { ...base, body: null, truncated: false };
      }
      case "json": {
        const { bytes, truncated } = await readCapped(response.body, cap);
        if (truncated) {
          throw new DockerFailure(
            "bad_response",
            `The engine's answer is larger than the output cap of ${cap} bytes; narrow the request or raise output_cap_bytes`,
          );
        }
        return { ...base, body: parseJson(bytes, call.target), truncated: false };
      }
    }
  } catch (error) {
    if (error instanceof RangeError) {
      throw new DockerFailure(
        "bad_response",
        `The engine of target "${call.target}" sent a log stream we could not read`,
      );
    }
    throw call.client.failure(error, call.signal);
  } finally {
    release();
  }
}

function parseJson(bytes: Uint8Array, target: string): unknown {
  if (bytes.length === 0) return null;
  const text = new TextDecoder().decode(bytes);
  if (jsonTextTooDeep(text)) {
    throw new DockerFailure(
      "bad_output",
      tooDeepMessage(`The engine's answer on target "${target}"`),
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new DockerFailure("bad_response", "The engine answered with something that is not JSON");
  }
}

function shortMessage(bytes: Uint8Array): string {
  const text = new TextDecoder().decode(bytes);
  let message = text;
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === "string") message = parsed.message;
  } catch {
    // Not JSON: keep the text.
  }
  // deno-lint-ignore no-control-regex
  message = message.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return message.length > MESSAGE_CHARS ? `${message.slice(0, MESSAGE_CHARS)}…` : message;
}

const COLLECTION_VERBS = new Set(["json", "create", "prune", "search", "load", "get"]);

/** A 404 on a named object becomes our own sentence; other 404s stay results for the operation. */
function notFound(path: string, target: string): DockerFailure | null {
  const match = /^\/(containers|images|networks|volumes)\/([^/]+)/.exec(path);
  if (!match || COLLECTION_VERBS.has(match[2])) return null;
  const noun = match[1].slice(0, -1);
  return new DockerFailure(
    "not_found",
    `No ${noun} "${decodeURIComponent(match[2])}" exists on target "${target}"`,
  );
}
