#!/usr/bin/env bash
# Installs the TailOpsMCP gateway as a systemd service on a Debian or Ubuntu
# host or LXC container, and removes it again. Run as root. Safe to run again:
# an upgrade replaces the program and the unit and never touches existing
# configuration or state.
#
#   deploy/install.sh [install] [OPTIONS]     install or upgrade
#   deploy/install.sh uninstall [--purge]     remove (--purge: config, state, user too)
#   deploy/install.sh bundle OUT.tar[.gz]     pack an offline bundle (on a build machine)
#
# What it installs:
#   user/group  tailops (system user, no login shell, home /var/lib/tailops)
#   /etc/tailops/       targets.yaml, policy.yaml (starter: observe-only), tailops.env
#   /var/lib/tailops/   state: audit log, keys, admin token, approvals (0700, tailops)
#   /opt/tailops/       the gateway: bin/tailops (compiled) or bin/deno + app/ + deno-dir/
#   /usr/local/bin/tailops              the `tailops` command (drops to the tailops user)
#   /etc/systemd/system/tailops.service the hardened unit (deploy/systemd/), enabled
#
# Where the gateway comes from (one of):
#   --binary FILE     a compiled `tailops` (deno task compile, on a release machine)
#   --bundle FILE     an offline bundle made by `install.sh bundle` (implies --offline)
#   --source DIR      a source tree (default: the tree this script is in), run by
#                     Deno: --deno FILE (default: deno on PATH; online: from npm) and
#                     the npm packages deno.lock pins, copied from --deno-dir DIR or
#                     the invoking user's Deno cache, the rest downloaded unless --offline
#
# Other options:
#   --offline         never use the network; fail if anything is missing
#   --listen H:P      listen address written to tailops.env (default 127.0.0.1:8080)
#   --public-url URL  the URL clients use (e.g. https://gw.TAILNET.ts.net/mcp)
#   --no-start        install and enable, but do not start or restart now
set -euo pipefail

DENO_VERSION=2.9.6
PREFIX=/opt/tailops
ETC=/etc/tailops
STATE=/var/lib/tailops
WRAPPER=/usr/local/bin/tailops
UNIT=/etc/systemd/system/tailops.service
SERVICE_USER=tailops
# The modules the gateway loads: main.ts and the executor workers it starts.
ENTRYPOINTS=(main.ts src/exec/workers/local.ts src/exec/workers/ssh.ts
  src/exec/workers/docker.ts src/exec/workers/http.ts)
# What a source install copies: enough to run, check and read about it.
TREE=(main.ts deno.json deno.lock src policy deploy targets.example.yaml README.md LICENSE)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf 'tailops-install: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# --- arguments ---------------------------------------------------------------

command=install
case "${1:-}" in
  install | uninstall | bundle)
    command=$1
    shift
    ;;
  -h | --help)
    usage
    exit 0
    ;;
esac

binary='' bundle='' source_dir='' deno='' deno_dir='' offline=0 listen='' public_url=''
start=1 purge=0 out=''
while [ $# -gt 0 ]; do
  case "$1" in
    --binary | --bundle | --source | --deno | --deno-dir | --listen | --public-url)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --binary) binary=$2 ;;
        --bundle) bundle=$2 ;;
        --source) source_dir=$2 ;;
        --deno) deno=$2 ;;
        --deno-dir) deno_dir=$2 ;;
        --listen) listen=$2 ;;
        --public-url) public_url=$2 ;;
      esac
      shift 2
      ;;
    --offline)
      offline=1
      shift
      ;;
    --no-start)
      start=0
      shift
      ;;
    --purge)
      purge=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*) die "unknown option \"$1\" (see --help)" ;;
    *)
      { [ "$command" = bundle ] && [ -z "$out" ]; } || die "unexpected argument \"$1\" (see --help)"
      out=$1
      shift
      ;;
  esac
done

if [ -n "$listen" ] && ! [[ "$listen" =~ ^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}$ ]]; then
  die "invalid --listen \"$listen\": expected HOST:PORT, e.g. 127.0.0.1:8080"
fi
if [ -n "$public_url" ] && ! [[ "$public_url" =~ ^https?://[^[:space:]]+$ ]]; then
  die "invalid --public-url \"$public_url\": expected an http(s) URL"
fi
if [ -n "$binary" ] && { [ -n "$bundle" ] || [ -n "$source_dir" ]; }; then
  die "--binary cannot be combined with --bundle or --source"
fi

# --- helpers -----------------------------------------------------------------

# The Deno cache of whoever runs this (where `deno task start` put the packages).
default_deno_dir() {
  "$1" info --json 2>/dev/null | sed -n 's/.*"denoDir": *"\([^"]*\)".*/\1/p' | head -1
}

# Copies the npm packages deno.lock pins from one Deno cache to another, so an
# offline machine (or an offline bundle) has exactly what the gateway loads.
seed_cache() {
  local deno_bin=$1 lock=$2 from=$3 to=$4 registry name version
  [ -d "$from/npm" ] || return 0
  for registry in "$from"/npm/*/; do
    registry=$(basename "$registry")
    "$deno_bin" eval --quiet '
      const lock = JSON.parse(Deno.readTextFileSync(Deno.args[0]));
      for (const key of Object.keys(lock.npm ?? {})) {
        const id = key.split("_")[0];
        const at = id.lastIndexOf("@");
        console.log(id.slice(0, at) + " " + id.slice(at + 1));
      }' "$lock" | while read -r name version; do
      local src="$from/npm/$registry/$name"
      [ -d "$src/$version" ] || continue
      mkdir -p "$to/npm/$registry/$name"
      [ -e "$to/npm/$registry/$name/$version" ] || cp -a "$src/$version" "$to/npm/$registry/$name/"
      [ ! -f "$src/registry.json" ] || cp "$src/registry.json" "$to/npm/$registry/$name/"
    done
  done
}

# Fills DIR (a Deno cache) with every module the gateway loads from APP.
fill_cache() {
  local deno_bin=$1 app=$2 dir=$3 from=$4 entries=() e
  mkdir -p "$dir"
  [ -z "$from" ] || [ "$from" = "$dir" ] || seed_cache "$deno_bin" "$app/deno.lock" "$from" "$dir"
  for e in "${ENTRYPOINTS[@]}"; do entries+=("$app/$e"); done
  local flags=(--quiet --frozen --config="$app/deno.json")
  [ "$offline" -eq 0 ] || flags+=(--cached-only)
  if ! DENO_DIR=$dir DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 "$deno_bin" install "${flags[@]}" \
    --entrypoint "${entries[@]}" >"$dir/.install.log" 2>&1; then
    tail -5 "$dir/.install.log" >&2
    if [ "$offline" -eq 1 ]; then
      die "the gateway's npm packages are not all in the Deno cache (offline): pass --deno-dir with a cache that has them, or run without --offline"
    fi
    die "could not download the gateway's npm packages (see above)"
  fi
  rm -f "$dir/.install.log"
}

# Finds or fetches the deno binary to install.
find_deno() {
  if [ -n "$deno" ]; then
    [ -x "$deno" ] || die "--deno \"$deno\" is not an executable file"
    readlink -f "$deno"
    return
  fi
  if command -v deno >/dev/null 2>&1; then
    readlink -f "$(command -v deno)"
    return
  fi
  if [ -x "$PREFIX/bin/deno" ]; then
    echo "$PREFIX/bin/deno"
    return
  fi
  [ "$offline" -eq 0 ] || die "no deno on PATH: pass --deno FILE (offline)"
  fetch_deno
}

# Downloads Deno from npm (the @deno/* platform packages carry the binary)
# and checks it against the registry's sha512 integrity.
fetch_deno() {
  local arch pkg tmp url integrity
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) die "no Deno build for $(uname -m)" ;;
  esac
  command -v curl >/dev/null 2>&1 || die "curl is missing: apt-get install curl ca-certificates"
  pkg="linux-$arch-glibc"
  tmp=$(mktemp -d)
  url="https://registry.npmjs.org/@deno/$pkg/-/$pkg-$DENO_VERSION.tgz"
  log "downloading Deno $DENO_VERSION from npm"
  curl -fsSL "https://registry.npmjs.org/@deno/$pkg/$DENO_VERSION" -o "$tmp/meta.json" ||
    die "cannot reach registry.npmjs.org (use --deno FILE or --bundle FILE offline)"
  integrity=$(sed -n 's/.*"integrity":"sha512-\([^"]*\)".*/\1/p' "$tmp/meta.json")
  curl -fsSL "$url" -o "$tmp/deno.tgz" || die "cannot download $url"
  [ "$(openssl dgst -sha512 -binary "$tmp/deno.tgz" | base64 -w0)" = "$integrity" ] ||
    die "the downloaded Deno does not match npm's sha512 integrity"
  tar -xzf "$tmp/deno.tgz" -C "$tmp"
  echo "$tmp/package/deno"
}

# The `tailops` command: the installed gateway, run as the tailops user with
# the installed configuration as its defaults.
write_wrapper() {
  local mode=$1 tmp
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
#!/bin/sh
# The \`tailops\` command, written by deploy/install.sh ($mode install).
# Run as root, it drops to the $SERVICE_USER user so state files keep their owner.
set -e
if [ "\$(id -u)" = 0 ]; then exec runuser -u $SERVICE_USER -- "\$0" "\$@"; fi
# $ETC/tailops.env supplies what the environment does not already set.
if [ -r $ETC/tailops.env ]; then
  while IFS='=' read -r key value; do
    case "\$key" in '' | \#* | *[!A-Za-z0-9_]*) continue ;; esac
    eval "[ -n \"\\\${\$key+x}\" ]" || export "\$key=\$value"
  done <$ETC/tailops.env
fi
export TAILOPS_TARGETS="\${TAILOPS_TARGETS:-$ETC/targets.yaml}"
export TAILOPS_POLICY="\${TAILOPS_POLICY:-$ETC/policy.yaml}"
export TAILOPS_STATE_DIR="\${TAILOPS_STATE_DIR:-$STATE}"
export DENO_DIR=$PREFIX/deno-dir DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
export PATH=$PREFIX/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
  if [ "$mode" = binary ]; then
    echo "exec $PREFIX/bin/tailops \"\$@\"" >>"$tmp"
  else
    # serve goes through `launch`, which narrows Deno's permissions to the
    # configuration; the admin commands run under the gateway set. Both only
    # from the cache: nothing is downloaded at start.
    cat >>"$tmp" <<EOF
run="$PREFIX/bin/deno run --no-prompt --no-remote --cached-only --frozen --config=$PREFIX/app/deno.json"
if [ "\${1:-}" = serve ]; then
  shift
  exec \$run -P=launch --ignore-env $PREFIX/app/main.ts launch serve "\$@"
fi
exec \$run -P=gateway $PREFIX/app/main.ts "\$@"
EOF
  fi
  install -m 0755 "$tmp" "$WRAPPER"
  rm -f "$tmp"
}

write_starter_config() {
  local policy_src=$1
  if [ ! -e "$ETC/targets.yaml" ]; then
    cat >"$ETC/targets.yaml" <<'EOF'
# Targets this gateway manages. Starter: the gateway host itself, read-only.
# Every field of every target type: /opt/tailops/app/targets.example.yaml
# (source installs) or the repository's targets.example.yaml.
version: 1
targets:
  - id: local
    type: local
    description: The gateway host
    capabilities: [system:read, network:read, audit:read]
EOF
    log "wrote $ETC/targets.yaml (starter: this host, read-only)"
  fi
  if [ ! -e "$ETC/policy.yaml" ]; then
    cp "$policy_src" "$ETC/policy.yaml"
    log "wrote $ETC/policy.yaml (starter: observe-only, roles viewer/operator/approver)"
  fi
  if [ ! -e "$ETC/tailops.env" ]; then
    cat >"$ETC/tailops.env" <<EOF
# Settings for tailops.service and the tailops command (flags win over these).
TAILOPS_LISTEN=${listen:-127.0.0.1:8080}
# The URL clients reach /mcp at, e.g. behind tailscale serve:
#TAILOPS_PUBLIC_URL=https://gateway.YOUR-TAILNET.ts.net/mcp
#TAILOPS_LOG_LEVEL=info
EOF
    [ -z "$public_url" ] || echo "TAILOPS_PUBLIC_URL=$public_url" >>"$ETC/tailops.env"
  else
    set_env TAILOPS_LISTEN "$listen"
    set_env TAILOPS_PUBLIC_URL "$public_url"
  fi
  chown root:"$SERVICE_USER" "$ETC" "$ETC"/targets.yaml "$ETC"/policy.yaml "$ETC"/tailops.env
  chmod 0750 "$ETC"
  chmod 0640 "$ETC"/targets.yaml "$ETC"/policy.yaml "$ETC"/tailops.env
}

# Sets KEY=VALUE in tailops.env when VALUE was given on this run.
set_env() {
  local key=$1 value=$2
  [ -n "$value" ] || return 0
  if grep -q "^$key=" "$ETC/tailops.env"; then
    sed -i "s|^$key=.*|$key=$value|" "$ETC/tailops.env"
  else
    echo "$key=$value" >>"$ETC/tailops.env"
  fi
  log "set $key=$value in $ETC/tailops.env"
}

# --- commands ----------------------------------------------------------------

do_bundle() {
  [ -n "$out" ] || die "bundle needs an output file: install.sh bundle OUT.tar[.gz]"
  local src=${source_dir:-$here/..} deno_bin stage item
  { [ -f "$src/main.ts" ] && [ -f "$src/deno.lock" ]; } || die "\"$src\" is not a TailOpsMCP source tree"
  deno_bin=$(find_deno)
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' RETURN
  mkdir -p "$stage/tailops/app" "$stage/tailops/bin"
  for item in "${TREE[@]}"; do
    [ ! -e "$src/$item" ] || cp -a "$src/$item" "$stage/tailops/app/"
  done
  cp "$deno_bin" "$stage/tailops/bin/deno"
  fill_cache "$deno_bin" "$stage/tailops/app" "$stage/tailops/deno-dir" \
    "${deno_dir:-$(default_deno_dir "$deno_bin")}"
  case "$out" in
    *.tar.gz | *.tgz) tar -C "$stage" -czf "$out" tailops ;;
    *) tar -C "$stage" -cf "$out" tailops ;;
  esac
  log "wrote $out: install with  deploy/install.sh --bundle $(basename "$out")  (offline)"
}

do_install() {
  [ "$(id -u)" -eq 0 ] || die "run as root (it creates a system user and a systemd unit)"
  [ -f /etc/debian_version ] || log "warning: not a Debian or Ubuntu system; continuing"
  command -v useradd >/dev/null 2>&1 || die "useradd is missing (Debian package passwd)"
  local mode=source src='' deno_bin='' cache_from=''
  if [ -n "$bundle" ]; then
    [ -f "$bundle" ] || die "--bundle \"$bundle\" is not a file"
    unpacked=$(mktemp -d)
    trap 'rm -rf "${unpacked:-}"' EXIT
    tar -xf "$bundle" -C "$unpacked" || die "cannot unpack \"$bundle\""
    [ -f "$unpacked/tailops/app/main.ts" ] || die "\"$bundle\" is not a bundle made by install.sh bundle"
    src=$unpacked/tailops/app
    deno=${deno:-$unpacked/tailops/bin/deno}
    cache_from=$unpacked/tailops/deno-dir
    offline=1
  elif [ -n "$binary" ]; then
    mode=binary
    { [ -f "$binary" ] && [ -x "$binary" ]; } || die "--binary \"$binary\" is not an executable file"
  else
    src=${source_dir:-$here/..}
    { [ -f "$src/main.ts" ] && [ -f "$src/deno.lock" ]; } ||
      die "\"$src\" is not a TailOpsMCP source tree (give --source DIR, --bundle FILE or --binary FILE)"
  fi
  src=${src:+$(cd "$src" && pwd)}
  # The starter policy and the unit come from the tree (the one this script is in for --binary).
  local tree=${src:-$here/..}
  [ -f "$tree/policy/default.yaml" ] || die "cannot find policy/default.yaml next to this script"
  [ -f "$tree/deploy/systemd/tailops.service" ] || die "cannot find deploy/systemd/tailops.service"

  # The gateway itself, staged next to the installed one first: a failure
  # here leaves the system as it was.
  install -d -m 0755 -o root -g root "$PREFIX" "$PREFIX/bin"
  if [ "$mode" = binary ]; then
    install -m 0755 -o root -g root "$binary" "$PREFIX/bin/tailops.new"
  else
    deno_bin=$(find_deno)
    "$deno_bin" --version >/dev/null 2>&1 || die "\"$deno_bin\" does not run here"
    staged="$PREFIX/app.new $PREFIX/deno-dir.new $PREFIX/bin/deno.new"
    trap 'rm -rf ${staged:-} "${unpacked:-}"' EXIT
    rm -rf "$PREFIX/app.new" "$PREFIX/deno-dir.new"
    mkdir -p "$PREFIX/app.new"
    local item
    for item in "${TREE[@]}"; do
      [ ! -e "$src/$item" ] || cp -a "$src/$item" "$PREFIX/app.new/"
    done
    [ -n "$cache_from" ] || cache_from=${deno_dir:-$(default_deno_dir "$deno_bin")}
    if [ "$deno_bin" != "$PREFIX/bin/deno" ]; then
      install -m 0755 "$deno_bin" "$PREFIX/bin/deno.new"
      deno_bin=$PREFIX/bin/deno.new
    fi
    fill_cache "$deno_bin" "$PREFIX/app.new" "$PREFIX/deno-dir.new" "$cache_from"
  fi

  # User and directories.
  if ! getent passwd "$SERVICE_USER" >/dev/null; then
    useradd --system --user-group --home-dir "$STATE" --no-create-home \
      --shell /usr/sbin/nologin --comment "TailOpsMCP gateway" "$SERVICE_USER"
    log "created system user $SERVICE_USER"
  fi
  install -d -m 0750 -o root -g "$SERVICE_USER" "$ETC"
  install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE"

  # Swap the staged gateway in.
  if [ "$mode" = binary ]; then
    mv -f "$PREFIX/bin/tailops.new" "$PREFIX/bin/tailops"
    rm -rf "$PREFIX/app" "$PREFIX/deno-dir" "$PREFIX/bin/deno"
  else
    rm -rf "$PREFIX/app" "$PREFIX/deno-dir" "$PREFIX/bin/tailops"
    mv "$PREFIX/app.new" "$PREFIX/app"
    mv "$PREFIX/deno-dir.new" "$PREFIX/deno-dir"
    [ ! -e "$PREFIX/bin/deno.new" ] || mv -f "$PREFIX/bin/deno.new" "$PREFIX/bin/deno"
    # Root owns the program and its packages; the service only reads them.
    chown -R root:root "$PREFIX"
    chmod -R u+rwX,go+rX,go-w "$PREFIX"
  fi
  write_wrapper "$mode"
  write_starter_config "$tree/policy/default.yaml"

  # The unit.
  install -m 0644 "$tree/deploy/systemd/tailops.service" "$UNIT"
  if ! getent group systemd-journal >/dev/null; then
    # No journald here: journal_logs cannot work, and a missing group would stop the unit.
    mkdir -p "$UNIT.d"
    printf '[Service]\n# No systemd-journal group on this system (install.sh)\nSupplementaryGroups=\n' \
      >"$UNIT.d/10-no-journal-group.conf"
  fi

  # The configuration must load before the service is (re)started.
  local check
  if ! check=$("$WRAPPER" check-config 2>&1); then
    printf '%s\n' "$check" | tail -5 >&2
    die "the configuration in $ETC does not load (see above); fix it and run install.sh again"
  fi

  if command -v systemctl >/dev/null 2>&1; then
    systemctl enable tailops.service >/dev/null 2>&1 || systemctl enable tailops.service
    if [ -d /run/systemd/system ]; then
      systemctl daemon-reload
      if [ "$start" -eq 1 ]; then systemctl restart tailops.service; fi
      if [ "$start" -eq 1 ]; then log "tailops.service enabled and started"; else log "tailops.service enabled"; fi
    else
      log "tailops.service enabled (systemd is not running here: it starts at next boot)"
    fi
  else
    log "no systemctl: start it with  $WRAPPER serve  (as in $UNIT)"
  fi
  local url
  url=$(sed -n 's/^TAILOPS_LISTEN=//p' "$ETC/tailops.env" | tail -1)
  cat >&2 <<EOF
tailops-install: done ($mode install).
  MCP endpoint:   http://${url:-127.0.0.1:8080}/mcp
  Admin token:    $STATE/admin.token (written at first start; keep it for yourself)
  For an assistant, a read-only token:
                  sudo tailops token mint --sub claude --role viewer --ttl 8h
  Configuration:  $ETC/targets.yaml, $ETC/policy.yaml, $ETC/tailops.env
EOF
}

do_uninstall() {
  [ "$(id -u)" -eq 0 ] || die "run as root"
  if command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --now tailops.service >/dev/null 2>&1 || true
    else
      systemctl disable tailops.service >/dev/null 2>&1 || true
    fi
  fi
  rm -rf "$UNIT" "$UNIT.d" "$WRAPPER" "$PREFIX"
  [ ! -d /run/systemd/system ] || systemctl daemon-reload
  if [ "$purge" -eq 1 ]; then
    rm -rf "$ETC" "$STATE"
    if getent passwd "$SERVICE_USER" >/dev/null; then userdel "$SERVICE_USER"; fi
    if getent group "$SERVICE_USER" >/dev/null; then groupdel "$SERVICE_USER"; fi
    log "removed the gateway, its configuration, state and user"
  else
    log "removed the gateway; kept $ETC, $STATE and the $SERVICE_USER user (--purge removes them)"
  fi
}

case "$command" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  bundle) do_bundle ;;
esac
