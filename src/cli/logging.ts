/**
 * Logging setup: JSON lines on stderr. Stdout belongs to the stdio transport.
 *
 * @module
 */
import {
  configure,
  dispose,
  getStreamSink,
  jsonLinesFormatter,
  type LogLevel,
} from "@logtape/logtape";

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;

let flushing: Promise<void> | undefined;

/** What every log line passes through before it is written (known secrets masked). */
let scrub: (text: string) => string = (text) => text;

/**
 * Masks known secret values in every log line from now on: the gateway sets
 * its secret scanner once it knows the secrets (the registry's, templates').
 *
 * @param scrubber Text in, text with secrets masked out.
 */
export function setLogScrubber(scrubber: (text: string) => string): void {
  scrub = scrubber;
}

/**
 * The JSON-lines formatter with each line passed through the scrubber.
 *
 * @param record A log record.
 * @returns The line, secrets masked.
 */
export function scrubbedJsonLine(record: Parameters<typeof jsonLinesFormatter>[0]): string {
  return scrub(jsonLinesFormatter(record));
}

/**
 * Sends every `tailops` log record to stderr as one JSON object per line.
 *
 * @param level The lowest level written.
 */
export async function setupLogging(level: LogLevel): Promise<void> {
  flushing = undefined;
  await configure({
    reset: true,
    sinks: { stderr: getStreamSink(Deno.stderr.writable, { formatter: scrubbedJsonLine }) },
    loggers: [
      { category: ["tailops"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/**
 * Writes out the log lines still buffered, before the process exits
 * (`Deno.exit` does not wait for the stream sink). Later records are dropped.
 */
export function flushLogs(): Promise<void> {
  // Both ends of a stop may ask (the signal handler, and stdio's end of input): dispose once.
  return flushing ??= dispose();
}
