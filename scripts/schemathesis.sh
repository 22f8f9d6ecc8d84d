#!/usr/bin/env bash
# Contract-test a running API against its OpenAPI document with Schemathesis.
#
# Usage:
#   scripts/schemathesis.sh <openapi-url> <base-url> [extra schemathesis args...]
#   e.g. scripts/schemathesis.sh http://127.0.0.1:8080/api/v1/openapi.json http://127.0.0.1:8080/api/v1
#
# Environment:
#   EGOV_TOOLS_DIR                    tool cache (default: $HOME/.cache/egov-tools)
#   EGOV_SCHEMATHESIS_TOKEN           optional bearer token -> "Authorization: Bearer <token>"
#   EGOV_SCHEMATHESIS_MAX_EXAMPLES    max test cases per operation (default: 30)
#   EGOV_SCHEMATHESIS_SEED            random seed (default: 20240101)
#   EGOV_SCHEMATHESIS_MODE            positive | negative | all (default: all)
#   EGOV_SCHEMATHESIS_REPORT_DIR      if set, also write a JUnit XML report there
#
# Checks: no 5xx, documented status codes, documented content types, response
# bodies valid against the response schema. Only loopback hosts are allowed.
# Exits non-zero if any check fails.
set -euo pipefail

SCHEMATHESIS_VERSION="4.32.5"

if [[ $# -lt 2 ]]; then
    echo "usage: $0 <openapi-url> <base-url> [extra schemathesis args...]" >&2
    exit 2
fi
SCHEMA_URL="$1"
BASE_URL="$2"
shift 2

# Refuse anything that is not loopback: the tests must never leave this machine.
require_loopback() {
    local url="$1" rest host
    rest="${url#*://}"
    rest="${rest%%/*}"
    host="${rest%:*}"
    [[ "$rest" == \[* ]] && host="${rest%%]*}]"
    case "$host" in
        127.0.0.1 | localhost | "[::1]") ;;
        *)
            echo "error: $url is not a loopback URL (127.0.0.1, localhost, [::1])" >&2
            exit 2
            ;;
    esac
}
require_loopback "$SCHEMA_URL"
require_loopback "$BASE_URL"

TOOLS_DIR="${EGOV_TOOLS_DIR:-$HOME/.cache/egov-tools}"
VENV="$TOOLS_DIR/schemathesis-venv"
ST="$VENV/bin/schemathesis"

installed_ok() {
    [[ -x "$ST" ]] && "$ST" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"
}

if ! installed_ok; then
    echo "==> installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    mkdir -p "$TOOLS_DIR"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
    installed_ok || { echo "error: schemathesis install failed" >&2; exit 1; }
fi

CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
args=(
    run "$SCHEMA_URL"
    --url "$BASE_URL"
    --checks "$CHECKS"
    --max-examples "${EGOV_SCHEMATHESIS_MAX_EXAMPLES:-30}"
    --seed "${EGOV_SCHEMATHESIS_SEED:-20240101}"
    --mode "${EGOV_SCHEMATHESIS_MODE:-all}"
    --generation-database none
    --wait-for-schema 30
    --request-timeout 10
    --no-color
)
if [[ -n "${EGOV_SCHEMATHESIS_TOKEN:-}" ]]; then
    args+=(--header "Authorization: Bearer $EGOV_SCHEMATHESIS_TOKEN")
fi
if [[ -n "${EGOV_SCHEMATHESIS_REPORT_DIR:-}" ]]; then
    args+=(--report junit --report-dir "$EGOV_SCHEMATHESIS_REPORT_DIR")
fi
args+=("$@")

# Loopback only: never route test traffic through a proxy.
export NO_PROXY="127.0.0.1,localhost,::1" no_proxy="127.0.0.1,localhost,::1"
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy

echo "==> schemathesis $SCHEMATHESIS_VERSION: $SCHEMA_URL against $BASE_URL"
echo "    checks: $CHECKS"
start=$SECONDS
set +e
"$ST" "${args[@]}"
rc=$?
set -e
elapsed=$((SECONDS - start))

if [[ $rc -eq 0 ]]; then
    echo "==> schemathesis: PASSED (${elapsed}s)"
else
    echo "==> schemathesis: FAILED with exit code $rc (${elapsed}s)" >&2
fi
exit "$rc"
