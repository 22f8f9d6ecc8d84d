#!/usr/bin/env bash
# The fault campaign at length: citizens file and sign, an operator reads (audited), while faults
# come at moments drawn from the seed (kill -9 of `egov serve` or `egov worker`, a worker stopped
# past its lease, PostgreSQL paused, PostgreSQL restarted with -m immediate, the primary lost and
# its synchronous standby promoted, the OCSP responder stopped, registry outages, 5xx spikes and
# latency); then every invariant is checked and counted (tests/e2e/chaos.rs). The test suite runs a
# 90-second form of it.
#
#   bash scripts/chaos.sh [--minutes N] [--seed S] [--every SECONDS] [--rate FILINGS_PER_S]
#
# Defaults: 10 minutes, a random seed (printed, so that a run can be repeated), a fault every
# 5 s on average, 15 filings a second. Built in release mode. The last line is the report (JSON),
# after the same as a table on stderr (faults with their recovery, answers, invariants);
# the exit code is 0 only when every invariant held.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10
seed="$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
every=5
rate=15
while (($#)); do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --every) every="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    *) echo "chaos.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

bash scripts/setup.sh
TEST_DATABASE_URL="$(bash scripts/test-postgres.sh)"
export TEST_DATABASE_URL
echo "chaos: ${minutes} min, seed ${seed}, a fault every ~${every} s, ${rate} filings/s" >&2
EGOV_CHAOS_SECONDS="$((minutes * 60))" EGOV_CHAOS_SEED="$seed" EGOV_CHAOS_EVERY="$every" \
  EGOV_CHAOS_RATE="$rate" \
  cargo test --release -p egov --test e2e chaos -- --nocapture --test-threads 1
