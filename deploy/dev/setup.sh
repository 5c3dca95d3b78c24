#!/usr/bin/env bash
# Prepare a fresh Debian / Raspberry Pi OS machine (or a CI clone) for Lentera:
# system packages, a Python venv with Lentera installed, and the MicroPython test harness.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# the console's browser tests drive Debian's chromium through Playwright (no browser download)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# deploy tests: a Debian root, the unit's checks, boot-image editing
[ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v mcopy >/dev/null 2>&1 || need_apt+=(mtools)
command -v mkfs.vfat >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.vfat ] || need_apt+=(dosfstools)
command -v sfdisk >/dev/null 2>&1 || [ -x /usr/sbin/sfdisk ] || need_apt+=(fdisk)
command -v strace >/dev/null 2>&1 || need_apt+=(strace)   # the unit's syscall filter check
# the fleet tests start their own PostgreSQL 15 + PostGIS (initdb in a temp dir, never 5432)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need_apt+=(postgresql-15-postgis-3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing system packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# the Debian package starts a system broker on 1883; Lentera's demo and tests never use it

if [ ! -x .venv/bin/python ]; then
  echo "==> creating Python virtual environment in .venv"
  python3 -m venv .venv
fi
# an editable install: code changes need no reinstall, only a changed setup.py (dependencies)
stamp="$(sha256sum setup.py | cut -c1-16)"
if [ -x .venv/bin/lentera ] && [ "$(cat .venv/.lentera-setup 2>/dev/null)" = "$stamp" ] &&
   .venv/bin/python -c 'import agent' 2>/dev/null; then
  echo "==> .venv is up to date (setup.py unchanged since the last install): reusing it"
else
  echo "==> installing Lentera and its test dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[test,fleet]"
  echo "$stamp" > .venv/.lentera-setup
fi

if [ -f tests/micropython/package.json ]; then
  npm_stamp="$(sha256sum tests/micropython/package.json | cut -c1-16)"
  if [ "$(cat tests/micropython/node_modules/.lentera-setup 2>/dev/null)" = "$npm_stamp" ]; then
    echo "==> the MicroPython WebAssembly test harness is installed: reusing it"
  else
    echo "==> installing the MicroPython WebAssembly test harness (npm)"
    npm install --prefix tests/micropython --no-audit --no-fund --silent >/dev/null
    echo "$npm_stamp" > tests/micropython/node_modules/.lentera-setup
  fi
fi
if [ "${1:-}" = "--debian-root" ]; then
  # the deploy tests' cached Debian root and wheelhouse (~2 min cold; the tests build them too)
  echo "==> building the deploy tests' Debian root cache (/var/cache/lentera-tests)"
  .venv/bin/python -c "from tests.deploy.debian_root import root_tarball, wheelhouse; \
print(root_tarball(), wheelhouse())"
fi
echo "==> ready: the lentera command is $PWD/.venv/bin/lentera (not on the PATH: run it by"
echo "    that path, e.g. .venv/bin/lentera --help, or 'source .venv/bin/activate' first)"
