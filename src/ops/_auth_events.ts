/**
 * Reads security events out of log text: SSH logins accepted and failed,
 * sudo use, and accounts made or changed. The text may be journalctl
 * `short-iso` lines, syslog lines (RFC 3339 or `May  6 10:15:01`), or bare
 * messages (sshd's `-E` log file). Lines that are none of these are skipped.
 *
 * @module
 */

/** The kinds of event. */
export const EVENT_KINDS = [
  "ssh_failed",
  "ssh_invalid_user",
  "ssh_accepted",
  "sudo",
  "sudo_denied",
  "account",
] as const;

/** One security event. */
export interface SecurityEvent {
  /** As the log wrote it; `null` for bare messages. */
  readonly time: string | null;
  readonly kind: typeof EVENT_KINDS[number];
  /** The account the event is about (login name, sudo caller, account changed). */
  readonly user: string | null;
  /** The remote address of an SSH event. */
  readonly source: string | null;
  /** The rest, in a few words: auth method, sudo command, account change. */
  readonly detail: string;
}

const ISO_PREFIX =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:?\d{2}|Z)?) \S+ ([^:\[\s]+)(?:\[\d+\])?: (.*)$/;
const BSD_PREFIX = /^([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) \S+ ([^:\[\s]+)(?:\[\d+\])?: (.*)$/;

type Rule = [RegExp, (m: RegExpMatchArray) => Omit<SecurityEvent, "time">];

const RULES: readonly Rule[] = [
  [
    /^Failed (\S+) for (invalid user )?(\S*) from (\S+) port \d+/,
    (m) => ({
      kind: m[2] ? "ssh_invalid_user" : "ssh_failed",
      user: m[3],
      source: m[4],
      detail: m[1],
    }),
  ],
  [
    /^Invalid user (\S*) from (\S+)/,
    (m) => ({ kind: "ssh_invalid_user", user: m[1], source: m[2], detail: "invalid user" }),
  ],
  [
    /^Accepted (\S+) for (\S+) from (\S+) port \d+/,
    (m) => ({ kind: "ssh_accepted", user: m[2], source: m[3], detail: m[1] }),
  ],
  [
    /^\s*(\S+) : (?:(.*?) ; )?TTY=.*? ; PWD=.*? ; USER=(\S+) ; COMMAND=(.*)$/,
    (m) => ({
      kind: m[2] && /NOT in sudoers|incorrect password|not allowed/.test(m[2])
        ? "sudo_denied"
        : "sudo",
      user: m[1],
      source: null,
      detail: `as ${m[3]}: ${m[4].slice(0, 200)}`,
    }),
  ],
  [
    /^new (user|group): name=([^,\s]+)/,
    (m) => ({ kind: "account", user: m[2], source: null, detail: `new ${m[1]}` }),
  ],
  [
    /^(delete user|change user|add) '([^']+)'(.*)$/,
    (m) => ({ kind: "account", user: m[2], source: null, detail: `${m[1]}${m[3]}`.slice(0, 200) }),
  ],
  [
    /^password changed for (\S+)/,
    (m) => ({ kind: "account", user: m[1], source: null, detail: "password changed" }),
  ],
];

/**
 * Parses log text into security events, oldest first.
 *
 * @param text Log lines.
 * @returns The events found and how many lines were read.
 */
export function parseSecurityEvents(text: string): { events: SecurityEvent[]; lines: number } {
  const events: SecurityEvent[] = [];
  let lines = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    lines++;
    const prefixed = line.match(ISO_PREFIX) ?? line.match(BSD_PREFIX);
    const time = prefixed ? prefixed[1] : null;
    const message = prefixed ? prefixed[3] : line;
    for (const [pattern, make] of RULES) {
      const m = message.match(pattern);
      if (m) {
        events.push({ time, ...make(m) });
        break;
      }
    }
  }
  return { events, lines };
}
