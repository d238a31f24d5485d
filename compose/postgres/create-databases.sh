#!/usr/bin/env bash
# One server, one database per app, each owned by its own login role, so an app
# never connects as the superuser. Runs once, when the data volume is new (the
# image's entrypoint runs /docker-entrypoint-initdb.d/*). The passwords come from
# SHOP_DB_PASSWORD, BLOG_DB_PASSWORD and REPORTS_DB_PASSWORD; psql quotes them.
set -o errexit -o nounset -o pipefail

for app in shop blog reports; do
    password_variable="${app^^}_DB_PASSWORD"
    psql --variable=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set=name="$app" --set=password="${!password_variable}" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
SQL
done
