#!/usr/bin/env bash
# The whole test suite: installs what is missing, makes sure the test PostgreSQL server runs, then
# runs every test of the workspace (unit, the event store's guarantees, end-to-end) and checks
# formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
TEST_DATABASE_URL="$(bash scripts/test-postgres.sh)"
export TEST_DATABASE_URL

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
