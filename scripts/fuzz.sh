#!/usr/bin/env bash
# Fuzzing (libFuzzer via cargo fuzz) of every parser that meets outside bytes: the IIN, the request
# number, the SIK, canonical JSON, the CMS signature container and its certificates, the registry
# fixture, the audit feed's cursor and bearer tokens (fuzz/fuzz_targets/).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (default 5), all targets
#                                                unless named; prints executions per target and
#                                                fails on a crash (its input is kept in
#                                                fuzz/artifacts/<target>/ to become a regression test)
#
# Installs the nightly toolchain's cargo-fuzz once. The corpus grows in fuzz/corpus/<target>/
# (ignored by git), so longer runs on demand pick up where the last one stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-5}"
shift || true
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (once per machine)" >&2
  cargo install cargo-fuzz --locked >&2
fi
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: installing the nightly toolchain (cargo fuzz needs it)" >&2
  rustup toolchain install nightly --profile minimal >&2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi
# One build for every target (debug assertions on, as the tests run).
cargo +nightly fuzz build --fuzz-dir fuzz -O --debug-assertions >&2
status=0
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  # Seeds kept in git (a real CMS, a token's shape) start the targets that need structure.
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  log="$(mktemp)"
  if cargo +nightly fuzz run --fuzz-dir fuzz -O --debug-assertions "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    outcome=ok
  else
    outcome=CRASH
    status=1
    tail -40 "$log" >&2
  fi
  runs="$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | grep -Eo '[0-9]+$' || grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')"
  printf 'fuzz: %-16s %10s executions in %ss  %s\n' "$target" "${runs:-?}" "$seconds" "$outcome"
  rm -f "$log"
done
exit "$status"
