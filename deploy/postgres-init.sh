#!/bin/sh
# Run once by the postgres image on a new data volume (docker-entrypoint-initdb.d): the two
# roles of deploy/postgres-roles.sql, so Quittance never connects as the superuser.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$QUITTANCE_OWNER_PASSWORD" \
  -v app_password="$QUITTANCE_APP_PASSWORD" \
  -f /deploy/postgres-roles.sql
