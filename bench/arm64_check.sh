#!/usr/bin/env bash
# Lentera on arm64 (Raspberry Pi 4/5): run deploy/raspberrypi/install.sh in an arm64 Debian 12
# root under qemu-user emulation and run the core and edge_rules tests with the installed venv; then check that every binary
# dependency has a manylinux aarch64 wheel for CPython 3.11 (what a Pi's pip will pick).
#
#   sudo bash bench/arm64_check.sh            # ~15-25 min cold (debootstrap under emulation)
#
# The arm64 root is cached as /var/cache/lentera-tests/bookworm-arm64.tar.gz (LENTERA_TEST_CACHE).
# Needs root, debootstrap, qemu-user-static and binfmt_misc (mounted here if it is not).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${LENTERA_TEST_CACHE:-/var/cache/lentera-tests}"
TARBALL="$CACHE/bookworm-arm64.tar.gz"
BINARY_DEPS=(numpy pydantic-core uvloop cryptography cffi argon2-cffi-bindings pyyaml ruamel.yaml.clib)

wheel_check() {
  echo "==> manylinux aarch64 cp311 wheels (pip download --only-binary=:all:)"
  local dir; dir="$(mktemp -d)"
  local specs=()
  for dep in "${BINARY_DEPS[@]}"; do
    local v; v="$("$REPO/.venv/bin/python" -c "import importlib.metadata as m,sys
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: print('')" "$dep" 2>/dev/null || true)"
    specs+=("$dep${v:+==$v}")
  done
  pip download -q --only-binary=:all: --no-deps --implementation cp --python-version 3.11 \
    --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux_2_28_aarch64 -d "$dir" "${specs[@]}" >/dev/null
  ls "$dir" | sed 's/^/    /'
  rm -rf "$dir"
}

emulated_run() {
  [ "$(id -u)" -eq 0 ] || { echo "SKIP emulation: needs root (debootstrap, chroot)"; return 1; }
  command -v debootstrap >/dev/null && command -v qemu-aarch64-static >/dev/null || {
    echo "SKIP emulation: apt-get install debootstrap qemu-user-static binfmt-support"; return 1; }
  if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || {
      echo "SKIP emulation: cannot mount binfmt_misc here (no privilege for it)"; return 1; }
  fi
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 \
    >/dev/null 2>&1 || true
  grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null || {
    echo "SKIP emulation: no qemu-aarch64 binfmt handler registered"; return 1; }
  mkdir -p "$CACHE"
  local work; work="$(mktemp -d /tmp/lentera-arm64.XXXXXX)"
  trap "umount -l '$work/root/proc' 2>/dev/null || true; rm -rf '$work'" RETURN
  if [ ! -f "$TARBALL" ]; then
    echo "==> debootstrap --arch arm64 (cold cache: slow, emulated)"
    local t0=$SECONDS
    debootstrap --arch arm64 --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$work/build" ${LENTERA_DEBIAN_MIRROR:-} >"$work/debootstrap.log" 2>&1 || {
        tail -20 "$work/debootstrap.log"; echo "FAIL: debootstrap"; return 2; }
    tar -C "$work/build" -czf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$work/build"
    echo "    debootstrap: $((SECONDS - t0)) s"
  fi
  mkdir "$work/root" && tar -C "$work/root" -xzf "$TARBALL"
  mount -t proc proc "$work/root/proc"
  cp /etc/resolv.conf "$work/root/etc/resolv.conf"
  cp /etc/ssl/certs/ca-certificates.crt "$work/root/etc/ssl/certs/ca-certificates.crt"
  mkdir "$work/root/src"
  git -C "$REPO" ls-files -z | (cd "$REPO" && xargs -0 cp --parents -t "$work/root/src")
  echo "==> uname -m in the root: $(chroot "$work/root" uname -m)"
  local t1=$SECONDS
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    HOME=/root chroot "$work/root" /bin/sh -ec '
    bash /src/deploy/raspberrypi/install.sh          # the real installer, from PyPI
    V=/opt/lentera/venv
    $V/bin/pip install -q --disable-pip-version-check "pytest>=8,<10" "hypothesis>=6.100,<7"
    setpriv --reuid lentera --regid lentera --init-groups lentera --version
    echo "==> wheels installed (tags from each .dist-info/WHEEL):"
    for d in $V/lib/python3*/site-packages/*.dist-info; do
      tag=$(grep -m1 "^Tag:" "$d/WHEEL" 2>/dev/null | cut -d" " -f2)
      case "$tag" in *aarch64*) echo "    $(basename "$d" .dist-info) $tag";; esac
    done
    cd /src && $V/bin/python -m pytest -q -p no:cacheprovider tests/edge_rules tests/agent/core
  '
  echo "    install + tests under emulation: $((SECONDS - t1)) s"
}

emulated_run || echo "(emulation not run; the wheel check below is the fallback)"
wheel_check
