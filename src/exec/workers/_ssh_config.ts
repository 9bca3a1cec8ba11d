/**
 * The SSH worker's `configure` message body. Built on the host side by
 * `ssh_kind.ts` (secrets revealed, known_hosts read there: the worker has no
 * read permission) and checked by the worker on arrival.
 *
 * @module
 */

/** Connection settings of one SSH target. */
export interface SshTargetConfig {
  /** Target id. */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /**
   * Private key text (OpenSSH or PEM): one object for all targets with the
   * same key, so the `configure` message carries it once (as known_hosts files).
   */
  readonly privateKey?: SharedText;
  readonly passphrase?: string;
  readonly password?: string;
  /** SSH agent socket path. */
  readonly agent?: string;
  /** Pinned host key fingerprint, `SHA256:...`. */
  readonly hostKey?: string;
  /**
   * The configured known_hosts file: one object for all targets naming the same
   * file, so the `configure` message carries its text once (structured clone
   * keeps an object's identity within a message, but copies a string per use).
   */
  readonly knownHostsFile?: KnownHostsFile;
  /** Id of the ssh target to jump through. */
  readonly via?: string;
  readonly keepaliveMs: number;
  readonly idleCloseMs: number;
  readonly maxChannels: number;
  readonly connectTimeoutMs: number;
  /** Operations that run under `sudo -n`: `"all"`, or a list (the planner decides; informational here). */
  readonly sudo: "none" | "all" | readonly string[];
}

/** A text many targets may share: one object per distinct text in a message. */
export interface SharedText {
  readonly text: string;
}

/** A known_hosts file as the host read it. */
export interface KnownHostsFile {
  /** Its content. */
  readonly text?: string;
  /** Why it could not be read (a sentence), if it could not. */
  readonly error?: string;
}

/** The SSH worker's configuration. */
export interface SshWorkerConfig {
  readonly targets: readonly SshTargetConfig[];
}

/**
 * Checks a `configure` body's shape.
 *
 * @param value The message body.
 * @returns The configuration.
 * @throws {TypeError} When the shape is wrong; the message never quotes values.
 */
export function checkSshConfig(value: unknown): SshWorkerConfig {
  const targets = (value as { targets?: unknown } | null)?.targets;
  if (!Array.isArray(targets)) {
    throw new TypeError("Invalid ssh worker configuration: expected a targets array");
  }
  const ids = new Set<string>();
  for (const [index, t] of targets.entries()) {
    const ok = typeof t === "object" && t !== null && typeof t.id === "string" &&
      typeof t.host === "string" && Number.isInteger(t.port) && typeof t.user === "string" &&
      Number.isInteger(t.maxChannels) && t.maxChannels >= 1 &&
      Number.isInteger(t.connectTimeoutMs) && Number.isInteger(t.keepaliveMs) &&
      Number.isInteger(t.idleCloseMs) &&
      (t.privateKey === undefined || typeof t.privateKey?.text === "string");
    if (!ok) {
      throw new TypeError(
        `Invalid ssh worker configuration: expected target ${
          index + 1
        } to have id, host, port, user and limits, and its private key (if any) as { text }`,
      );
    }
    ids.add(t.id);
  }
  for (const t of targets as SshTargetConfig[]) {
    if (t.via !== undefined && (!ids.has(t.via) || t.via === t.id)) {
      throw new TypeError(
        `Invalid ssh worker configuration: expected via of ${
          JSON.stringify(t.id)
        } to name another target`,
      );
    }
  }
  return { targets: targets as SshTargetConfig[] };
}
