#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, runs the whole
# suite, and ends with one line "N passed, N failed".
#
# The suite starts real OpenSSH sshd and dockerd instances on loopback and
# unix sockets inside temp dirs, so it needs openssh-server, docker.io and
# busybox-static (for a local test image), docker-compose (compose stacks),
# postgresql and haproxy (shared
# state across gateways), and root (sshd and dockerd run as
# root; a dedicated test user logs in over SSH).
set -uo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# Network diagnostics (tcp_check, ping; tls_check runs openssl, above) run these on targets.
command -v nc >/dev/null 2>&1 || missing+=(netcat-openbsd)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
# Shared state tests run a real PostgreSQL (as an unprivileged user) and HAProxy.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
# deploy tests: systemd-analyze (unit hardening), shellcheck (deploy scripts),
# debootstrap (a clean Debian root filesystem for the install test),
# systemd-container (systemd-nspawn boots the installed unit).
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
[ -x /usr/bin/systemd-nspawn ] || missing+=(systemd-container) # boots the installed unit
# Compose stacks run Debian's compose v1 against the testbed's dockerd (the v2
# plugin is not packaged for Debian 12; its path is tested with a stand-in).
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# SSH writes under sudo: the test sshd sees its own sudoers.d (a private mount namespace).
command -v sudo >/dev/null 2>&1 || missing+=(sudo)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]} (run as root, or install them first)"
    echo "0 passed, 1 failed"
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
    log "apt-get install failed"
    echo "0 passed, 1 failed"
    exit 1
  }
fi

if ! command -v deno >/dev/null 2>&1; then
  log "installing Deno 2.9.6 from npm"
  npm install -g deno@2.9.6 >/dev/null 2>&1 || { log "npm install -g deno failed"; echo "0 passed, 1 failed"; exit 1; }
fi
deno --version | head -1 >&2

# The client tools tests/integration/clients_check_test.ts runs from the cache
# (the test itself never downloads; it skips when they are missing).
deno cache --quiet --no-config --no-lock npm:@modelcontextprotocol/inspector@2.12.0 \
  npm:mcp-remote@0.15.1 >/dev/null 2>&1 || log "could not fetch the client tools: clients_check_test will skip"

# The install test's Debian root filesystem: built once (downloads from
# Debian's mirror), cached as a tarball; the test itself stays offline and
# skips with a message when it is missing.
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/testbed/debian_rootfs.sh || log "no Debian root filesystem: the install test will skip"
  bash scripts/testbed/debian_rootfs.sh --polkit || log "no Debian root filesystem with polkit: the polkit test will skip"
fi

out=$(mktemp)
NO_COLOR=1 deno task test 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
# Deno's summary: "ok | 412 passed (38 steps) | 0 failed (2m3s)" or "FAILED | ...".
summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$out" | tail -1)
passed=$(printf '%s' "$summary" | sed -nE 's/.*\| ([0-9]+) passed.*/\1/p')
failed=$(printf '%s' "$summary" | sed -nE 's/.*\| ([0-9]+) failed.*/\1/p')
rm -f "$out"
if [ -z "$passed" ]; then
  # No summary: the runner itself failed (type error, crash).
  echo "0 passed, 1 failed"
  exit 1
fi
if [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
echo "${passed} passed, ${failed:-0} failed"
exit "$status"
