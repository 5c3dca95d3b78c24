#!/usr/bin/env bash
# Install or upgrade Lentera on Raspberry Pi OS Bookworm / Debian 12+ (arm64 or x86-64).
#
#   sudo bash deploy/raspberrypi/install.sh                  # from this source tree (needs PyPI)
#   sudo bash deploy/raspberrypi/install.sh --wheels DIR     # offline, from a wheelhouse holding
#                                                            # lentera-*.whl and its dependencies
#
# Idempotent: re-running upgrades the agent in place and keeps config, keys and the outbox.
#   /opt/lentera/venv          the agent (its own venv); /usr/local/bin/lentera on the PATH
#   /etc/lentera               config and secrets: root:lentera, dirs 0750, files 0640
#                              (the service reads them, only root changes them)
#   /var/lib/lentera           state (outbox, anomaly state, pushed schedules): lentera:lentera
#   /run/lentera               the control socket (systemd RuntimeDirectory=)
# The lentera system user is in group dialout (serial adapters). Mosquitto is not needed here.
# Undo with deploy/raspberrypi/uninstall.sh (keeps config and data unless --purge).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(cd "$HERE/../.." && pwd)"
OPT=/opt/lentera ETC=/etc/lentera VAR=/var/lib/lentera UNITS=/etc/systemd/system
WHEELS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS="$(cd "$2" && pwd)"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo bash $0)" >&2; exit 1; }
say() { echo "==> $*"; }

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || {
  echo "install.sh: Python 3.11 or newer is needed (Raspberry Pi OS Bookworm / Debian 12 has it)" >&2
  exit 1; }
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  say "system package python3-venv"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

say "service user lentera (groups: lentera, dialout)"
getent group dialout >/dev/null || groupadd --system dialout
id lentera >/dev/null 2>&1 || useradd --system --user-group --home-dir "$VAR" --no-create-home \
  --shell /usr/sbin/nologin lentera
usermod -a -G dialout lentera

install -d -o root -g root -m 0755 "$OPT" "$OPT/share/doc"
install -d -o root -g lentera -m 0750 "$ETC" "$ETC/profiles"
install -d -o lentera -g lentera -m 0750 "$VAR"

if [ -x "$OPT/venv/bin/python" ] && ! "$OPT/venv/bin/python" -c 'import sys' 2>/dev/null; then
  rm -rf "$OPT/venv"                   # the system Python changed under it: rebuild
fi
[ -x "$OPT/venv/bin/python" ] || { say "venv $OPT/venv"; python3 -m venv "$OPT/venv"; }
if [ -n "$WHEELS" ]; then PKG=(--no-index --find-links "$WHEELS" lentera); else PKG=("$SRC"); fi
say "agent into $OPT/venv (${WHEELS:-from $SRC})"
PIP=("$OPT/venv/bin/python" -m pip -q --disable-pip-version-check install)
"${PIP[@]}" --upgrade "${PKG[@]}"
"${PIP[@]}" --force-reinstall --no-deps "${PKG[@]}"   # same version number: still the new code
ln -sfn "$OPT/venv/bin/lentera" /usr/local/bin/lentera
# the unit runs the agent with PYTHONOPTIMIZE=2 and cannot write .pyc files: compile the
# .opt-2.pyc of every module `lentera run` and its optional features import (the venv's and
# the standard library's) by importing them once, as root, at that level (-P: the venv's
# agent, not a source tree in the current folder)
say "compiling the agent's modules for PYTHONOPTIMIZE=2"
env -u PYTHONDONTWRITEBYTECODE "$OPT/venv/bin/python" -P -OO -c 'import agent.cli
import agent.app, agent.services.watch, agent.sparkplug.service, agent.talq.wiring
import agent.local.boot, agent.local.metrics, agent.platform.sdnotify, uvloop'
# the unit's Documentation= points at the installed guide
install -m 0644 "$SRC/docs/installer-guide.md" "$SRC/docs/config.md" "$SRC/docs/profiles.md" \
  "$OPT/share/doc/"

if [ -f "$ETC/gateway.yaml" ]; then
  say "keeping $ETC/gateway.yaml and its keys"
  if ! grep -q '^control:' "$ETC/gateway.yaml"; then
    # configs from older installs put the socket next to the config: read-only to the service now
    say "moving the control socket to /run/lentera (appended control: to gateway.yaml)"
    printf '\n# added by install.sh: /etc/lentera is read-only to the service\ncontrol: {socket: /run/lentera/lentera.sock}\n' \
      >> "$ETC/gateway.yaml"
  fi
else
  say "example config $ETC/gateway.yaml (a provisioning bundle replaces it at first boot)"
  install -o root -g lentera -m 0640 "$HERE/gateway.example.yaml" "$ETC/gateway.yaml"
fi
# config and secrets: readable by the service, writable by root only (older installs left
# cmd.key root:root 0600, which the service could not read)
chown -R root:lentera "$ETC"
find "$ETC" -type d -exec chmod 0750 {} + && find "$ETC" -type f -exec chmod 0640 {} +
chown -R lentera:lentera "$VAR"

say "systemd units and udev rules"
install -m 0644 "$HERE/lentera.service" "$HERE/lentera-firstboot.service" "$UNITS/"
mkdir -p /etc/udev/rules.d
[ -f /etc/udev/rules.d/99-lentera-rs485.rules ] ||
  install -m 0644 "$HERE/99-lentera-rs485.rules" /etc/udev/rules.d/99-lentera-rs485.rules
if command -v systemctl >/dev/null 2>&1; then
  systemctl enable lentera.service lentera-firstboot.service >/dev/null 2>&1 || true
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    command -v udevadm >/dev/null && udevadm control --reload || true
    if systemctl is-active --quiet lentera.service; then
      say "restarting the running agent"; systemctl restart lentera.service
    fi
  fi
else
  say "no systemd here (image build or container): units installed, not enabled"
  mkdir -p "$UNITS/multi-user.target.wants"
  ln -sfn "$UNITS/lentera.service" "$UNITS/multi-user.target.wants/lentera.service"
  ln -sfn "$UNITS/lentera-firstboot.service" "$UNITS/multi-user.target.wants/lentera-firstboot.service"
fi

say "config check as the service user"
setpriv --reuid lentera --regid lentera --init-groups \
  "$OPT/venv/bin/lentera" check-config "$ETC/gateway.yaml" || true
say "installed $("$OPT/venv/bin/lentera" --version). Next: docs/installer-guide.md ($OPT/share/doc)"
