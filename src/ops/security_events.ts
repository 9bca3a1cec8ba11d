/**
 * `security_events`: SSH logins accepted and failed, sudo use and account
 * changes, read from the journal, the distribution's auth log, or a log file
 * under the target's roots, parsed into records; across several targets the
 * result also says which sources failed most and which users appear on more
 * than one host.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError, targetLimits, usesSudo } from "./operation.ts";
import { execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";
import { hostPathSchema, sinceSchema } from "./_host_schemas.ts";
import { journalArgv } from "./logs.ts";
import { EVENT_KINDS, parseSecurityEvents, type SecurityEvent } from "./_auth_events.ts";
import { rootsFor } from "./file.ts";

/** Where the distributions keep their auth log, in the order tried. */
export const AUTH_LOGS = ["/var/log/auth.log", "/var/log/secure"] as const;

// Programs that write the events we read, as journal identifiers.
const IDENTIFIERS = [
  "sshd",
  "sshd-session",
  "sudo",
  "useradd",
  "usermod",
  "userdel",
  "groupadd",
  "passwd",
  "chpasswd",
];

/** Events returned at most per target; counts cover every event read. */
export const MAX_EVENTS = 200;

const countSchema = z.object({ name: z.string(), count: z.int() });

/** The output of `security_events` on one target. */
export const securityEventsOutput = z.object({
  lines_read: z.int(),
  truncated: z.boolean(),
  counts: z.record(z.string(), z.int()).describe("Events by kind"),
  failed_sources: z.array(countSchema).describe("Sources of failed SSH logins, most first"),
  users: z.array(z.string()).describe("Users in any event"),
  events: z.array(z.object({
    time: z.string().nullable(),
    kind: z.enum(EVENT_KINDS),
    user: z.string().nullable(),
    source: z.string().nullable(),
    detail: z.string(),
  })).describe(`The last ${MAX_EVENTS} events, oldest first`),
});

/** The output of `security_events`. */
export type SecurityEvents = z.infer<typeof securityEventsOutput>;

function top(counts: Map<string, number>, n: number): { name: string; count: number }[] {
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, n)
    .map(([name, count]) => ({ name, count }));
}

/**
 * Summarises parsed events.
 *
 * @param events Events, oldest first.
 * @param read Lines read and whether the text was cut.
 * @returns The output shape.
 */
export function summarizeEvents(
  events: readonly SecurityEvent[],
  read: { lines: number; truncated: boolean },
): SecurityEvents {
  const counts: Record<string, number> = Object.fromEntries(EVENT_KINDS.map((k) => [k, 0]));
  const sources = new Map<string, number>();
  const users = new Set<string>();
  for (const event of events) {
    counts[event.kind]++;
    if (event.user) users.add(event.user);
    if ((event.kind === "ssh_failed" || event.kind === "ssh_invalid_user") && event.source) {
      sources.set(event.source, (sources.get(event.source) ?? 0) + 1);
    }
  }
  return {
    lines_read: read.lines,
    truncated: read.truncated,
    counts,
    failed_sources: top(sources, 10),
    users: [...users].sort().slice(0, 100),
    events: events.slice(-MAX_EVENTS).map((e) => ({ ...e })),
  };
}

/** Security events from a host's logs. */
export const securityEvents = defineOperation({
  name: "security_events",
  title: "Security events",
  description:
    "SSH logins accepted/failed (user, source), sudo use and account changes from `source` journal (default), auth_log or file (`path` under the roots). Returns counts, top failed sources, users, the last 200 events; across targets also top sources and users seen on several hosts. Sudo if the target's sudo list names it.",
  input: z.strictObject({
    source: z.enum(["journal", "auth_log", "file"]).default("journal"),
    path: hostPathSchema.optional(),
    since: sinceSchema.optional(),
    until: sinceSchema.optional(),
    lines: z.int().min(1).max(50_000).default(5000),
  }).refine((a) => (a.source === "file") === (a.path !== undefined), {
    error: 'Invalid arguments: expected `path` exactly when source is "file"',
  }).refine((a) => a.source === "journal" || (a.since === undefined && a.until === undefined), {
    error: 'Invalid arguments: since and until apply to source "journal" only',
  }),
  output: securityEventsOutput,
  paramReach: {
    path: { absent: "the journal or the auth log, not a file", absentIsNarrowest: true },
    since: { absent: "the last `lines` entries, however old" },
    until: { absent: "up to now" },
  },
  capability: "system:read",
  // A file under the roots is a file read, whatever it holds.
  capabilityFor: (args) => (args.source === "file" ? "file:read" : "system:read"),
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["journalctl", "tail"],
  plan: (args, target) => {
    const limits = targetLimits(target);
    if (args.source === "file") {
      return {
        kind: "fs_read",
        path: args.path!,
        roots: rootsFor(args.path!, target),
        offset: 0,
        ...limits,
      };
    }
    const sudo = usesSudo(target, "security_events");
    if (args.source === "auth_log") {
      const commands = AUTH_LOGS.map((file) => ["tail", "-n", String(args.lines), "--", file]);
      return { kind: "exec", commands, mode: "all", sudo, ...limits };
    }
    const argv = journalArgv({ ...args, identifiers: IDENTIFIERS });
    return { kind: "exec", commands: [argv], mode: "all", sudo, ...limits };
  },
  parse: (result) => {
    if (result.kind === "fs_read") {
      if (result.encoding !== "utf-8") {
        throw new OperationError("bad_output", `${result.path} is not a text log`);
      }
      const { events, lines } = parseSecurityEvents(result.content);
      return summarizeEvents(events, { lines, truncated: result.truncated });
    }
    const commands = execCommands(result, 1);
    for (const cmd of commands) {
      throwCommonFailure(cmd, cmd.argv[0] === "tail" ? "coreutils" : "systemd");
    }
    const ran = commands.find((cmd) => cmd.exitCode === 0);
    if (!ran) {
      const err = commands.map((c) => c.stderr).join("\n");
      if (/Permission denied|password is required/.test(err)) {
        throw new OperationError(
          "forbidden",
          "The log is readable by root only: add security_events to the target's sudo list",
        );
      }
      if (commands[0].argv[0] === "tail") {
        throw new OperationError("not_found", `No auth log on this host (${AUTH_LOGS.join(", ")})`);
      }
      throw new OperationError("failed", `journalctl failed: ${firstErrorLine(commands[0])}`);
    }
    const { events, lines } = parseSecurityEvents(ran.stdout);
    return summarizeEvents(events, { lines, truncated: ran.truncated });
  },
  render: (out) => {
    const counts = Object.entries(out.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
    const sources = out.failed_sources.slice(0, 3).map((s) => `${s.name} (${s.count})`);
    return [
      `${out.lines_read} lines read${out.truncated ? " (cut)" : ""}: ${
        counts.join(", ") || "no events"
      }`,
      ...(sources.length ? [`top failed sources: ${sources.join(", ")}`] : []),
    ].join("\n");
  },
  aggregate: (outputs) => {
    const sources = new Map<string, number>();
    const hostsOf = new Map<string, Set<string>>();
    for (const { target, data } of outputs) {
      for (const s of data.failed_sources) {
        sources.set(s.name, (sources.get(s.name) ?? 0) + s.count);
      }
      for (const user of data.users) {
        if (!hostsOf.has(user)) hostsOf.set(user, new Set());
        hostsOf.get(user)!.add(target);
      }
    }
    const failedSources = top(sources, 10);
    const shared = [...hostsOf].filter(([, hosts]) => hosts.size > 1)
      .map(([user, hosts]) => ({ user, targets: [...hosts] }))
      .sort((a, b) => b.targets.length - a.targets.length || a.user.localeCompare(b.user))
      .slice(0, 50);
    return {
      data: { failed_sources: failedSources, users_on_several_targets: shared },
      text: [
        `Across ${outputs.length} targets: top failed sources ${
          failedSources.slice(0, 3).map((s) => `${s.name} (${s.count})`).join(", ") || "none"
        }`,
        `users on several targets: ${
          shared.map((s) => `${s.user} (${s.targets.length})`).join(", ") || "none"
        }`,
      ].join("; "),
    };
  },
});
