#!/usr/bin/env bash
# The whole test suite: installs what is missing, makes sure the test PostgreSQL server and the
# Kafka broker run, then runs every test of the workspace (unit, the event store's guarantees,
# end-to-end) and checks formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
TEST_DATABASE_URL="$(bash scripts/test-postgres.sh)"
export TEST_DATABASE_URL
# The Kafka broker (tansu), built once per machine. The Kafka tests start brokers of their own from
# TANSU_BIN (so that they can stop them); the one on 127.0.0.1:9092 is there for development.
TANSU_BIN="$(bash scripts/kafka.sh install)"
export TANSU_BIN
bash scripts/kafka.sh start >/dev/null

cargo fmt --all -- --check
# The layout (docs/architecture.md, "The crates"): the domain stays pure (no async runtime,
# database, network, randomness or clock); the read side does not depend on the write side; the
# test CA is not in the production binary; no module circles, long files or long functions.
if cargo tree -p domain -e normal,features --prefix none | grep -E '^(tokio|tokio-postgres|deadpool|reqwest|actix|rdkafka|getrandom|rand) |chrono feature "clock"'; then
  echo "test.sh: the domain crate depends on IO (above)" >&2
  exit 1
fi
if cargo tree -p projections -e normal --prefix none | grep -E '^(commands|reqwest) '; then
  echo "test.sh: the read side depends on the write side or an HTTP client (above)" >&2
  exit 1
fi
if cargo tree -p egov -e normal --prefix none | grep -E '^testkit '; then
  echo "test.sh: the test CA is in the production binary (above)" >&2
  exit 1
fi
python3 scripts/check-layout.py
cargo clippy --workspace --all-targets --quiet -- -D warnings
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# One closing line over every test binary (cargo's last line is that of the last binary alone).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
# The pages in a real browser (chromium, playwright-core, axe-core; screenshots in
# target/browser-artifacts).
bash scripts/browser-test.sh
# Every parser that meets outside bytes, fuzzed for a few seconds each (longer on demand:
# `bash scripts/fuzz.sh 600`).
bash scripts/fuzz.sh 5
