/**
 * Plans: the plain data an operation turns its validated arguments into, and
 * the results executors send back. Plans never carry shell strings: programs
 * are argv arrays, Docker and HTTP calls are structured requests.
 *
 * Workers import this module; it imports only the pure path and depth checks.
 *
 * @module
 */
export { isUnderRoots } from "../config/paths.ts";
export { jsonTextTooDeep, MAX_OUTPUT_DEPTH, tooDeepMessage, valueTooDeep } from "./output_depth.ts";

/** Limits every plan carries. */
export interface PlanLimits {
  /** Milliseconds before the executor kills the work. */
  readonly timeoutMs: number;
  /** Bytes of output kept (per stream for programs); the rest is cut and reported. */
  readonly outputCapBytes: number;
}

/** Run programs on a host (local or over SSH). */
export interface ExecPlan extends PlanLimits {
  readonly kind: "exec";
  /** Each entry is one argv; `argv[0]` is a bare program name from the operation's `programs`. */
  readonly commands: readonly (readonly string[])[];
  /** `all`: run every command in order. `first_available`: run only the first whose program exists. */
  readonly mode: "all" | "first_available";
  /** Prefix `sudo -n --` (SSH targets whose sudo policy allows this operation). */
  readonly sudo: boolean;
  /** Per command, overriding `sudo` (operator-defined steps declare sudo one by one). */
  readonly sudoEach?: readonly boolean[];
  /** In `all` mode, run no further command after one exits non-zero or is killed. */
  readonly stopOnFailure?: boolean;
  /**
   * `first_available` mode: per command, an argv that must exit 0 for that command to be
   * chosen (the docker CLI exists without its compose plugin: `docker compose version`
   * tells). `null` or absent: chosen when its program exists.
   */
  readonly probes?: readonly (readonly string[] | null)[];
  /** `first_available` mode: the sentence a host with none of the commands gets. */
  readonly noneMessage?: string;
}

/**
 * Whether command `index` of an exec plan runs under sudo.
 *
 * @param plan The plan.
 * @param index The command's index.
 * @returns Its sudo flag.
 */
export function sudoFor(plan: Pick<ExecPlan, "sudo" | "sudoEach">, index: number): boolean {
  return plan.sudoEach?.[index] ?? plan.sudo;
}

/** Read one file under allowed roots. */
export interface FsReadPlan extends PlanLimits {
  readonly kind: "fs_read";
  /** Absolute, normalised path. */
  readonly path: string;
  /** The target's allowed roots; the real path (symlinks resolved) must lie under one. */
  readonly roots: readonly string[];
  /** Byte offset to start reading at. */
  readonly offset: number;
  /** SSH targets: run the read script under `sudo -n` (file_write's dry run where sudo is allowed). */
  readonly sudo?: boolean;
  /** Also report the file's mode, owner and group (file_write's dry run). */
  readonly metadata?: boolean;
}

/** List one directory under allowed roots. */
export interface FsListPlan extends PlanLimits {
  readonly kind: "fs_list";
  /** Absolute, normalised path. */
  readonly path: string;
  /** The target's allowed roots; the real path (symlinks resolved) must lie under one. */
  readonly roots: readonly string[];
  /** Entries returned at most. */
  readonly maxEntries: number;
}

/** Write one file under allowed write roots, atomically, never following a symlink. */
export interface FsWritePlan extends PlanLimits {
  readonly kind: "fs_write";
  /** Absolute, normalised path; its directory must exist. */
  readonly path: string;
  /** The target's write roots; the directory's real path must lie under one. */
  readonly roots: readonly string[];
  /** The new content, base64. */
  readonly content: string;
  /** SHA-256 of the content, hex: an identical file is left alone. */
  readonly sha256: string;
  /** Permission bits without execute, setuid, setgid or sticky bits (e.g. `0o644`). */
  readonly mode: number;
  /** Keep the previous version as a hard link `.NAME.tailops-prev` beside it. */
  readonly backup: boolean;
  /** Write only when the current content has this SHA-256 (`"absent"`: only when no file). */
  readonly expectedSha256?: string;
  /** Create the file's directory (its last component only, mode 0755) when it is missing. */
  readonly makeDir?: boolean;
  /** Owner to set: a user name or numeric id (numeric only on the gateway host). */
  readonly owner?: string;
  /** Group to set: a group name or numeric id (numeric only on the gateway host). */
  readonly group?: string;
  /**
   * SSH targets: run the write script under `sudo -n -- /bin/sh -c SCRIPT`
   * (the target's `sudo` names the operation). Ignored on the gateway host.
   */
  readonly sudo?: boolean;
}

/** One request to a Docker Engine API. */
export interface DockerPlan extends PlanLimits {
  readonly kind: "docker";
  readonly method: "GET" | "POST" | "DELETE";
  /** Path without the API version prefix, e.g. `/containers/json`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** How to read the response body. */
  readonly response: "json" | "logs" | "stream_json" | "none";
  /**
   * When set, the container must exist on the engine before this (mutating) request is sent:
   * the worker inspects it first and fails with `not_found` otherwise. For `logs` plans the
   * inspection also tells whether the container has a TTY (its output is then not multiplexed).
   */
  readonly requireContainer?: string;
  /**
   * When set, the request is sent once per container matching these list filters
   * (`GET /containers/json?all=1&filters=...`), `{id}` in `path` standing for each container's
   * id; the result body is an array of {@linkcode DockerEachResult}. Used for compose stacks.
   */
  readonly forEach?: { readonly filters: Readonly<Record<string, readonly string[]>> };
}

/** One container's outcome in a `forEach` Docker plan. */
export interface DockerEachResult {
  readonly id: string;
  /** Container name without the leading `/`. */
  readonly name: string;
  /** HTTP status of this container's request. */
  readonly status: number;
  /** The engine's short message when the request failed, else `null`. */
  readonly message: string | null;
}

/** One request to an HTTP API target. */
export interface HttpPlan extends PlanLimits {
  readonly kind: "http";
  readonly method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path relative to the target's base URL, starting with `/`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Caller-supplied headers (already filtered by the operation's allowlist). */
  readonly headers?: Readonly<Record<string, string>>;
  /** JSON body. */
  readonly body?: unknown;
  /** Report TLS certificate expiry and latency only (`http_health`). */
  readonly health?: boolean;
}

/** A Proxmox VE task id: `UPID:node:pid:pstart:starttime:type:id:user@realm[!token]:` (group 1: node). */
export const UPID_PATTERN =
  /^UPID:([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?):[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:[A-Za-z0-9_-]{1,64}:[A-Za-z0-9._-]{0,64}:[^\s:/@!]{1,64}@[A-Za-z0-9_-]{1,32}(?:![A-Za-z0-9._-]{1,64})?:$/;

/** Which guests a Proxmox VE request runs for, chosen from `GET /cluster/resources?type=vm`. */
export interface PveGuestFilter {
  /** Guests with these ids. */
  readonly vmids?: readonly number[];
  /** Guests carrying at least one of these tags. */
  readonly tags?: readonly string[];
  /** Guests on this node only. */
  readonly node?: string;
  /** Guests of this kind only. */
  readonly type?: "qemu" | "lxc";
}

/** One Proxmox VE API request of a {@linkcode ProxmoxPlan}. */
export interface PveRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /**
   * Path under the API root. Per-item placeholders: `{node}`, `{type}`, `{vmid}` (each guest),
   * `{storage}` (each backup storage); every value comes from the API's own listing.
   */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /**
   * Parameters of a POST, PUT or DELETE, sent in the URL's query: the API documents parameters
   * in the URL for every method (and form bodies for POST and PUT), so no body encoding is needed.
   */
  readonly params?: Readonly<Record<string, string | number>>;
  /**
   * Once (absent), once per selected guest, once per online node, or once per storage holding
   * backups (a shared storage once).
   */
  readonly each?: "guest" | "node" | "backup_storage";
  /** The answer is a task id (UPID) or a task's status: wait for the task to end, polling. */
  readonly wait?: boolean;
}

/** Requests to a Proxmox VE API target, run in order by the proxmox worker. */
export interface ProxmoxPlan extends PlanLimits {
  readonly kind: "proxmox";
  readonly requests: readonly PveRequest[];
  /**
   * The guests `each: "guest"` requests run for; when it names ids or tags, an empty selection
   * fails with `not_found`.
   */
  readonly guests?: PveGuestFilter;
  /** Limits `each: "backup_storage"` to the storage of this name. */
  readonly storage?: string;
}

/** Signals `process_signal` may send. */
export const SIGNALS = ["TERM", "KILL", "HUP", "INT", "USR1"] as const;

/** Most processes one signal plan may reach by name; more and it sends nothing. */
export const MAX_SIGNALLED = 64;

/**
 * Send a signal to one process or to every process of one name on a host
 * (local or over SSH). The worker lists the matches and refuses, at the
 * moment it sends, pid 1 and the processes that run the call itself: on the
 * gateway host the gateway, its ancestors, its session and its children; over
 * SSH the remote shell, its ancestors (the SSH session) and its session.
 */
export interface SignalPlan extends PlanLimits {
  readonly kind: "signal";
  readonly signal: typeof SIGNALS[number];
  /** One process id (at least 2); or */
  readonly pid?: number;
  /** every process whose name (`/proc/PID/comm`) is exactly this. */
  readonly name?: string;
  /** `false`: list what matches and send nothing (dry run). */
  readonly send: boolean;
  /** Run `kill` under `sudo -n` (SSH targets whose sudo policy names the operation). */
  readonly sudo: boolean;
}

/**
 * The argv that signals one process: the local worker runs `kill -s SIG --
 * PID`; over SSH the script runs the shell's `kill -s SIG PID` (or `sudo -n
 * -- kill -s SIG PID`, the program).
 *
 * @param plan The signal plan.
 * @param ssh Whether it runs over SSH.
 * @param pid The pid, or a placeholder.
 * @returns The argv.
 */
export function signalArgv(plan: SignalPlan, ssh: boolean, pid: string): string[] {
  if (!ssh) return ["kill", "-s", plan.signal, "--", pid];
  return [...(plan.sudo ? ["sudo", "-n", "--"] : []), "kill", "-s", plan.signal, pid];
}

/** Plans that one worker runs. */
export type StepPlan =
  | ExecPlan
  | FsReadPlan
  | FsListPlan
  | FsWritePlan
  | DockerPlan
  | HttpPlan
  | ProxmoxPlan
  | SignalPlan;

/**
 * Several plans on one target, in order, run by the executor host (workers
 * never see it): a stack deployment writes files, then runs compose.
 */
export interface SequencePlan extends PlanLimits {
  readonly kind: "sequence";
  readonly steps: readonly {
    readonly plan: StepPlan;
    /** Run only when an earlier `fs_write` step changed its file. */
    readonly onlyIfChanged?: boolean;
    /**
     * For an `fs_write` step: its content is what the earlier `fs_read` step
     * with this index read (whole, not cut), e.g. a backup put back.
     */
    readonly contentFrom?: number;
    /**
     * For an exec step listing compose containers (see compose_ps.ts): run it again every
     * `everyMs` until every one of `services` has settled (running, healthy where it has a
     * health check) or `withinMs` passed; the last run is the step's result. With
     * `onlyIfChanged`, it runs once when no earlier step changed a file.
     */
    readonly until?: ComposeSettle;
    /**
     * For a compose pull step built without services: the services to pull are decided from
     * the result of the earlier image inspection step `step` (see image_pull.ts) and appended
     * as `-- SERVICE...`; the step is skipped when there is none.
     */
    readonly pullFrom?: { readonly step: number; readonly candidates: readonly PullCandidate[] };
    /** The sequence goes on when this step fails: a later step reads its failure (`pullFrom`). */
    readonly failureReadLater?: boolean;
  }[];
  /** Run every step even after one failed (dry run's read-only checks); else stop. */
  readonly continueOnFailure?: boolean;
}

/** When a compose listing step is repeated: see `SequencePlan` steps' `until`. */
export interface ComposeSettle {
  /** The services that must each have a settled container. */
  readonly services: readonly string[];
  readonly everyMs: number;
  readonly withinMs: number;
  /** Repeat only when an earlier step changed a file; else run once. */
  readonly onlyIfChanged?: boolean;
}

/** One service whose image a stack deployment may pull, as its compose file declares it. */
export interface PullCandidate {
  /** The service's name. */
  readonly name: string;
  /** Its `image`, or `null` when it only builds one. */
  readonly image: string | null;
  /** Whether it has a `build` section. */
  readonly build: boolean;
  /** Its `pull_policy`, or `null`. */
  readonly pullPolicy: string | null;
}

/** Any plan. */
export type Plan = StepPlan | SequencePlan;

/** What one program run produced. */
export interface CommandResult {
  /** The argv that ran (without sudo). */
  readonly argv: readonly string[];
  /** Exit code, or `null` when killed by a signal. */
  readonly exitCode: number | null;
  /** Signal name when killed, else `null`. */
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Whether either stream was cut at the output cap. */
  readonly truncated: boolean;
  /** Bytes the program wrote in total (both streams, before the cap). */
  readonly bytes: number;
}

/** A file's content. */
export interface FsReadResult {
  readonly kind: "fs_read";
  /** The real path read (symlinks resolved). */
  readonly path: string;
  /** File size in bytes. */
  readonly size: number;
  /** UTF-8 text, or base64 when the bytes are not valid UTF-8. */
  readonly content: string;
  readonly encoding: "utf-8" | "base64";
  readonly truncated: boolean;
  /** When the plan asked: the file's metadata, as it was when read. */
  readonly metadata?: FileMetadata;
}

/** A file's permission bits and ownership. */
export interface FileMetadata {
  /** Permission bits in octal, e.g. `"0644"`. */
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  /** The owner's and group's names, where the host tells them (over SSH). */
  readonly owner?: string;
  readonly group?: string;
}

/** One directory entry. */
export interface DirEntry {
  readonly name: string;
  readonly type: "file" | "directory" | "symlink" | "other";
  readonly size: number | null;
  /** Modification time, ISO 8601, when known. */
  readonly mtime: string | null;
  /** Permission bits in octal, e.g. `"0644"`, when known. */
  readonly mode: string | null;
}

/** Why a matching process is never signalled. */
export type SignalRefusal = "init" | "gateway" | "ancestor" | "session" | "descendant";

/** One process a signal plan matched. */
export interface SignalledProcess {
  readonly pid: number;
  readonly ppid: number;
  readonly user: string;
  readonly name: string;
  /** Why it is left alone, or `null`. */
  readonly refused: SignalRefusal | null;
  /** The exact argv that signals it (or would, in a dry run); absent when refused. */
  readonly argv?: readonly string[];
  /** `matched` when nothing was sent (dry run or refused), else what `kill` did. */
  readonly outcome: "matched" | "signalled" | "gone" | "failed";
  /** What `kill` said when it failed. */
  readonly error?: string;
}

/** What a signal plan found and did. */
export interface SignalResult {
  readonly kind: "signal";
  readonly processes: readonly SignalledProcess[];
  /** More than {@linkcode MAX_SIGNALLED} processes matched: none was signalled. */
  readonly tooMany: boolean;
}

/**
 * A process after `kill` ran on it (both host workers read `kill` the same way).
 *
 * @param process The process as matched.
 * @param exitCode `kill`'s exit code.
 * @param message What `kill` said.
 * @returns The process with its outcome: `gone` when it had exited meanwhile.
 */
export function killOutcome(
  process: SignalledProcess,
  exitCode: number,
  message: string,
): SignalledProcess {
  if (exitCode === 0) return { ...process, outcome: "signalled" };
  if (/no such process/i.test(message)) return { ...process, outcome: "gone" };
  const error = message.trim().slice(0, 200) || `kill exited with ${exitCode}`;
  return { ...process, outcome: "failed", error };
}

/** A directory listing. */
export interface FsListResult {
  readonly kind: "fs_list";
  /** The real path listed (symlinks resolved). */
  readonly path: string;
  readonly entries: readonly DirEntry[];
  readonly truncated: boolean;
}

/** What a file write did. */
export interface FsWriteResult {
  readonly kind: "fs_write";
  /** The real path written (the directory's symlinks resolved). */
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  /** SHA-256 of the content replaced, `null` when there was no file. */
  readonly previousSha256: string | null;
  /** `false` when the file already had this content (nothing was written). */
  readonly changed: boolean;
  /** The backup's path, when one was made. */
  readonly backup: string | null;
}

/** Programs' results, in the plan's order (only the one that ran in `first_available` mode). */
export interface ExecResult {
  readonly kind: "exec";
  readonly commands: readonly CommandResult[];
}

/** A Docker Engine API response. */
export interface DockerResult {
  readonly kind: "docker";
  readonly status: number;
  /** Parsed JSON (`json`, `stream_json` as an array), or `null`. */
  readonly body: unknown;
  /** Demultiplexed log streams (`logs`). */
  readonly stdout?: string;
  readonly stderr?: string;
  readonly truncated: boolean;
  /** API version used for the request. */
  readonly apiVersion: string;
}

/** An HTTP target's response. */
export interface HttpResult {
  readonly kind: "http";
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON when the response is JSON, else text. */
  readonly body: unknown;
  readonly truncated: boolean;
  readonly latencyMs: number;
  /** TLS certificate expiry (ISO 8601) when known (`health` plans). */
  readonly certificateExpires?: string | null;
  /** Why `certificateExpires` is `null` (`health` plans). */
  readonly certificateNote?: string;
}

/** A sequence's outcome, step by step (steps not run are absent, or `skipped`). */
export interface SequenceResult {
  readonly kind: "sequence";
  readonly steps: readonly (
    | { readonly ok: true; readonly result: PlanResult }
    | { readonly ok: false; readonly error: ExecFailure }
    | { readonly skipped: true }
  )[];
}

/** A guest as the cluster lists it. */
export interface PveGuest {
  readonly vmid: number;
  readonly node: string;
  readonly type: "qemu" | "lxc";
  readonly name: string;
  readonly status: string;
  readonly tags: readonly string[];
}

/** A Proxmox VE task's state (`GET /nodes/{node}/tasks/{upid}/status`). */
export interface PveTask {
  readonly upid: string;
  /** `running` or `stopped`. */
  readonly status: string;
  /** When stopped: `OK`, `WARNINGS: n`, or the error. */
  readonly exitstatus: string | null;
}

/** The answer to one request of a proxmox plan (one per guest, node or storage with `each`). */
export interface PveItem {
  /** Index of the request in the plan. */
  readonly request: number;
  /** The exact request sent, e.g. `POST /nodes/pve1/qemu/100/snapshot`. */
  readonly sent: string;
  readonly guest?: PveGuest;
  readonly node?: string;
  readonly storage?: string;
  /** HTTP status. */
  readonly status: number;
  /** The API's `data`. */
  readonly data: unknown;
  /** The API's error message (and per-parameter errors) when the request failed, else `null`. */
  readonly error: string | null;
  /** The task, when the request started one and the plan waited for it. */
  readonly task?: PveTask;
}

/** A proxmox plan's answers, in request order. */
export interface ProxmoxResult {
  readonly kind: "proxmox";
  readonly items: readonly PveItem[];
  /** Every guest the filter or node limit let through (for coverage questions). */
  readonly guests: readonly PveGuest[];
}

/** Any plan's result. */
export type PlanResult =
  | SequenceResult
  | ExecResult
  | FsReadResult
  | FsListResult
  | FsWriteResult
  | DockerResult
  | HttpResult
  | ProxmoxResult
  | SignalResult;

/** Why an executor could not produce a result. Codes are stable. */
export type ExecFailureCode =
  /** The work ran past its timeout and was killed. */
  | "timeout"
  /** The target could not be reached or refused the connection. */
  | "unreachable"
  /** The target's identity could not be verified (host key, TLS). */
  | "untrusted"
  /** Authentication with the target failed. */
  | "auth_failed"
  /** A program the plan needs is not installed on the target. */
  | "program_missing"
  /** A path does not exist, or a named object (container) is absent. */
  | "not_found"
  /** The path or request lies outside what the target allows. */
  | "forbidden"
  /** The executor died while working; it has been restarted. */
  | "crashed"
  /** The call was cancelled by the client. */
  | "cancelled"
  /** The target answered with something we could not understand. */
  | "bad_response"
  /** The target's answer is valid but beyond what the gateway accepts (nested too deep). */
  | "bad_output"
  /** Anything else. */
  | "internal";

/** An executor failure: a stable code and a sentence safe to show a client. */
export interface ExecFailure {
  readonly code: ExecFailureCode;
  readonly message: string;
}
