#!/usr/bin/env bash
# Runs the service: installs what is missing, builds, and starts `egov serve`. With no DATABASE_URL
# it runs its own PostgreSQL cluster in EGOV_DATA_DIR (default ./.egov/pg). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
exec cargo run --release --quiet -p api --bin egov -- serve "$@"
