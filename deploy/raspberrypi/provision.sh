#!/usr/bin/env bash
# Commission one gateway: give it its id, site and location, a fresh command key, and check it.
#
#   sudo bash deploy/raspberrypi/provision.sh --id tgr-gw-0001 --site cikokol \
#        --lat -6.178 --lon 106.632 --broker mqtts://broker.city.example:8883
#
# Writes /etc/lentera/gateway.yaml's gateway and uplink keys in place (a backup is kept),
# creates /etc/lentera/cmd.key (32 random bytes, hex, mode 0600) unless it exists and prints its
# fingerprint for the city's key registry. ETC=/some/dir overrides /etc/lentera (for staging).
set -euo pipefail
ETC="${ETC:-/etc/lentera}"
CONFIG="$ETC/gateway.yaml"
LENTERA="${LENTERA:-/opt/lentera/venv/bin/lentera}"
PYTHON="$(dirname "$LENTERA")/python"
id="" site="" lat="" lon="" broker=""
while [ $# -gt 0 ]; do
  case "$1" in
    --id) id="$2"; shift 2 ;;
    --site) site="$2"; shift 2 ;;
    --lat) lat="$2"; shift 2 ;;
    --lon) lon="$2"; shift 2 ;;
    --broker) broker="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in id site lat lon; do
  [ -n "${!v}" ] || { echo "--$v is required (see --help)" >&2; exit 2; }
done
[ -f "$CONFIG" ] || { echo "$CONFIG missing: run install.sh first" >&2; exit 1; }

cp "$CONFIG" "$CONFIG.bak.$(date +%Y%m%d%H%M%S)"
"$PYTHON" - "$CONFIG" "$id" "$site" "$lat" "$lon" "$broker" <<'PY'
import sys
import yaml
path, gid, site, lat, lon, broker = sys.argv[1:]
from agent.config.text import load_yaml
data = load_yaml(open(path, encoding="utf-8").read())
data["gateway"].update(id=gid, site=site, location={"lat": float(lat), "lon": float(lon)})
if broker:
    data["uplink"]["mqtt"]["url"] = broker
    if broker.startswith("mqtts://"):
        data["uplink"]["mqtt"].setdefault("tls", {})
data.setdefault("commands", {})["key_file"] = "cmd.key"
open(path, "w", encoding="utf-8").write(yaml.safe_dump(data, sort_keys=False))
PY
if [ ! -f "$ETC/cmd.key" ]; then
  (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$ETC/cmd.key")
  echo "==> new command key $ETC/cmd.key"
fi
echo "==> key fingerprint (sha256): $(sha256sum "$ETC/cmd.key" | cut -c1-16)"
"$LENTERA" check-config "$CONFIG"
