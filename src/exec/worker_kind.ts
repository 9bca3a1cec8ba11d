/**
 * How the executor host starts one kind of worker: its module, the Deno
 * permissions it runs under, and the configuration message it receives.
 *
 * @module
 */
import type { Target } from "../config/targets_schema.ts";
import type { TargetType } from "../config/capabilities.ts";

/** What the host knows beyond the targets themselves. */
export interface WorkerContext {
  /** Programs the catalog's operations may run on hosts (bare names). */
  readonly programs: readonly string[];
  /** Files the gateway's secrets come from; the local worker refuses to read them. */
  readonly protectedFiles?: ProtectedFiles;
}

/**
 * Files the gateway's own secrets come from (key files, `file:` references,
 * the state directory): the local worker refuses them whatever the roots.
 */
export interface ProtectedFiles {
  /** Paths as configured and their real paths; everything below them is refused too. */
  readonly paths: readonly string[];
  /** `dev:ino` of each protected file and directory known at start (catches hard links). */
  readonly ids: readonly string[];
}

/** One kind of executor worker. */
export interface WorkerKind<T extends Target = Target> {
  /** The target type this worker serves. */
  readonly type: TargetType;
  /** The worker's module. */
  readonly module: URL;
  /**
   * The Deno permissions the worker is created with: exactly the hosts,
   * sockets, paths and programs its targets need; every other key denied.
   */
  permissions(targets: readonly T[], context: WorkerContext): Deno.PermissionOptionsObject;
  /**
   * The `configure` message body: connection settings with secrets revealed.
   * Structured-cloneable; sent by message, never through env or files.
   */
  config(targets: readonly T[], context: WorkerContext): unknown;
}

/** Every permission key denied: the base each worker's set starts from. */
export const NO_PERMISSIONS = {
  env: false,
  ffi: false,
  import: false,
  net: false,
  read: false,
  run: false,
  sys: false,
  write: false,
} as const satisfies Deno.PermissionOptionsObject;
