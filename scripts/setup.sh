#!/usr/bin/env bash
# Installs what building and running egov needs on Debian, when it is missing: the PostgreSQL
# server binaries (initdb, pg_ctl, pgbench; the embedded default and the tests use them), a C
# toolchain and OpenSSL's headers for crates that build C, the openssl command line (tests make
# certificates and run an OCSP responder with it), Python's venv (the tests install Schemathesis
# into one), wrk (the HTTP benchmark) and poppler's pdftotext (a test reads the result PDFs back). Needs the Rust toolchain (cargo) already installed.
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# OpenSSL is built from source (the openssl crate's `vendored` feature): its build runs perl and make.
command -v perl >/dev/null 2>&1 || need+=(perl)
command -v make >/dev/null 2>&1 || need+=(make)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
[ -e /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
# --browser: also what the browser tests need (scripts/browser-test.sh).
if [ "${1:-}" = "--browser" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi

if ((${#need[@]})); then
  echo "setup: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install the Rust toolchain (https://rustup.rs) first" >&2
  exit 1
fi
