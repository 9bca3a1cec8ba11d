#!/usr/bin/env bash
# Creates an unprivileged Debian LXC container on a Proxmox VE host and
# installs the TailOpsMCP gateway in it (deploy/install.sh, as a systemd
# service). Run on the PVE host, as root:
#
#   bash deploy/proxmox/tailops-lxc.sh                       # defaults below
#   RAM_SIZE=1024 CPU_CORES=2 bash deploy/proxmox/tailops-lxc.sh
#   TAILOPS_BUNDLE=/root/tailops.tar bash deploy/proxmox/tailops-lxc.sh   # offline
#   bash deploy/proxmox/tailops-lxc.sh --dry-run            # print the commands only
#
# Settings (environment variables, with defaults):
#   CTID            next free id (pvesh get /cluster/nextid)
#   CT_HOSTNAME     tailops
#   RAM_SIZE        512        MiB
#   SWAP_SIZE       512        MiB
#   CPU_CORES       1
#   DISK_SIZE       4          GiB
#   STORAGE         local-lvm  where the container's disk lives
#   TEMPLATE_STORAGE local     where templates are kept
#   TEMPLATE        newest debian-12-standard template (pveam)
#   BRIDGE          vmbr0
#   NET             dhcp       or an address such as 192.168.1.50/24 (then GATEWAY)
#   GATEWAY         -          IPv4 gateway for a static NET
#   VLAN            -          VLAN tag
#   UNPRIVILEGED    1          0 makes a privileged container (not recommended)
#   START_ON_BOOT   1
#   TUN             0          1 passes /dev/net/tun in, for Tailscale inside the container
#   LISTEN          127.0.0.1:8080   the gateway's listen address inside the container
#   PUBLIC_URL      -          the URL clients use (e.g. https://tailops.TAILNET.ts.net/mcp)
#   TAILOPS_BUNDLE  -          an offline bundle (deploy/install.sh bundle) on this host;
#                              without it the container installs online from the source
#                              tree this script is in (Deno and npm packages from npm)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dry_run=0

log() { printf 'tailops-lxc: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument \"$arg\" (see --help)" ;;
  esac
done

CT_HOSTNAME=${CT_HOSTNAME:-tailops}
RAM_SIZE=${RAM_SIZE:-512}
SWAP_SIZE=${SWAP_SIZE:-512}
CPU_CORES=${CPU_CORES:-1}
DISK_SIZE=${DISK_SIZE:-4}
STORAGE=${STORAGE:-local-lvm}
TEMPLATE_STORAGE=${TEMPLATE_STORAGE:-local}
TEMPLATE=${TEMPLATE:-}
BRIDGE=${BRIDGE:-vmbr0}
NET=${NET:-dhcp}
GATEWAY=${GATEWAY:-}
VLAN=${VLAN:-}
UNPRIVILEGED=${UNPRIVILEGED:-1}
START_ON_BOOT=${START_ON_BOOT:-1}
TUN=${TUN:-0}
LISTEN=${LISTEN:-127.0.0.1:8080}
PUBLIC_URL=${PUBLIC_URL:-}
TAILOPS_BUNDLE=${TAILOPS_BUNDLE:-}
CTID=${CTID:-}

# Each setting is checked before anything runs: one line naming what was expected.
want() {
  local name=$1 pattern=$2 expected=$3 value=${!1}
  [[ "$value" =~ $pattern ]] || die "invalid $name \"$value\": expected $expected"
}
want RAM_SIZE '^[0-9]+$' "MiB as a whole number, e.g. 512"
want SWAP_SIZE '^[0-9]+$' "MiB as a whole number, e.g. 512"
want CPU_CORES '^[1-9][0-9]{0,2}$' "a number of cores, e.g. 1"
want DISK_SIZE '^[1-9][0-9]{0,4}$' "GiB as a whole number, e.g. 4"
want CT_HOSTNAME '^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$' "a host name such as tailops"
want STORAGE '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$' "a PVE storage id such as local-lvm"
want TEMPLATE_STORAGE '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$' "a PVE storage id such as local"
want BRIDGE '^[a-zA-Z0-9_.-]+$' "a bridge such as vmbr0"
want NET '^(dhcp|[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2})$' "dhcp or an IPv4 address with prefix, e.g. 192.168.1.50/24"
want GATEWAY '^([0-9]{1,3}(\.[0-9]{1,3}){3})?$' "an IPv4 address"
want VLAN '^([1-9][0-9]{0,3})?$' "a VLAN tag between 1 and 4094"
want UNPRIVILEGED '^[01]$' "0 or 1"
want START_ON_BOOT '^[01]$' "0 or 1"
want TUN '^[01]$' "0 or 1"
want LISTEN '^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}$' "HOST:PORT, e.g. 127.0.0.1:8080"
want PUBLIC_URL '^(https?://[^[:space:]]+)?$' "an http(s) URL"
want CTID '^([1-9][0-9]{2,8})?$' "a container id of 100 or more"
[ "$RAM_SIZE" -ge 256 ] || die "invalid RAM_SIZE \"$RAM_SIZE\": expected at least 256 (MiB)"
[ "$DISK_SIZE" -ge 2 ] || die "invalid DISK_SIZE \"$DISK_SIZE\": expected at least 2 (GiB)"
if [ "$NET" = dhcp ] && [ -n "$GATEWAY" ]; then die "GATEWAY applies to a static NET only"; fi
if [ -n "$TAILOPS_BUNDLE" ] && [ ! -f "$TAILOPS_BUNDLE" ]; then
  die "TAILOPS_BUNDLE \"$TAILOPS_BUNDLE\" is not a file"
fi
tree=$(cd "$here/../.." && pwd)
if [ -z "$TAILOPS_BUNDLE" ] && [ ! -f "$tree/main.ts" ]; then
  die "no source tree around this script: set TAILOPS_BUNDLE to an offline bundle"
fi

# Runs a command, or with --dry-run prints it (shell-quoted) instead.
run() {
  if [ "$dry_run" -eq 1 ]; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

if [ "$dry_run" -eq 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "run as root on the Proxmox VE host"
  command -v pct >/dev/null 2>&1 || die "pct not found: run this on a Proxmox VE host (or try --dry-run)"
fi

# --- container id and template ---------------------------------------------
if [ -z "$CTID" ]; then
  if [ "$dry_run" -eq 1 ]; then
    CTID=100
    log "CTID not set: a real run takes pvesh get /cluster/nextid (100 shown)"
  else
    CTID=$(pvesh get /cluster/nextid)
  fi
fi
if [ -z "$TEMPLATE" ]; then
  if [ "$dry_run" -eq 1 ]; then
    TEMPLATE=debian-12-standard_12.12-1_amd64.tar.zst
    run pveam update
    log "TEMPLATE not set: a real run takes the newest debian-12-standard from pveam ($TEMPLATE shown)"
  else
    pveam update >/dev/null || log "pveam update failed; using the template list as it is"
    TEMPLATE=$(pveam available --section system | awk '$2 ~ /^debian-12-standard_/ {print $2}' |
      sort -V | tail -1)
    [ -n "$TEMPLATE" ] || die "no debian-12-standard template offered by pveam; set TEMPLATE"
  fi
fi
if [ "$dry_run" -eq 1 ] || ! pveam list "$TEMPLATE_STORAGE" | grep -q "/$TEMPLATE"; then
  run pveam download "$TEMPLATE_STORAGE" "$TEMPLATE"
fi

# --- the container -----------------------------------------------------------
net0="name=eth0,bridge=$BRIDGE,ip=$NET"
[ -z "$GATEWAY" ] || net0+=",gw=$GATEWAY"
[ -z "$VLAN" ] || net0+=",tag=$VLAN"
# nesting=1: systemd in Debian 12 containers wants it for its own sandboxing
# (the gateway's unit uses namespaces for ProtectSystem= and friends).
run pct create "$CTID" "$TEMPLATE_STORAGE:vztmpl/$TEMPLATE" \
  --hostname "$CT_HOSTNAME" \
  --cores "$CPU_CORES" \
  --memory "$RAM_SIZE" \
  --swap "$SWAP_SIZE" \
  --rootfs "$STORAGE:$DISK_SIZE" \
  --net0 "$net0" \
  --unprivileged "$UNPRIVILEGED" \
  --features nesting=1 \
  --onboot "$START_ON_BOOT" \
  --ostype debian \
  --tags tailops \
  --description "TailOpsMCP gateway"
if [ "$TUN" -eq 1 ]; then
  # Tailscale inside an unprivileged container needs the host's tun device.
  conf=/etc/pve/lxc/$CTID.conf
  run sh -c "printf '%s\n' 'lxc.cgroup2.devices.allow: c 10:200 rwm' 'lxc.mount.entry: /dev/net/tun dev/net/tun none bind,create=file' >>$conf"
fi
run pct start "$CTID"

install_args=(--listen "$LISTEN")
[ -z "$PUBLIC_URL" ] || install_args+=(--public-url "$PUBLIC_URL")
if [ -n "$TAILOPS_BUNDLE" ]; then
  # Offline: everything the gateway needs is in the bundle.
  run pct push "$CTID" "$TAILOPS_BUNDLE" /root/tailops.tar
  run pct exec "$CTID" -- tar -xf /root/tailops.tar -C /root tailops/app/deploy
  run pct exec "$CTID" -- bash /root/tailops/app/deploy/install.sh \
    --bundle /root/tailops.tar "${install_args[@]}"
  run pct exec "$CTID" -- rm -rf /root/tailops.tar /root/tailops
else
  # Online: wait for the network, bring curl in, push the source tree; the
  # installer fetches Deno and the pinned npm packages from npm.
  # shellcheck disable=SC2016 # expanded by the container's shell
  run pct exec "$CTID" -- sh -c 'for i in $(seq 60); do getent hosts deb.debian.org >/dev/null && exit 0; sleep 1; done; echo "no network in the container" >&2; exit 1'
  run pct exec "$CTID" -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl ca-certificates openssl >/dev/null'
  src_tar=$(mktemp --suffix=.tar)
  trap 'rm -f "$src_tar"' EXIT
  run tar -C "$tree" -cf "$src_tar" main.ts deno.json deno.lock src policy deploy targets.example.yaml README.md LICENSE
  run pct push "$CTID" "$src_tar" /root/tailops-src.tar
  run pct exec "$CTID" -- sh -c 'rm -rf /root/tailops-src && mkdir /root/tailops-src && tar -xf /root/tailops-src.tar -C /root/tailops-src'
  run pct exec "$CTID" -- bash /root/tailops-src/deploy/install.sh \
    --source /root/tailops-src "${install_args[@]}"
  run pct exec "$CTID" -- rm -rf /root/tailops-src /root/tailops-src.tar
fi

if [ "$dry_run" -eq 1 ]; then
  log "dry run: nothing was run; the commands above are what a real run would do"
  exit 0
fi
cat >&2 <<EOF
tailops-lxc: container $CTID ($CT_HOSTNAME) runs the gateway on $LISTEN.
  A read-only token for an assistant:
    pct exec $CTID -- tailops token mint --sub claude --role viewer --ttl 8h
  Targets and policy:  pct enter $CTID, then edit /etc/tailops/ and systemctl restart tailops
EOF
