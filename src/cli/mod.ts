/**
 * The command line: picks the subcommand and maps errors to exit codes.
 *
 * @module
 */
import denoConfig from "../../deno.json" with { type: "json" };
import { runAudit } from "./audit_cmd.ts";
import { runCheckConfig } from "./check_config.ts";
import { CliError } from "./errors.ts";
import { MAIN_HELP } from "./help.ts";
import { runServe } from "./serve.ts";
import { runApprovals } from "./approvals_cmd.ts";
import { runKeyscan } from "./keyscan_cmd.ts";
import { runSelftestCommand } from "./selftest_cmd.ts";
import { runToken } from "./token_cmd.ts";

/** The gateway's version, from deno.json. */
export const VERSION: string = denoConfig.version;

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  serve: runServe,
  "check-config": runCheckConfig,
  audit: runAudit,
  token: runToken,
  approvals: runApprovals,
  "ssh-keyscan": runKeyscan,
  selftest: runSelftestCommand,
};

/**
 * Runs the CLI.
 *
 * @param argv Arguments after the program name.
 * @returns Exit code.
 */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === "-h" || name === "--help" || name === "help") {
      console.log(MAIN_HELP);
      return name === undefined ? 2 : 0;
    }
    if (name === "-V" || name === "--version") {
      console.log(`tailops ${VERSION}`);
      return 0;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!command) {
      throw new CliError(
        `Unknown command ${JSON.stringify(name)}: expected one of ${
          Object.keys(COMMANDS).join(", ")
        }`,
      );
    }
    if (rest.includes("--version") || rest.includes("-V")) {
      console.log(`tailops ${VERSION}`);
      return 0;
    }
    return await command(rest);
  } catch (error) {
    if (error instanceof CliError) {
      console.error(`tailops: ${error.message}`);
      return error.exitCode;
    }
    throw error;
  }
}
