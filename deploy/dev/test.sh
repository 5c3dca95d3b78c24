#!/usr/bin/env bash
# Run the whole test suite (CPython and MicroPython). Sets the machine up first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/dev/setup.sh
# -rsx: every skip and known failure says why; -n 4: four workers on two cores, because the
# tests mostly wait (brokers, agent subprocesses, browsers): ~6 min instead of ~12
exec .venv/bin/python -m pytest -q -rsx -p no:cacheprovider -n 4 "$@"
