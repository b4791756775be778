#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs them:  bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/bootstrap.sh test
# shellcheck source=tests/env/desktop.sh
source tests/env/desktop.sh
exec .venv/bin/python -m pytest "$@"
