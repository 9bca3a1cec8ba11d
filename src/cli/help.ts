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
  launch         Run serve under the narrowest permission set its configuration allows
  check-config   Validate a targets file and a policy file
  audit verify   Verify an audit log's hash chain and signed checkpoints
  audit key      Print the public key that verifies audit checkpoints
  ssh-keyscan    Print the host key fingerprint of an SSH target
  token          Mint, list and revoke gateway access tokens
  approvals      List, show, approve and deny pending approvals
  selftest       Check a running gateway's authentication behaviour

Options:
  -h, --help     Show help (also after a command)
  -V, --version  Show the version

Environment variables mirror the flags: TAILOPS_TARGETS, TAILOPS_POLICY,
TAILOPS_STATE_DIR, TAILOPS_TRANSPORT, TAILOPS_LISTEN, TAILOPS_PUBLIC_URL,
TAILOPS_LOG_LEVEL, TAILOPS_SHUTDOWN_GRACE. Flags win over the environment.`;

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
  --operations DIR         Operator-defined operation files      [TAILOPS_OPERATIONS]
  --templates DIR          file_write templates                  [TAILOPS_TEMPLATES]
  --stacks DIR             Curated compose stacks (stack_deploy) [TAILOPS_STACKS]
  --state-url URL          Shared state for several gateways: postgres://USER@HOST/DB,
                           or "\${ENV}"/"file:/path" holding one with its password
                           (default: the state dir alone)         [TAILOPS_STATE_URL]
  --public-url URL         The URL clients use for /mcp, when it is not the
                           listen address (e.g. a Tailscale name) [TAILOPS_PUBLIC_URL]
  --allowed-host HOST      Extra accepted Host header (repeatable)
  --allowed-origin ORIGIN  Extra accepted Origin header (repeatable)
  --no-auth                Accept unauthenticated requests (loopback listen only)
  --fsync MODE             Audit durability: batch|always|never (default: batch)
  --log-level LEVEL        debug|info|warning|error (default: info) [TAILOPS_LOG_LEVEL]
  --shutdown-grace SECONDS On SIGTERM/SIGINT, how long calls in flight may
                           finish before they are cut (default: 10) [TAILOPS_SHUTDOWN_GRACE]
  -h, --help               Show this help

HTTP limits (flag, else TAILOPS_ + the flag in capitals with _, else default):
  --max-connections N            Connections open at once (default: 1024; lowered
                                 to the descriptor limit minus --fd-reserve)
  --max-connections-per-peer N   Connections from one address (default: 256)
  --headers-timeout DURATION     Time to send request headers (default: 10s)
  --request-timeout DURATION     Time to send a whole request (default: 30s)
  --keep-alive-timeout DURATION  Idle time between requests (default: 30s)
  --fd-reserve N                 Descriptors kept for everything else (default: 256)
  --max-sessions-per-identity N  MCP sessions one identity may hold (default: 16)
  --session-idle-timeout DURATION
                                 Close a session without requests this long
                                 (default: 10m; 6x with an open event stream)
  --http-rate-unauthenticated RATE[:BURST]
                                 Requests per minute per client address that end
                                 unauthenticated (default: 12000:2000)
  --http-rate-identity RATE[:BURST]
                                 Authenticated requests per minute per identity
                                 (default: 60000:10000); both override the
                                 policy's rate_limits.http
  --stateless                    Serve 2025-era clients without sessions, each
                                 request on its own (for load balancers; no
                                 elicitation). 2026-07-28 clients are always
                                 stateless                  [TAILOPS_STATELESS]

SIGHUP is ignored (configuration is not reloaded; restart to apply changes).

Operator-defined operations: --operations (or TAILOPS_OPERATIONS) names a
directory of operation files (see operations/ and the README); --templates
names the templates file_write may fill. Compose stacks to deploy: --stacks
(or TAILOPS_STACKS) names a directory with one subdirectory per stack (a file
NAME.tailops-template.yaml in a stack renders NAME from stack_deploy's
variables).`;

/** Help for `check-config`. */
export const CHECK_CONFIG_HELP = `Usage: tailops check-config [options] [TARGETS_FILE]

Validates a targets file and a policy file and prints what they contain, with
secrets shown as <secret from NAME>. Problems are reported as FILE:LINE:COLUMN.

Options:
  --targets FILE    Target registry (or give it as the argument) [TAILOPS_TARGETS]
  --policy FILE     Policy                                      [TAILOPS_POLICY]
  --operations DIR  Operator-defined operation files        [TAILOPS_OPERATIONS]
  --stacks DIR      Curated compose stacks (stack_deploy)   [TAILOPS_STACKS]
  --templates DIR   file_write templates                     [TAILOPS_TEMPLATES]
  --no-resolve      Do not read secret references (check syntax only)
  -h, --help        Show this help`;

/** Help for `audit`. */
export const AUDIT_HELP = `Usage: tailops audit verify FILE|DIR [--key KEY] [--shipped FILE]
       tailops audit verify --state-url URL [--key KEY]
       tailops audit key [--state-dir DIR]

verify walks the hash chain of an audit log. Prints "OK" with the record
count, or the first broken record's seq and why (edited, deleted or
reordered, truncated, invalid, rewritten, foreign_key). Given a state
directory, it verifies every chain in it: each gateway running on that
directory writes its own (audit.jsonl, audit.2.jsonl, ...). With --state-url
instead of FILE it verifies every gateway's chain in the shared audit mirror
and lists the records missing from each (gaps); exit 1 when any is broken.

  --key KEY      The audit public key (a file holding what "audit key" prints,
                 or that JSON itself). Every checkpoint's signature is checked:
                 a chain rewritten after it was signed is "rewritten", one
                 re-signed with another key "foreign_key". Records after the
                 last checkpoint are reported as not covered.
  --shipped FILE Checkpoints shipped off the host (webhook bodies or syslog
                 lines, one per line): each must be in the log, unchanged; a
                 log that ends before one of them was cut ("truncated").
                 With DIR, each copy is checked in the chain holding the
                 head it signs; a copy no chain holds is a cut (BROKEN).

Notices say what the gateway recorded about its own log: a torn last line it
kept aside at start, a time it could not write.

Exit codes: 0 intact; 1 broken; 2 intact, but --key was given and records at
the end are not covered by a signed checkpoint (a cut tail cannot be excluded;
compare with --shipped).

key prints the public key (JWK) of STATE/keys/audit.jwk.json, creating the key
when missing. Keep a copy off the host.`;

/** Help for `token`. */
export const TOKEN_HELP = `Usage: tailops token <command> [options]

Gateway access tokens: JWTs signed with the gateway key in the state dir.
The gateway checks the revocation list on every request.

Commands:
  mint --sub NAME --role ROLE --ttl TTL [--resource URL] [--policy FILE]
      Prints the token alone on stdout (so TOKEN=$(tailops token mint ...)
      works) and its id and expiry on stderr. The identity is token:NAME; ROLE
      must be a role of the policy's identities section. TTL is mandatory:
      30m, 8h, 7d or plain seconds, at most 30d (or the policy's
      auth.gateway_tokens.max_ttl_seconds when --policy is given).
      --resource is the token's audience: it must equal the gateway's
      canonical resource URI, which serve takes from --public-url, else
      http://LISTEN/mcp (default here: TAILOPS_PUBLIC_URL, else
      http://127.0.0.1:8080/mcp).
  list [--json]
      Every minted token (never its text): jti, sub, role, expiry and state
      (active, expired or revoked).
  revoke JTI [--force]
      Revokes a token by id, at once for a running gateway. An id that is not
      in this state dir's ledger is refused unless --force.
  rotate-key
      Replaces the signing key. Tokens signed by the old key keep working
      until they expire or are revoked (its public key is retained).

Options:
  --state-dir DIR   The gateway's state directory            [TAILOPS_STATE_DIR]
  --state-url URL   Shared state of several gateways (as for serve) [TAILOPS_STATE_URL]
  -h, --help        Show this help`;

/** Help for `approvals`. */
export const APPROVALS_HELP = `Usage: tailops approvals <command> [options]

Calls that a policy rule sends for approval wait in the state dir until a
person decides. After approval the requester calls again with approval_id.

Commands:
  list [--state pending|approved|denied|expired|used] [--json]
      Approvals, oldest first. A pending or approved approval past its expiry
      is shown as expired.
  show ID [--json]
      Summary, requester, targets, rule, the exact plan, expiry and state.
  approve ID [--as NAME]
      Approves as local:USER (your login name; --as NAME approves as
      local:NAME). Under separation of duties the requester cannot approve
      their own request; the refusal is printed and the exit code is 1.
  deny ID [--reason TEXT] [--as NAME]
      Denies, with a reason the requester will see.
  grant ID
      Prints the approved approval's signed grant (a compact JWS). A second
      gateway that shares this gateway's key (STATE/keys) but not its state
      dir runs the call when the requester passes it as approval_grant.

The running gateway holds the audit log, so this command writes no audit
record itself: the gateway records the grants and denials it observes (one
made while no gateway runs is recorded when the gateway next starts).

Options:
  --state-dir DIR   The gateway's state directory            [TAILOPS_STATE_DIR]
  --state-url URL   Shared state of several gateways (as for serve) [TAILOPS_STATE_URL]
  -h, --help        Show this help`;

/** Help for `ssh-keyscan`. */
export const SSH_KEYSCAN_HELP = `Usage: tailops ssh-keyscan TARGET|HOST:PORT [options]

Connects without logging in and prints the server's host keys as
"NAME KEYTYPE SHA256:..." lines, the key the gateway will verify first, then
a hint (on stderr) with the line to pin in the target's connection:
host_key: SHA256:...  Check the fingerprint out of band before pinning it.
When the target already pins a key, says whether it still matches (exit 1
when it does not).

Options:
  --targets FILE    Target registry to find TARGET in          [TAILOPS_TARGETS]
  -h, --help        Show this help`;

/** Help for `selftest`. */
export const SELFTEST_HELP = `Usage: tailops selftest URL [options]

Checks a running gateway's resource-server behaviour from outside: protected
resource metadata, the 401 challenge, tokens with a wrong audience, expired,
with a bad signature or alg "none", a token missing scopes (403), Host and
Origin rebinding, and session hijack. Prints PASS, FAIL or SKIP per check;
exits 1 when any check fails. URL is the MCP endpoint, e.g.
http://127.0.0.1:8080/mcp.

Options:
  --state-dir DIR     The gateway's state directory: its key signs the
                      test tokens, its admin.token is the valid caller
                                                             [TAILOPS_STATE_DIR]
  --token T           A valid token (default: STATE/admin.token)
  --other-token T     A valid token of another identity, for session_hijack
  --resource URL      The canonical resource URI, when it is not URL
  --json              Print the report as JSON
  -h, --help          Show this help`;
