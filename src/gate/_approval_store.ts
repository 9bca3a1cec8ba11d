/**
 * Approval records on disk: one JSON file per approval in
 * `STATE/approvals/`, mode 0600, replaced atomically (temp file + rename),
 * validated when read back. Transitions that must happen once across
 * processes are claimed with marker files created exclusively.
 *
 * Private to `src/gate`; use {@linkcode ApprovalStore} from `approvals.ts`.
 *
 * @module
 */
import { z } from "zod";
import { base64url } from "jose";

/** Where an approval is in its life. */
export const APPROVAL_STATES = ["pending", "approved", "denied", "expired", "used"] as const;

/** An approval state. */
export type ApprovalState = typeof APPROVAL_STATES[number];

const ID = /^apr_[A-Za-z0-9_-]{22}$/;

/** An approval id: `apr_` and 128 random bits, base64url. */
export const approvalIdSchema = z.string().regex(ID, {
  error: (issue) =>
    `Invalid approval id ${
      JSON.stringify(issue.input)
    }: expected "apr_" and 22 base64url characters`,
});

const instant = z.iso.datetime({ offset: true });
const subject = z.string().min(1).max(512);

/** One approval as stored. */
export const approvalRecordSchema = z.strictObject({
  version: z.literal(1),
  id: approvalIdSchema,
  state: z.enum(APPROVAL_STATES),
  /** SHA-256 (hex) of the canonical call: requester, tool, sorted targets, arguments. */
  binding: z.string().regex(/^[0-9a-f]{64}$/),
  rule: z.string().min(1).max(64),
  /**
   * Each bound target's policy rule, when the call spans more than one rule:
   * the approval's terms are the strictest of theirs.
   */
  rules: z.record(z.string().min(1).max(128), z.string().min(1).max(64)).optional(),
  requester: subject,
  tool: z.string().min(1).max(64),
  targets: z.array(z.string().min(1).max(128)).min(1),
  /** The bound arguments (without `dry_run` and `approval_id`). */
  args: z.record(z.string(), z.json()),
  /** What dry run shows for the call. */
  plan: z.json(),
  summary: z.string().max(4000),
  created: instant,
  expires: instant,
  separation_of_duties: z.boolean(),
  confirm: z.boolean(),
  decided_by: subject.optional(),
  decided_at: instant.optional(),
  reason: z.string().max(1000).optional(),
  used_at: instant.optional(),
  /** The signed grant (compact JWS), once approved with a signing key. */
  grant: z.string().max(4096).optional(),
});

/** One approval as stored. */
export type ApprovalRecord = z.infer<typeof approvalRecordSchema>;

/** A stored approval file that cannot be read or does not validate. */
export class ApprovalStoreError extends Error {
  /**
   * @param message What is wrong, naming the file.
   * @param options The underlying cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ApprovalStoreError";
  }
}

/**
 * A fresh approval id from the CSPRNG.
 *
 * @returns An id such as `apr_3q2-7wEVr0QbVmgPqJ0xZg`.
 */
export function newApprovalId(): string {
  return `apr_${base64url.encode(crypto.getRandomValues(new Uint8Array(16)))}`;
}

/**
 * Where approvals are kept: the files of a state directory
 * ({@linkcode ApprovalFiles}) or a shared database (`src/state/`). Each
 * once-only step goes through {@linkcode ApprovalRecords.claim}, which must be
 * atomic across every process sharing the records.
 */
export interface ApprovalRecords {
  /** Reads one validated approval, or `undefined` when there is none. */
  read(id: string): Promise<ApprovalRecord | undefined>;
  /** Replaces one approval. */
  write(record: ApprovalRecord): Promise<void>;
  /** The ids of every stored approval. */
  ids(): Promise<string[]>;
  /** Every stored approval (corrupt ones skipped or thrown, as the store decides). */
  list(): Promise<ApprovalRecord[]>;
  /** Marks a decision the deciding process could not audit. */
  markUnaudited(id: string): Promise<void>;
  /** Whether a decision is still unaudited. */
  isUnaudited(id: string): Promise<boolean>;
  /** Clears the unaudited mark. */
  clearUnaudited(id: string): Promise<void>;
  /** Claims a once-only step; `true` for exactly one caller across every sharing process. */
  claim(id: string, step: "decided" | "used"): Promise<boolean>;
}

/** The files of one approvals directory. Needs `read` and `write` on it. */
export class ApprovalFiles implements ApprovalRecords {
  /** The directory, `STATE/approvals`. */
  readonly dir: string;

  /** @param stateDir The gateway's state directory. */
  constructor(stateDir: string) {
    this.dir = `${stateDir}/approvals`;
  }

  #path(id: string, suffix: string): string {
    return `${this.dir}/${approvalIdSchema.parse(id)}${suffix}`;
  }

  /**
   * Reads and validates one approval.
   *
   * @param id A valid approval id.
   * @returns The record, or `undefined` when there is none.
   * @throws {ApprovalStoreError} When the file exists but is unreadable or invalid.
   */
  async read(id: string): Promise<ApprovalRecord | undefined> {
    const file = this.#path(id, ".json");
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw new ApprovalStoreError(`Cannot read approval file ${file}`, { cause: error });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ApprovalStoreError(`Cannot read approval file ${file}: expected JSON`, {
        cause: error,
      });
    }
    const parsed = approvalRecordSchema.safeParse(value);
    if (!parsed.success || parsed.data.id !== id) {
      const found = parsed.error?.issues[0];
      throw new ApprovalStoreError(
        `Cannot read approval file ${file}: expected a valid approval record, found ${
          found
            ? `${found.path.join(".")}: ${found.message}`
            : `id ${JSON.stringify(parsed.data?.id)}`
        }`,
      );
    }
    return parsed.data;
  }

  /**
   * Replaces one approval's file atomically, mode 0600.
   *
   * @param record The validated record.
   */
  async write(record: ApprovalRecord): Promise<void> {
    const file = this.#path(record.id, ".json");
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const temp = `${file}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.writeTextFile(temp, JSON.stringify(approvalRecordSchema.parse(record), null, 2), {
        mode: 0o600,
        createNew: true,
      });
      await Deno.chmod(temp, 0o600);
      await Deno.rename(temp, file);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
  }

  /**
   * The ids of every stored approval.
   *
   * @returns Ids in no particular order; none when the directory does not exist.
   */
  async ids(): Promise<string[]> {
    const ids: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.dir)) {
        const id = entry.name.slice(0, -".json".length);
        if (entry.isFile && entry.name.endsWith(".json") && ID.test(id)) ids.push(id);
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    return ids;
  }

  /**
   * Reads every approval.
   *
   * @returns The records; a missing file (removed meanwhile) is skipped.
   * @throws {ApprovalStoreError} When a file is corrupt.
   */
  async list(): Promise<ApprovalRecord[]> {
    const all: ApprovalRecord[] = [];
    for (const id of await this.ids()) {
      const approval = await this.read(id);
      if (approval !== undefined) all.push(approval);
    }
    return all;
  }

  /**
   * Marks a decision that the process making it could not audit (`tailops
   * approvals` on the gateway host), so a gateway audits it later — even one
   * started after the decision.
   *
   * @param id A valid approval id.
   */
  async markUnaudited(id: string): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(this.#path(id, ".unaudited"), "", { mode: 0o600 });
  }

  /**
   * Whether an approval carries a decision no gateway has audited yet.
   *
   * @param id A valid approval id.
   * @returns `true` while the marker exists.
   */
  async isUnaudited(id: string): Promise<boolean> {
    try {
      await Deno.lstat(this.#path(id, ".unaudited"));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /**
   * Removes the marker once the decision is in the audit log.
   *
   * @param id A valid approval id.
   */
  async clearUnaudited(id: string): Promise<void> {
    await Deno.remove(this.#path(id, ".unaudited")).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /**
   * Claims a once-only transition by creating a marker file exclusively.
   *
   * @param id A valid approval id.
   * @param step `decided` (approve, deny) or `used` (consume).
   * @returns `true` for the one caller that created the marker, across processes.
   */
  async claim(id: string, step: "decided" | "used"): Promise<boolean> {
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    try {
      await Deno.writeTextFile(this.#path(id, `.${step}`), "", { mode: 0o600, createNew: true });
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      throw error;
    }
  }
}
