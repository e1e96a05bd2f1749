#!/usr/bin/env bash
# Start the machine's PostgreSQL and create the role and database the tests use (idempotent).
# Role/password/database come from CRYPTO_TUNE_PG_USER/_PASSWORD/_DB (defaults: crypto_tune).
set -euo pipefail
user=${CRYPTO_TUNE_PG_USER:-crypto_tune}
password=${CRYPTO_TUNE_PG_PASSWORD:-crypto_tune}
db=${CRYPTO_TUNE_PG_DB:-crypto_tune}

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "pg-setup: installing PostgreSQL (Debian package)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
[ -n "$cluster" ] || { echo "pg-setup: no PostgreSQL cluster found" >&2; exit 1; }
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster $cluster start
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
pg_isready -h 127.0.0.1 -p 5432

psql_su() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_su -c "SELECT 1 FROM pg_roles WHERE rolname='${user}'")" != "1" ]; then
  psql_su -c "CREATE ROLE \"${user}\" LOGIN PASSWORD '${password}'"
else
  psql_su -c "ALTER ROLE \"${user}\" LOGIN PASSWORD '${password}'"
fi
if [ "$(psql_su -c "SELECT 1 FROM pg_database WHERE datname='${db}'")" != "1" ]; then
  psql_su -c "CREATE DATABASE \"${db}\" OWNER \"${user}\""
fi
echo "pg-setup: postgresql://${user}:***@127.0.0.1:5432/${db} ready"
