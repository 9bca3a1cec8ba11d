/**
 * Help texts, exported so tests can assert on them.
 *
 * @module
 */

/** Top-level help. */
export const MAIN_HELP = `tailops — a hardened MCP gateway for infrastructure

Usage: tailops <command> [options]

Commands:
  serve          Run the gateway (stdio or Streamable HTTP)
  check-config   Validate a targets file and a policy file
  audit verify   Verify the hash chain of an audit log
  ssh-keyscan    Print the host key fingerprint of an SSH target
  token          Mint, list and revoke gateway access tokens
  approvals      List, show, approve and deny pending approvals
  selftest       Check a running gateway's authentication behaviour

Options:
  -h, --help     Show help (also after a command)
  -V, --version  Show the version

Environment variables mirror the flags: TAILOPS_TARGETS, TAILOPS_POLICY,
TAILOPS_STATE_DIR, TAILOPS_TRANSPORT, TAILOPS_LISTEN, TAILOPS_PUBLIC_URL,
TAILOPS_LOG_LEVEL. Flags win over the environment.`;

/** Help for `serve`. */
export const SERVE_HELP = `Usage: tailops serve [options]

Runs the gateway. Without --targets it serves the embedded default: the
gateway host alone ("local"), observe-only policy/default.yaml.

Options:
  --transport stdio|http   Transport (default: stdio)           [TAILOPS_TRANSPORT]
  --listen HOST:PORT       HTTP listen address (default: 127.0.0.1:8080) [TAILOPS_LISTEN]
  --targets FILE           Target registry (YAML)                [TAILOPS_TARGETS]
  --policy FILE            Policy (YAML)                         [TAILOPS_POLICY]
  --state-dir DIR          Audit log, keys, tokens, approvals    [TAILOPS_STATE_DIR]
  --public-url URL         The URL clients use for /mcp, when it is not the
                           listen address (e.g. a Tailscale name) [TAILOPS_PUBLIC_URL]
  --allowed-host HOST      Extra accepted Host header (repeatable)
  --allowed-origin ORIGIN  Extra accepted Origin header (repeatable)
  --no-auth                Accept unauthenticated requests (loopback listen only)
  --fsync MODE             Audit durability: batch|always|never (default: batch)
  --log-level LEVEL        debug|info|warning|error (default: info) [TAILOPS_LOG_LEVEL]
  -h, --help               Show this help`;

/** Help for `check-config`. */
export const CHECK_CONFIG_HELP = `Usage: tailops check-config [options] [TARGETS_FILE]

Validates a targets file and a policy file and prints what they contain, with
secrets shown as <secret from NAME>. Problems are reported as FILE:LINE:COLUMN.

Options:
  --targets FILE    Target registry (or give it as the argument) [TAILOPS_TARGETS]
  --policy FILE     Policy                                      [TAILOPS_POLICY]
  --no-resolve      Do not read secret references (check syntax only)
  -h, --help        Show this help`;

/** Help for `audit`. */
export const AUDIT_HELP = `Usage: tailops audit verify FILE

Walks the hash chain of an audit log. Prints "OK" with the record count, or
the first broken record's seq and why (edited, deleted or reordered,
truncated, invalid). Exits 1 when the chain is broken.`;
