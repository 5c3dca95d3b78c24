#!/usr/bin/env bash
# Run the whole test suite (CPython and MicroPython). Sets the machine up first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/dev/setup.sh
# -rsx: every skip and known failure says why; -n 4: four workers on two cores, because the
# tests mostly wait (brokers, agent subprocesses, browsers): ~8 min instead of ~15;
# --dist loadfile keeps each module on one worker, in order (test_install shares one installed root)
exec .venv/bin/python -m pytest -q -rsx -p no:cacheprovider -n 4 --dist loadfile "$@"
