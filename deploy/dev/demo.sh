#!/usr/bin/env bash
# The demo: a simulated street-light site, a private MQTT broker on loopback and the
# agent, with telemetry printed as it arrives. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/dev/setup.sh
exec .venv/bin/lentera demo "$@"
