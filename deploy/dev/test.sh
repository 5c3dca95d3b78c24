#!/usr/bin/env bash
# Run the whole test suite (CPython and MicroPython). Sets the machine up first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/dev/setup.sh
exec .venv/bin/python -m pytest -q -rsx -p no:cacheprovider "$@"   # -rsx: every skip and known failure says why
