/**
 * The command line: picks the subcommand and maps errors to exit codes.
 *
 * @module
 */
import { VERSION } from "../version.ts";
import { CliError } from "./errors.ts";
import { MAIN_HELP } from "./help.ts";

type Command = (args: string[]) => Promise<number>;

// Each subcommand is loaded when it runs, so `serve` does not pay at start-up
// (time and memory) for modules only other commands use: ssh2 for
// `ssh-keyscan`, the token minting and selftest code. The specifiers are
// string literals, so `deno compile` still embeds every one.
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import("./serve.ts")).runServe,
  launch: async () => (await import("./launch.ts")).runLaunch,
  "check-config": async () => (await import("./check_config.ts")).runCheckConfig,
  audit: async () => (await import("./audit_cmd.ts")).runAudit,
  token: async () => (await import("./token_cmd.ts")).runToken,
  approvals: async () => (await import("./approvals_cmd.ts")).runApprovals,
  "ssh-keyscan": async () => (await import("./keyscan_cmd.ts")).runKeyscan,
  selftest: async () => (await import("./selftest_cmd.ts")).runSelftestCommand,
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
    const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!load) {
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
    const command = await load();
    return await command(rest);
  } catch (error) {
    if (error instanceof CliError) {
      console.error(`tailops: ${error.message}`);
      return error.exitCode;
    }
    throw error;
  }
}
