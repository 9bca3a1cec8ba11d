/**
 * `log_search`: journal entries matching a bounded pattern, by unit,
 * priority and time range, counted, with the last matching lines.
 *
 * The pattern reaches journalctl as data: one `--grep=VALUE` argv element
 * (never an option of its own, whatever it starts with), POSIX-quoted by the
 * one quoting function over SSH. journalctl matches with PCRE2, which can
 * backtrack, so a pattern is literal unless `regex: true`, and a regex must
 * be one RE2 accepts without a quantified group that holds a quantifier.
 *
 * @module
 */
import { z } from "zod";
import { patternProblem } from "../config/pattern.ts";
import { defineOperation, OperationError, targetLimits, usesSudo } from "./operation.ts";
import { execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";
import { hostPathSchema, sinceSchema, unitNameSchema } from "./_host_schemas.ts";
import { rootsFor } from "./file.ts";
import { RE2JS } from "re2js";
import { JOURNAL_REACH, journalArgv, parseJournal, PRIORITIES } from "./logs.ts";

/** Most matching entries read per target; the count says when there were more. */
export const SCAN_LIMIT = 5000;

/** Longest pattern, in characters. */
export const MAX_SEARCH_PATTERN = 200;

// A quantified group holding a quantifier, e.g. "(a+)+" or "(x*y){2,}".
function hasNestedQuantifier(source: string): boolean {
  const stack: boolean[] = [];
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "(") stack.push(false);
    else if (c === ")") {
      const inner = stack.pop() ?? false;
      const next = source[i + 1];
      if (inner && next !== undefined && "*+?{".includes(next)) return true;
      if (inner && stack.length > 0) stack[stack.length - 1] = true;
    } else if ("*+{".includes(c) || (c === "?" && source[i - 1] !== "(")) {
      if (stack.length > 0) stack[stack.length - 1] = true;
    }
  }
  return false;
}

const patternSchema = z.string().min(1).max(MAX_SEARCH_PATTERN).refine(
  // deno-lint-ignore no-control-regex
  (value) => value.isWellFormed() && !/[\u0000-\u001f\u007f]/.test(value),
  { error: "Invalid pattern: expected printable text without control characters" },
);

/** The output of `log_search` on one target. */
export const logSearchOutput = z.object({
  count: z.int().describe("Matching entries found (a lower bound when count_capped)"),
  count_capped: z.boolean(),
  entries: z.array(z.object({
    time: z.string().nullable(),
    identifier: z.string().nullable(),
    pid: z.number().nullable(),
    message: z.string(),
  })).describe("The last matching entries, oldest first"),
});

/** The output of `log_search`. */
export type LogSearch = z.infer<typeof logSearchOutput>;

/**
 * Escapes text so PCRE2 matches it literally.
 *
 * @param text Any text.
 * @returns A pattern matching exactly that text.
 */
export function literalPattern(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
}

/**
 * Searches text line by line with RE2 (linear time in the text, whatever
 * the pattern), ignoring case when the pattern has no capital letter, as
 * journalctl does.
 *
 * @param text The file's content.
 * @param args The validated search.
 * @param truncated Whether the content was cut at the read limit.
 * @returns Count and the last matching lines.
 */
export function searchText(
  text: string,
  args: { pattern: string; regex: boolean; lines: number },
  truncated: boolean,
): LogSearch {
  const source = args.regex ? args.pattern : RE2JS.quote(args.pattern);
  const flags = /\p{Lu}/u.test(args.pattern) ? 0 : RE2JS.CASE_INSENSITIVE;
  const re = RE2JS.compile(source, flags);
  const matched = text.split("\n").filter((line) => line !== "" && re.test(line));
  return {
    count: matched.length,
    count_capped: truncated,
    entries: matched.slice(-args.lines).map((message) => ({
      time: null,
      identifier: null,
      pid: null,
      message,
    })),
  };
}

/** Journal search with a bounded pattern. */
export const logSearch = defineOperation({
  name: "log_search",
  title: "Search logs",
  description:
    "Searches the journal, or with `path` a log file under the roots (from `offset`), for `pattern` (literal; `regex: true` for RE2 without nested quantifiers; lowercase ignores case), by `unit`, `priority`, `since`/`until`. Returns the match count (5000 scanned at most) and the last `lines` matches. Sudo if the target's sudo list names it.",
  input: z.strictObject({
    pattern: patternSchema,
    regex: z.boolean().default(false),
    unit: unitNameSchema.optional(),
    priority: z.enum(PRIORITIES).optional(),
    since: sinceSchema.optional(),
    until: sinceSchema.optional(),
    lines: z.int().min(1).max(500).default(50),
    path: hostPathSchema.optional(),
    offset: z.int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  }).refine(
    (a) =>
      a.path === undefined ||
      [a.unit, a.priority, a.since, a.until].every((v) => v === undefined),
    {
      error: "Invalid arguments: unit, priority, since and until apply to the journal, not a path",
    },
  ).superRefine((args, ctx) => {
    if (!args.regex) return;
    const problem = patternProblem(args.pattern) ??
      (hasNestedQuantifier(args.pattern)
        ? "a quantified group holds a quantifier, which can backtrack"
        : undefined);
    if (problem) {
      ctx.addIssue({
        code: "custom",
        path: ["pattern"],
        message:
          `Invalid pattern: expected a regex without backreferences, lookaround or nested quantifiers: ${problem}`,
      });
    }
  }),
  output: logSearchOutput,
  paramReach: {
    ...JOURNAL_REACH,
    until: { absent: "up to now" },
    path: { absent: "the journal, not a file", absentIsNarrowest: true },
  },
  capability: "system:read",
  // A file under the roots is a file read, whatever it holds.
  capabilityFor: (args) => (args.path === undefined ? "system:read" : "file:read"),
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["journalctl"],
  plan: (args, target) => {
    if (args.path !== undefined) {
      // Read race-free under the roots like read_file; matched in the gateway with RE2.
      return {
        kind: "fs_read",
        path: args.path,
        roots: rootsFor(args.path, target),
        offset: args.offset,
        ...targetLimits(target),
      };
    }
    return {
      kind: "exec",
      commands: [journalArgv({
        ...args,
        lines: SCAN_LIMIT,
        grep: args.regex ? args.pattern : literalPattern(args.pattern),
      })],
      mode: "all",
      sudo: usesSudo(target, "log_search"),
      ...targetLimits(target),
    };
  },
  parse: (result, args) => {
    if (result.kind === "fs_read") {
      if (result.encoding !== "utf-8") {
        throw new OperationError("bad_output", `${result.path} is not a text file`);
      }
      return searchText(result.content, args, result.truncated);
    }
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "systemd");
    if (/without pattern matching support/i.test(cmd.stderr)) {
      throw new OperationError("unsupported", "journalctl on this host cannot match patterns");
    }
    // journalctl exits 1 when nothing matches a --grep, saying nothing; an error says why.
    const quietMiss = cmd.exitCode === 1 && cmd.stderr.trim() === "";
    if (cmd.exitCode !== 0 && !quietMiss) {
      throw new OperationError("failed", `journalctl refused the search: ${firstErrorLine(cmd)}`);
    }
    const entries = parseJournal(cmd.stdout);
    return {
      count: entries.length,
      count_capped: entries.length >= SCAN_LIMIT || cmd.truncated,
      entries: entries.slice(-args.lines).map(({ time, identifier, pid, message }) => ({
        time,
        identifier,
        pid,
        message,
      })),
    };
  },
  render: (out) =>
    [
      `${out.count}${out.count_capped ? "+" : ""} matching entries`,
      ...out.entries.slice(-5).map((e) =>
        `${e.time ? `${e.time} ` : ""}${e.identifier ? `${e.identifier}: ` : ""}${
          e.message.split("\n")[0]
        }`
      ),
    ].join("\n"),
});
