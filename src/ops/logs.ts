/**
 * `journal_logs`: recent systemd journal entries, optionally for one unit,
 * since a time, at or above a priority.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, targetLimits, usesSudo } from "./operation.ts";
import { badOutput, execCommands, throwCommonFailure } from "./_host_result.ts";
import { sinceSchema, toJournalSince, unitNameSchema } from "./_host_schemas.ts";

/** Syslog priorities, most severe first, as journalctl names them. */
export const PRIORITIES = [
  "emerg",
  "alert",
  "crit",
  "err",
  "warning",
  "notice",
  "info",
  "debug",
] as const;

const entrySchema = z.object({
  time: z.string(),
  host: z.string(),
  identifier: z.string(),
  pid: z.number().nullable(),
  message: z.string(),
});

/** Journal entries, oldest first. */
export const journalLogsOutput = z.object({
  entries: z.array(entrySchema),
  truncated: z.boolean(),
});

/** The output of `journal_logs`. */
export type JournalLogs = z.infer<typeof journalLogsOutput>;

// short-iso: "2024-05-06T10:15:01+0000 web-1 nginx[812]: message". systemd ≥ 250
// writes the offset as "+00:00"; older ones as "+0000". Kernel lines carry no pid.
const LINE =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:?\d{2}|Z)) (\S+) ([^:\[]+?)(?:\[(\d+)\])?: ?(.*)$/;

/**
 * Parses `journalctl -o short-iso` output. Marker lines (`-- No entries --`,
 * `-- Boot ... --`) are skipped; indented lines continue the previous message.
 *
 * @param stdout What journalctl printed.
 * @returns The entries.
 * @throws {OperationError} `bad_output` when text is present but no line reads as an entry.
 */
export function parseJournal(stdout: string): JournalLogs["entries"] {
  const entries: JournalLogs["entries"] = [];
  let unread = 0;
  for (const line of stdout.split("\n")) {
    if (line.trim() === "" || /^-- .* --$/.test(line)) continue;
    const m = line.match(LINE);
    if (m) {
      entries.push({
        time: m[1],
        host: m[2],
        identifier: m[3],
        pid: m[4] === undefined ? null : Number(m[4]),
        message: m[5],
      });
    } else if (entries.length > 0 && /^\s/.test(line)) {
      entries[entries.length - 1].message += `\n${line.trim()}`;
    } else {
      unread++;
    }
  }
  if (entries.length === 0 && unread > 0) badOutput("journalctl", "short-iso log lines");
  return entries;
}

/** What leaving out a journal filter reaches; the journal reads share it. */
export const JOURNAL_REACH = {
  unit: { absent: "every unit" },
  since: { absent: "the whole journal, from its start" },
  priority: { absent: "every priority" },
} as const;

/** What one journal read asks for; every value validated by its schema first. */
export interface JournalQuery {
  /** Entries read at most (the last ones). */
  readonly lines: number;
  readonly unit?: string;
  readonly since?: string;
  readonly until?: string;
  readonly priority?: string;
  /** Only entries from these syslog identifiers (`--identifier`, any of them). */
  readonly identifiers?: readonly string[];
  /** A PCRE2 pattern for `--grep`. */
  readonly grep?: string;
}

/**
 * The journalctl argv for a query, in `short-iso` output. Every value is
 * bound to its option in one `--opt=value` element, and no operand is
 * passed (journalctl reads bare operands as match expressions), so nothing
 * a caller sends can read as an option of its own.
 *
 * @param query Validated values.
 * @returns The argv.
 */
export function journalArgv(query: JournalQuery): string[] {
  const argv = ["journalctl", "--no-pager", "--quiet", "-o", "short-iso", `--lines=${query.lines}`];
  if (query.unit !== undefined) argv.push(`--unit=${query.unit}`);
  if (query.since !== undefined) argv.push(`--since=${toJournalSince(query.since)}`);
  if (query.until !== undefined) argv.push(`--until=${toJournalSince(query.until)}`);
  if (query.priority !== undefined) argv.push(`--priority=${query.priority}`);
  for (const id of query.identifiers ?? []) argv.push(`--identifier=${id}`);
  if (query.grep !== undefined) argv.push(`--grep=${query.grep}`);
  return argv;
}

/** Recent journal entries. */
export const journalLogs = defineOperation({
  name: "journal_logs",
  title: "Journal logs",
  description:
    'The last `lines` journal entries (default 100), oldest first: time, host, identifier, pid, message; optional `unit`, `since` ("15m", "2h", ISO time), `priority` (and worse). Without root (sudo if the target\'s sudo list names it) or the systemd-journal group only the caller\'s own entries show.',
  input: z.strictObject({
    unit: unitNameSchema.optional(),
    lines: z.int().min(1).max(5000).default(100),
    since: sinceSchema.optional(),
    priority: z.enum(PRIORITIES).optional(),
  }),
  output: journalLogsOutput,
  paramReach: JOURNAL_REACH,
  capability: "system:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["journalctl"],
  plan: (args, target) => ({
    kind: "exec",
    commands: [journalArgv(args)],
    mode: "all",
    sudo: usesSudo(target, "journal_logs"),
    ...targetLimits(target),
  }),
  parse: (result) => {
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "systemd");
    if (cmd.exitCode !== 0) badOutput("journalctl", "exit code 0");
    return { entries: parseJournal(cmd.stdout), truncated: cmd.truncated };
  },
  render: (out) => {
    const shown = out.entries.slice(-5).map((e) =>
      `${e.time} ${e.identifier}: ${e.message.split("\n")[0]}`
    );
    return [`${out.entries.length} entries${out.truncated ? " (output cut)" : ""}`, ...shown]
      .join("\n");
  },
});
