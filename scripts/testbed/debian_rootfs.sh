#!/usr/bin/env bash
# Builds (once) a clean Debian root filesystem for the install test
# (tests/deploy/install_rootfs_test.ts) and keeps it as a tarball, so each test
# run unpacks a pristine copy and never reaches the network.
#
# This is the only step that downloads: debootstrap fetches Debian's packages
# from the configured mirror. Run it from .ci/run (scripts/test.sh does) or by
# hand, as root:
#
#   bash scripts/testbed/debian_rootfs.sh            # -> $TAILOPS_TEST_ROOTFS
#   bash scripts/testbed/debian_rootfs.sh --polkit   # -> $TAILOPS_TEST_POLKIT_ROOTFS
#
# --polkit adds D-Bus, logind's PAM module, polkitd and sudo (Debian 12's
# packages) for tests/deploy/polkit_boot_test.ts, which boots it to check
# deploy/polkit/50-tailops.rules and deploy/sudoers.example for real.
#
# The rootfs is Debian's minbase variant plus what a stock Debian LXC template
# also has and the gateway's local target uses: systemd (systemctl, journalctl),
# procps (ps) and iproute2 (ss). It has no Deno and no Node: the installer
# brings Deno in.
set -euo pipefail

include=systemd,procps,iproute2
if [ "${1:-}" = --polkit ]; then
  shift
  include=$include,dbus,libpam-systemd,polkitd,sudo
  out=${1:-${TAILOPS_TEST_POLKIT_ROOTFS:-/var/cache/tailops-test/debian-bookworm-polkit.tar}}
else
  out=${1:-${TAILOPS_TEST_ROOTFS:-/var/cache/tailops-test/debian-bookworm-minbase.tar}}
fi
suite=${TAILOPS_TEST_SUITE:-bookworm}
mirror=${TAILOPS_TEST_MIRROR:-http://deb.debian.org/debian}

log() { printf 'debian_rootfs: %s\n' "$*" >&2; }

if [ -s "$out" ]; then
  log "already built: $out"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (debootstrap creates device nodes and chroots)"
  exit 1
fi
command -v debootstrap >/dev/null 2>&1 || {
  log "debootstrap is missing: apt-get install debootstrap"
  exit 1
}

mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/.rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT

log "debootstrap --variant=minbase $suite from $mirror (a few minutes)"
debootstrap --variant=minbase --include="$include" \
  "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  log "debootstrap failed"
  exit 1
}
# No package lists or downloaded .debs in the image: a real container has them
# only after `apt-get update`, and the install is offline anyway.
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
tar -C "$work/root" --numeric-owner -cf "$work/rootfs.tar" .
mv "$work/rootfs.tar" "$out"
log "built $out ($(du -h "$out" | cut -f1))"
