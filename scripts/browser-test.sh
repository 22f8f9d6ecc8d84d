#!/usr/bin/env bash
# The pages in a real browser: starts `egov serve` in development mode on the embedded default
# (a scratch data directory), then runs tests/browser/*.test.mjs with playwright-core driving
# Debian's chromium (headless) and axe-core checking each screen. Installs what is missing: chromium,
# nodejs and npm with apt-get (scripts/setup.sh --browser); playwright-core and axe-core with
# npm, at the versions of tests/browser/package-lock.json, into ~/.cache/egov-tools/browser.
# Each screen's screenshot is kept in ${CARGO_TARGET_DIR:-target}/browser-artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --browser

tools="$HOME/.cache/egov-tools/browser"
mkdir -p "$tools"
if [ ! -d "$tools/node_modules" ] || ! cmp -s tests/browser/package-lock.json "$tools/package-lock.json"; then
  cp tests/browser/package.json tests/browser/package-lock.json "$tools/"
  (cd "$tools" && npm ci --no-audit --no-fund --silent)
fi

target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet -p egov --bin egov
artifacts="$(realpath -m "$target/browser-artifacts")"
rm -rf "$artifacts"
scratch="$(mktemp -d)"
# The scripts run beside the modules (ES modules resolve packages from where they are), in a
# directory of this run's: another run on the machine copies its own.
mkdir "$scratch/browser"
ln -s "$tools/node_modules" "$scratch/browser/node_modules"
cp tests/browser/*.mjs "$scratch/browser/"
EGOV_MODE=development EGOV_DATA_DIR="$scratch/pg" EGOV_HTTP_ADDR=127.0.0.1:0 RUST_LOG=warn \
  "$target/debug/egov" serve >"$scratch/stdout" 2>"$scratch/stderr" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$scratch"' EXIT
for _ in $(seq 1 240); do
  grep -q '^listening on ' "$scratch/stdout" && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "browser-test: egov serve stopped:" >&2
    cat "$scratch/stderr" >&2
    exit 1
  fi
  sleep 0.5
done
addr="$(sed -n 's/^listening on //p' "$scratch/stdout" | head -n 1)"
if [ -z "$addr" ]; then
  echo "browser-test: egov serve did not start within 2 minutes" >&2
  exit 1
fi
# The key file the NCALayer test's stand-in signs with: a development certificate of the citizen
# it files for, from the CA the server trusts (beside its data directory).
EGOV_MODE=development EGOV_DATA_DIR="$scratch/pg" "$target/debug/egov" dev-cert \
  --iin 850715300003 --out "$scratch/ncalayer.p12" >/dev/null
export EGOV_BIN="$(realpath "$target/debug/egov")" NCALAYER_P12="$scratch/ncalayer.p12"
status=0
# `bash scripts/browser-test.sh NAME` runs tests/browser/NAME.test.mjs alone.
for test in tests/browser/${1:-*}.test.mjs; do
  echo "browser-test: $(basename "$test")"
  CHROMIUM="$(command -v chromium)" node "$scratch/browser/$(basename "$test")" "http://$addr" "$artifacts" || status=1
done
exit "$status"
