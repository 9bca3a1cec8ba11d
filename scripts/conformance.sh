#!/usr/bin/env bash
# Runs the official MCP server conformance suite against a freshly started
# gateway on loopback, once per protocol revision the gateway serves
# (2025-11-25 with sessions, 2026-07-28 stateless), and prints each summary.
# Needs the npm registry (the suite is fetched by Deno as
# npm:@modelcontextprotocol/conformance); tests/integration/conformance_suite_test.ts
# runs it from the test suite and skips when npm is unreachable.
#
#   bash scripts/conformance.sh                              # both revisions
#   bash scripts/conformance.sh --requirements 2026-07-28    # one revision
#   bash scripts/conformance.sh --requirements 2025-11-25 --scenario ping
#
# 0.2.0-alpha.12 is the newest release and the only line with --requirements
# (`latest`, 0.1.16, has none); re-check the baselines on every bump.
#
# The gateway runs with --no-auth: the suite cannot send an Authorization
# header, and its dns-rebinding scenario is defined for unauthenticated
# localhost servers. Every scenario then comes from one identity and opens
# sessions it never ends, so the per-identity session cap is lifted. Scenarios that need the reference "everything" server's
# test tools, prompts and resources are listed, each with its reason, in
# scripts/conformance-expected-failures-<revision>.yaml; the suite exits
# non-zero only on other failures. Further arguments go to `conformance server`.
set -euo pipefail

CONFORMANCE_VERSION=0.2.0-alpha.12
cd "$(dirname "$0")/.."

revisions=(2025-11-25 2026-07-28)
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --requirements)
      revisions=("$2")
      shift 2
      ;;
    *)
      extra+=("$1")
      shift
      ;;
  esac
done

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
  --listen 127.0.0.1:0 --state-dir "$work/state" --no-auth --max-sessions-per-identity 100000 \
  >"$work/gateway.log" 2>&1 &
pid=$!

port=""
for _ in $(seq 1 300); do
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
  echo "The gateway did not listen within 60 s:" >&2
  cat "$work/gateway.log" >&2
  exit 1
fi
url="http://127.0.0.1:$port/mcp"
echo "Gateway PID $pid on $url; conformance suite $CONFORMANCE_VERSION"

status=0
for revision in "${revisions[@]}"; do
  baseline="scripts/conformance-expected-failures-$revision.yaml"
  if [[ ! -f "$baseline" ]]; then
    echo "No baseline for revision $revision: expected $baseline" >&2
    exit 2
  fi
  echo
  echo "=== Requirements of MCP $revision ==="
  run=0
  # --no-config --no-lock: the suite's own dependency tree stays out of the
  # project's deno.lock (the version is pinned here).
  deno run -A --no-config --no-lock "npm:@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" \
    server --url "$url" --requirements "$revision" --expected-failures "$baseline" \
    --output-dir "$work/results-$revision" ${extra[@]+"${extra[@]}"} \
    >"$work/suite-$revision.log" 2>&1 || run=$?
  # The per-scenario progress is long; the summary and the baseline verdict
  # are what matter. The full log is printed when there is no summary.
  if grep -q "=== SUMMARY ===" "$work/suite-$revision.log"; then
    sed -n '/=== SUMMARY ===/,$p' "$work/suite-$revision.log"
  else
    cat "$work/suite-$revision.log"
  fi
  echo "=== $revision: exit $run ==="
  [[ $run -ne 0 ]] && status=$run
done
exit "$status"
