/**
 * `file_write`: put a file on a host under the target's `files.write_roots`
 * (separate from the read roots), atomically and without following a
 * symlink; see `src/exec/workers/_local_fs_write.ts` and `_ssh_fs_write.ts`.
 * Dry run reads the current file and returns a unified diff and digests.
 * The audit log records the content by digest and size, never in clear.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Target } from "../config/targets_schema.ts";
import type {
  FileMetadata,
  FsReadPlan,
  FsWritePlan,
  PlanResult,
  SequencePlan,
} from "../exec/plan.ts";
import { LOCAL_FILE_HELPER } from "../exec/local_kind.ts";
import { hostPathSchema } from "./_host_schemas.ts";
import { rootsFor } from "./file.ts";
import { defineOperation, OperationError, targetLimits, usesSudo } from "./operation.ts";
import { unifiedDiff } from "./_unified_diff.ts";
import { type Template, templateSecrets } from "../config/templates_load.ts";
import { maskSecrets, renderTemplate, variablesSchema } from "./_file_template.ts";

/**
 * Programs a write on the gateway host runs (see `_local_fs_write.ts`): the
 * file helper says where an opened directory or file really is and creates,
 * links, renames and removes names (stack_deploy's missing project directory
 * too) through the pinned directory's `/proc/PID/fd` link.
 */
export const WRITE_HELPERS: readonly string[] = [LOCAL_FILE_HELPER];

/** Largest file content accepted, in bytes. */
export const MAX_WRITE_BYTES = 1024 * 1024;

const SHA256 = /^[0-9a-f]{64}$/;

/** A user or group name as useradd accepts it, or a numeric id; never starting with "-". */
const OWNER = /^(?:[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10})$/;

const modeSchema = z.string().regex(/^0?[0-6]{3}$/, {
  error:
    'Invalid mode: expected octal permission bits without execute or special bits, such as "0644" or "0600"',
});

const input = z.strictObject({
  path: hostPathSchema,
  content: z.string().max(Math.ceil(MAX_WRITE_BYTES / 3) * 4),
  encoding: z.enum(["utf-8", "base64"]).default("utf-8"),
  mode: modeSchema.default("0644"),
  backup: z.boolean().default(true),
  owner: z.string().regex(OWNER, {
    error: "Invalid owner: expected a user name or a numeric id",
  }).optional().describe("Numeric on local targets"),
  group: z.string().regex(OWNER, {
    error: "Invalid group: expected a group name or a numeric id",
  }).optional().describe("Numeric on local targets"),
  expected_sha256: z.string().refine((v) => v === "absent" || SHA256.test(v), {
    error: 'Invalid expected_sha256: expected a lowercase hex SHA-256 or "absent"',
  }).optional().describe('"absent": only when there is no file'),
});

/** file_write's arguments; with templates, `template` + `variables` instead of `content`. */
type Args = Omit<z.infer<typeof input>, "content"> & {
  content?: string;
  template?: string;
  variables?: Record<string, unknown>;
};

/** The bytes to write, their text when it is text, and the secrets that text may hold. */
export interface Content {
  readonly bytes: Uint8Array;
  readonly text?: string;
  readonly secrets: readonly string[];
}

/** Templates by name (empty: file_write takes inline content only). */
type Templates = ReadonlyMap<string, Template>;

const NO_TEMPLATES: Templates = new Map();

function contentOf(args: Args, templates: Templates): Content {
  if (args.template !== undefined) {
    const template = templates.get(args.template);
    if (!template) {
      throw new OperationError(
        "invalid_arguments",
        `Unknown template ${JSON.stringify(args.template)}`,
      );
    }
    const values = variablesSchema(template).safeParse(args.variables ?? {});
    if (!values.success) {
      throw new OperationError("invalid_arguments", values.error.issues[0].message);
    }
    const { text, secrets } = renderTemplate(template, values.data);
    return { bytes: new TextEncoder().encode(text), text, secrets };
  }
  const content = args.content ?? "";
  if (args.encoding === "utf-8") {
    return { bytes: new TextEncoder().encode(content), text: content, secrets: [] };
  }
  let binary: string;
  try {
    binary = atob(content);
  } catch {
    throw new OperationError("invalid_content", "Invalid content: expected base64");
  }
  return { bytes: Uint8Array.from(binary, (c) => c.charCodeAt(0)), secrets: [] };
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * The SHA-256 of bytes, hex.
 *
 * @param bytes The bytes.
 * @returns 64 hex digits.
 */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Whether an operation's file scripts run under sudo on this target: only on
 * SSH targets whose `sudo` names the operation.
 */
function sudoFor(target: Target, operation: string): { sudo?: true } {
  return target.type === "ssh" && usesSudo(target, operation) ? { sudo: true } : {};
}

function writePlan(
  args: Args,
  target: Target,
  templates = NO_TEMPLATES,
  operation = "file_write",
): FsWritePlan {
  const roots = rootsFor(args.path, target, "write_roots");
  const { bytes } = contentOf(args, templates);
  if (bytes.length > MAX_WRITE_BYTES) {
    throw new OperationError(
      "too_large",
      `Invalid content: expected at most ${MAX_WRITE_BYTES} bytes, found ${bytes.length}`,
    );
  }
  for (const [key, value] of [["owner", args.owner], ["group", args.group]] as const) {
    if (value !== undefined && target.type === "local" && !/^[0-9]+$/.test(value)) {
      throw new OperationError(
        "invalid_arguments",
        `Invalid ${key} ${JSON.stringify(value)}: expected a numeric id on the gateway host`,
      );
    }
  }
  return {
    kind: "fs_write",
    path: args.path,
    roots,
    ...(args.owner === undefined ? {} : { owner: args.owner }),
    ...(args.group === undefined ? {} : { group: args.group }),
    content: toBase64(bytes),
    sha256: sha256Hex(bytes),
    mode: parseInt(args.mode, 8),
    backup: args.backup,
    ...(args.expected_sha256 === undefined ? {} : { expectedSha256: args.expected_sha256 }),
    ...sudoFor(target, operation),
    ...targetLimits(target),
  };
}

function readCurrent(args: Args, target: Target, operation = "file_write"): FsReadPlan {
  return {
    kind: "fs_read",
    path: args.path,
    roots: rootsFor(args.path, target, "write_roots"),
    offset: 0,
    ...sudoFor(target, operation),
    ...targetLimits(target),
    outputCapBytes: MAX_WRITE_BYTES + 1,
  };
}

/**
 * The mode, owner and group a write would change (each `{from, to}`); the
 * owner and group only where the call sets them. Names or ids match either.
 */
function metadataChanges(
  current: FileMetadata | undefined,
  args: { readonly mode?: string; readonly owner?: string; readonly group?: string },
): Record<string, { from: string; to: string }> {
  if (!current) return {};
  const out: Record<string, { from: string; to: string }> = {};
  if (args.mode !== undefined && parseInt(current.mode, 8) !== parseInt(args.mode, 8)) {
    out.mode = { from: current.mode, to: args.mode };
  }
  const who = [
    ["owner", args.owner, current.owner, current.uid],
    ["group", args.group, current.group, current.gid],
  ] as const;
  for (const [key, asked, name, id] of who) {
    if (asked !== undefined && asked !== name && asked !== String(id)) {
      out[key] = { from: name ?? String(id), to: asked };
    }
  }
  return out;
}

/**
 * What dry run shows of a write: the current file, the digests and a unified
 * diff. Secrets the new text holds are masked on both sides of the diff (the
 * current file may hold them too).
 *
 * @param outcome The read of the current file (file_write's check plan).
 * @param change `path` written; `bytes`, `text` (when it is text) and the `secrets` it holds;
 *   the `mode` (and `owner`, `group`) it is written with, compared when the read reports them.
 * @returns `current`, `new`, `would_change` (content or metadata), `diff`, `metadata_changes`
 *   (and `secrets_masked`), or `error`.
 */
export function describeFileChange(
  outcome: { ok: true; result: PlanResult } | {
    ok: false;
    error: { code: string; message: string };
  },
  change: Content & {
    readonly path: string;
    readonly mode?: string;
    readonly owner?: string;
    readonly group?: string;
  },
): Record<string, unknown> {
  const { bytes, text: raw, secrets, path } = change;
  const next = { sha256: sha256Hex(bytes), size: bytes.length };
  const text = raw === undefined ? undefined : maskSecrets(raw, secrets);
  const masked = secrets.length > 0 ? { secrets_masked: true } : {};
  if (!outcome.ok) {
    if (outcome.error.code !== "not_found") return { error: outcome.error, new: next };
    return {
      current: null,
      new: next,
      would_change: true,
      diff: text === undefined ? null : unifiedDiff("", text, { from: "/dev/null", to: path }),
      ...masked,
    };
  }
  const result = outcome.result;
  if (result.kind !== "fs_read") return { error: { code: "bad_output", message: "No content" } };
  const current = result.encoding === "utf-8"
    ? new TextEncoder().encode(result.content)
    : Uint8Array.from(atob(result.content), (c) => c.charCodeAt(0));
  const sha = result.truncated ? null : sha256Hex(current);
  const diff = text !== undefined && result.encoding === "utf-8" && !result.truncated
    ? unifiedDiff(maskSecrets(result.content, secrets), text, { from: result.path, to: path })
    : null;
  const metadata = metadataChanges(result.metadata, change);
  return {
    current: {
      path: result.path,
      size: result.size,
      sha256: sha,
      ...(result.metadata ? { mode: result.metadata.mode } : {}),
    },
    new: next,
    // The write replaces a file whose content or metadata differs from what is asked.
    would_change: sha !== next.sha256 || Object.keys(metadata).length > 0,
    ...(Object.keys(metadata).length > 0 ? { metadata_changes: metadata } : {}),
    diff,
    ...masked,
    ...(diff === null ? { note: "No text diff (binary, or too large): compare the digests" } : {}),
  };
}

const output = z.object({
  path: z.string(),
  bytes: z.number(),
  sha256: z.string(),
  previous_sha256: z.string().nullable(),
  changed: z.boolean(),
  backup: z.string().nullable(),
});

const DESCRIPTION =
  "Writes `content` (UTF-8, or base64 with encoding: base64; ≤1 MiB) to `path` under the write roots, atomically, never through a symlink, with `mode` (default 0644, no execute bits) and owner/group if permitted. Same content: changed: false. `backup` keeps .NAME.tailops-prev; `expected_sha256` writes only over that digest. Dry run: a diff.";

function fileWriteOperation<I extends z.ZodObject>(
  schema: I,
  templates: Templates,
  description: string,
) {
  const secrets = [...templates.values()].flatMap((t) => templateSecrets(t).map(([, s]) => s));
  return defineOperation({
    name: "file_write",
    title: "Write a file",
    description,
    input: schema,
    output,
    capability: "file:write",
    paramReach: {
      expected_sha256: { absent: "whatever the current content is" },
      owner: { absent: "the writing user", absentIsNarrowest: true },
      group: { absent: "the writing user's group", absentIsNarrowest: true },
    },
    targetTypes: ["local", "ssh"],
    mutates: true,
    destructive: true,
    programs: [...WRITE_HELPERS],
    ...(secrets.length === 0 ? {} : { secrets }),
    plan: (args, target) => writePlan(args as Args, target, templates),
    checkPlan: (args, target) => ({ ...readCurrent(args as Args, target), metadata: true }),
    describeCheck: (outcome, args) =>
      describeFileChange(outcome, {
        ...contentOf(args as Args, templates),
        path: (args as Args).path,
        mode: (args as Args).mode,
        owner: (args as Args).owner,
        group: (args as Args).group,
      }),
    // Content by digest and size only; a template's variables are the caller's (secrets
    // are never among them), its filled text by digest and size like content.
    auditArgs: (args) => {
      const a = args as Args;
      let bytes: Uint8Array;
      try {
        bytes = contentOf(a, templates).bytes;
      } catch {
        bytes = new TextEncoder().encode(a.content ?? "");
      }
      const digest = { sha256: sha256Hex(bytes), bytes: bytes.length };
      return a.template === undefined ? { ...a, content: digest } : { ...a, rendered: digest };
    },
    parse: (result) => {
      if (result.kind !== "fs_write") {
        throw new OperationError(
          "bad_output",
          `Expected a write result, found a ${result.kind} result`,
        );
      }
      return {
        path: result.path,
        bytes: result.bytes,
        sha256: result.sha256,
        previous_sha256: result.previousSha256,
        changed: result.changed,
        backup: result.backup,
      };
    },
    render: (out) =>
      out.changed
        ? `${out.path}: written (${out.bytes} bytes, sha256 ${out.sha256.slice(0, 12)}…)${
          out.backup ? `; previous kept as ${out.backup}` : ""
        }`
        : `${out.path}: unchanged (already sha256 ${out.sha256.slice(0, 12)}…)`,
  });
}

/** Write one file under the target's write roots, from inline content. */
export const fileWrite = fileWriteOperation(input, NO_TEMPLATES, DESCRIPTION);

function describeVariables(template: Template): string {
  const vars = Object.entries(template.variables).flatMap(([name, v]) =>
    v.type === "secret" ? [] : [`${name}: ${v.type}${v.optional || "default" in v ? "?" : ""}`]
  );
  return `${template.name}(${vars.join(", ")}): ${template.description}`;
}

/**
 * file_write that also fills the operator's templates: `template` and
 * `variables` instead of `content`, the variables checked by their declared
 * types before the gate. Secret variables are never the caller's: they come
 * from the template's secret references and are masked in the dry-run diff.
 *
 * @param templates The loaded templates (at least one).
 * @returns The operation, named file_write.
 */
export function fileWriteWith(templates: readonly Template[]) {
  const byName: Templates = new Map(templates.map((t) => [t.name, t]));
  const names = [...byName.keys()] as [string, ...string[]];
  const schema = input.extend({
    content: input.shape.content.optional(),
    template: z.enum(names).optional().describe(
      `A template to fill instead of content: ${templates.map(describeVariables).join("; ")}`,
    ),
    variables: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional()
      .describe("The template's variables (secret ones are filled by the gateway)"),
  }).superRefine((args, ctx) => {
    if ((args.content === undefined) === (args.template === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["content"],
        message: 'Invalid arguments: expected exactly one of "content" or "template"',
      });
      return;
    }
    if (args.template === undefined) {
      if (args.variables !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["variables"],
          message: 'Invalid variables: they go with "template"',
        });
      }
      return;
    }
    const checked = variablesSchema(byName.get(args.template)!).safeParse(args.variables ?? {});
    for (const issue of checked.success ? [] : checked.error.issues) {
      ctx.addIssue({ code: "custom", path: ["variables", ...issue.path], message: issue.message });
    }
  });
  return fileWriteOperation(
    schema,
    byName,
    `${DESCRIPTION} Or give \`template\` and \`variables\` instead of content to fill one of ` +
      "the operator's templates (the filled text is written like content).",
  );
}

/**
 * The backup file_write keeps beside a file.
 *
 * @param path The file.
 * @returns `DIR/.NAME.tailops-prev`.
 */
export function backupPath(path: string): string {
  const cut = path.lastIndexOf("/");
  return `${path.slice(0, cut)}/.${path.slice(cut + 1)}.tailops-prev`;
}

const restoreInput = z.strictObject({
  path: hostPathSchema.describe("The file to put its previous version back for"),
  mode: modeSchema.default("0644"),
});

type RestoreArgs = z.infer<typeof restoreInput>;

const RESTORE = "file_restore";

function restorePlan(args: RestoreArgs, target: Target): SequencePlan {
  const read = { ...readCurrent({ path: backupPath(args.path) } as Args, target, RESTORE) };
  // Content and digest are filled in by the executor host from the read (contentFrom).
  const write = writePlan(
    { path: args.path, content: "", encoding: "utf-8", mode: args.mode, backup: true },
    target,
    NO_TEMPLATES,
    RESTORE,
  );
  return {
    kind: "sequence",
    ...targetLimits(target),
    steps: [{ plan: read }, { plan: write, contentFrom: 0 }],
  };
}

/** Put a file's previous version (file_write's backup) back; the current one becomes the backup. */
export const fileRestore = defineOperation({
  name: "file_restore",
  title: "Restore a file's previous version",
  description:
    "Puts back the version file_write kept (.NAME.tailops-prev) for `path` under the write roots, atomically, no symlink followed; the replaced version becomes the new backup (a restore can be undone). Dry run: the diff.",
  input: restoreInput,
  output,
  capability: "file:write",
  targetTypes: ["local", "ssh"],
  mutates: true,
  destructive: true,
  programs: [...WRITE_HELPERS],
  plan: restorePlan,
  checkPlan: (args, target): SequencePlan => ({
    kind: "sequence",
    ...targetLimits(target),
    continueOnFailure: true,
    steps: [
      { plan: readCurrent({ path: args.path } as Args, target, RESTORE) },
      { plan: readCurrent({ path: backupPath(args.path) } as Args, target, RESTORE) },
    ],
  }),
  describeCheck: (outcome) => {
    if (!outcome.ok || outcome.result.kind !== "sequence") {
      return { error: outcome.ok ? { code: "bad_output", message: "No result" } : outcome.error };
    }
    const [current, backup] = outcome.result.steps.map((s) =>
      s && "ok" in s && s.ok && s.result.kind === "fs_read" ? s.result : null
    );
    if (!backup) return { error: { code: "not_found", message: "There is no backup to restore" } };
    const text = (r: typeof current) =>
      r && r.encoding === "utf-8" && !r.truncated ? r.content : null;
    const before = current ? text(current) : "";
    const after = text(backup);
    return {
      backup: { path: backup.path, size: backup.size },
      diff: before === null || after === null
        ? null
        : unifiedDiff(before, after, { from: current?.path ?? "/dev/null", to: backup.path }),
    };
  },
  parse: (result) => {
    if (result.kind !== "sequence") {
      throw new OperationError("bad_output", `Expected a sequence result, found ${result.kind}`);
    }
    const [read, write] = result.steps;
    for (const step of [read, write]) {
      if (step && "ok" in step && !step.ok) {
        throw new OperationError(
          step.error.code,
          step === read && step.error.code === "not_found"
            ? "There is no backup to restore"
            : step.error.message,
        );
      }
    }
    if (!write || !("ok" in write) || !write.ok) {
      throw new OperationError("bad_output", "Nothing was written");
    }
    return fileWrite.parse(write.result, {} as never);
  },
  render: (out) =>
    out.changed
      ? `${out.path}: previous version restored (sha256 ${out.sha256.slice(0, 12)}…)`
      : `${out.path}: already the previous version`,
});
