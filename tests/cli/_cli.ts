import { runCli } from "../../src/cli/mod.ts";

/** What one in-process CLI run printed. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs the CLI in-process and captures what it prints.
 *
 * @param argv Arguments after the program name.
 * @returns Exit code, stdout and stderr text.
 */
export async function cli(...argv: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    const code = await runCli(argv);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}
