#!/usr/bin/env bash
# Remove Lentera from a gateway.
#
#   sudo bash deploy/raspberrypi/uninstall.sh           # agent, units, PATH link; KEEPS
#                                                       # /etc/lentera (config, keys) and
#                                                       # /var/lib/lentera (outbox, state)
#   sudo bash deploy/raspberrypi/uninstall.sh --purge   # also config, keys, state, udev rules
#                                                       # and the lentera user
set -euo pipefail
PURGE=0
case "${1:-}" in
  "") ;;
  --purge) PURGE=1 ;;
  -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
  *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "uninstall.sh: run as root (sudo bash $0)" >&2; exit 1; }
UNITS=/etc/systemd/system
if command -v systemctl >/dev/null 2>&1; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now lentera.service lentera-firstboot.service >/dev/null 2>&1 || true
  else
    systemctl disable lentera.service lentera-firstboot.service >/dev/null 2>&1 || true
  fi
fi
rm -f "$UNITS/lentera.service" "$UNITS/lentera-firstboot.service" \
  "$UNITS/multi-user.target.wants/lentera.service" \
  "$UNITS/multi-user.target.wants/lentera-firstboot.service"
[ -d /run/systemd/system ] && systemctl daemon-reload || true
if [ -L /usr/local/bin/lentera ] && [ "$(readlink /usr/local/bin/lentera)" = /opt/lentera/venv/bin/lentera ]; then
  rm -f /usr/local/bin/lentera
fi
rm -rf /opt/lentera
if [ "$PURGE" -eq 1 ]; then
  rm -rf /etc/lentera /var/lib/lentera /run/lentera /etc/udev/rules.d/99-lentera-rs485.rules
  id lentera >/dev/null 2>&1 && userdel lentera
  getent group lentera >/dev/null && groupdel lentera || true
  echo "==> Lentera removed, with its config, keys, state and user"
else
  echo "==> Lentera removed; kept /etc/lentera (config, keys) and /var/lib/lentera (outbox)."
  echo "    Remove those too with: sudo bash $0 --purge"
fi
