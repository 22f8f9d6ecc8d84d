#!/usr/bin/env bash
# Makes sure the test server is reachable, and prints the TEST_DATABASE_URL to use.
#
# With TEST_DATABASE_URL set, it only checks that server. Otherwise it uses the local server at
# 127.0.0.1:5432 as user postgres: it starts the local cluster when it is not running (creating one
# when the machine has none), and when that server asks for a password it gives the postgres user
# the password 'postgres' (a fresh Debian install allows no password-less TCP login).
set -euo pipefail

url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1; then
  echo "$url"
  exit 0
fi
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "test-postgres: cannot reach TEST_DATABASE_URL" >&2
  exit 1
fi

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$version main$"; then
    echo "test-postgres: creating the local cluster $version/main" >&2
    as_postgres pg_createcluster "$version" main >/dev/null
  fi
  echo "test-postgres: starting the local cluster $version/main" >&2
  if [ "$(id -u)" -eq 0 ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
  else
    sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi

if psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1; then
  echo "$url"
  exit 0
fi
echo "test-postgres: the local server wants a password; setting one for the postgres user" >&2
(cd / && as_postgres psql -qc "ALTER USER postgres PASSWORD 'postgres'") >/dev/null
url="postgres://postgres:postgres@127.0.0.1:5432/postgres"
psql "$url" -Atqc 'SELECT 1' >/dev/null
echo "$url"
