#!/usr/bin/env bash
# Install Lentera on a Raspberry Pi OS (or Debian) gateway, from this source tree.
#
#   sudo bash deploy/raspberrypi/install.sh            # install or upgrade, enable the service
#   DESTDIR=/tmp/stage bash deploy/raspberrypi/install.sh   # stage into a folder (no users, no systemd)
#
# Layout: /opt/lentera/venv (the agent), /etc/lentera/gateway.yaml (config, kept on upgrade),
# /var/lib/lentera (outbox, anomaly state, pushed schedules), lentera.service (systemd).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
DESTDIR="${DESTDIR:-}"
OPT="$DESTDIR/opt/lentera"
ETC="$DESTDIR/etc/lentera"
VAR="$DESTDIR/var/lib/lentera"
UNIT_DIR="$DESTDIR/etc/systemd/system"

if [ -z "$DESTDIR" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "run as root (sudo), or set DESTDIR to stage" >&2; exit 1; }
  echo "==> system packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  id lentera >/dev/null 2>&1 || useradd --system --home-dir /var/lib/lentera \
    --shell /usr/sbin/nologin --groups dialout lentera
fi

echo "==> agent into $OPT/venv"
mkdir -p "$OPT" "$ETC" "$VAR" "$UNIT_DIR"
[ -x "$OPT/venv/bin/python" ] || python3 -m venv "$OPT/venv"
"$OPT/venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$OPT/venv/bin/python" -m pip install -q "$SRC"

if [ ! -f "$ETC/gateway.yaml" ]; then
  echo "==> example config to $ETC/gateway.yaml (edit it, then: lentera check-config)"
  sed -e 's|^outbox:.*||' "$SRC/deploy/raspberrypi/gateway.example.yaml" > "$ETC/gateway.yaml"
  printf '\noutbox: {path: /var/lib/lentera/outbox.db}\nanomaly: {state_file: /var/lib/lentera/anomaly.npz}\ncommands: {schedule_file: /var/lib/lentera/pushed-lighting.json}\n' >> "$ETC/gateway.yaml"
else
  echo "==> keeping existing $ETC/gateway.yaml"
fi
install -m 0644 "$SRC/deploy/raspberrypi/lentera.service" "$UNIT_DIR/lentera.service"

if [ -z "$DESTDIR" ]; then
  chown -R lentera:lentera "$VAR" "$ETC"
  systemctl daemon-reload
  systemctl enable lentera.service >/dev/null
  echo "==> installed. Next: bash deploy/raspberrypi/provision.sh, then systemctl restart lentera"
fi
"$OPT/venv/bin/lentera" check-config "$ETC/gateway.yaml" || true
