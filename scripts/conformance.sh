#!/usr/bin/env bash
# Runs the official MCP server conformance suite against a freshly started
# gateway on loopback and prints its summary. Needs the npm registry (the suite
# is fetched by Deno as npm:@modelcontextprotocol/conformance); not part of
# `deno task test`.
#
#   bash scripts/conformance.sh                 # the active suite
#   bash scripts/conformance.sh --suite all     # include pending scenarios
#   bash scripts/conformance.sh --scenario ping # one scenario
#
# The gateway runs with --no-auth: the suite cannot send an Authorization
# header, and its dns-rebinding scenario is defined for unauthenticated
# localhost servers. Scenarios that need the reference "everything" server's
# tools, prompts and resources are listed in
# scripts/conformance-expected-failures.yaml; the suite exits non-zero only on
# other failures. Extra arguments go to `conformance server`.
set -euo pipefail

CONFORMANCE_VERSION=0.1.16
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

deno run -P=launch --no-prompt --no-remote --ignore-env main.ts launch serve --transport http \
  --listen 127.0.0.1:0 --state-dir "$work/state" --no-auth \
  >"$work/gateway.log" 2>&1 &
pid=$!

port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*"Listening on.*"port":\([0-9]*\).*/\1/p' "$work/gateway.log" | head -n 1)
  [[ -n "$port" ]] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "The gateway exited before listening:" >&2
    cat "$work/gateway.log" >&2
    exit 1
  fi
  sleep 0.2
done
if [[ -z "$port" ]]; then
  echo "The gateway did not listen within 20 s:" >&2
  cat "$work/gateway.log" >&2
  exit 1
fi
url="http://127.0.0.1:$port/mcp"
echo "Gateway PID $pid on $url; conformance suite $CONFORMANCE_VERSION"

status=0
# --no-config --no-lock: the suite's own dependency tree stays out of the
# project's deno.lock (the version is pinned here).
deno run -A --no-config --no-lock "npm:@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" server \
  --url "$url" \
  --expected-failures scripts/conformance-expected-failures.yaml \
  --output-dir "$work/results" "$@" >"$work/suite.log" 2>&1 || status=$?

# The per-scenario progress is long; the summary and the baseline verdict are
# what matter. The full log is printed when there is no summary.
if grep -q "=== SUMMARY ===" "$work/suite.log"; then
  sed -n '/=== SUMMARY ===/,$p' "$work/suite.log"
else
  cat "$work/suite.log"
fi
exit "$status"
