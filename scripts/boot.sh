#!/usr/bin/env bash
# Migrate the database to head, then serve the app with gunicorn.
set -euo pipefail
cd "$(dirname "$0")/.."
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python

"$python" -m alembic upgrade heads
bind="${RELAYGATE_BIND:-127.0.0.1:8000}"
echo "Relaygate on http://${bind} (Swagger UI: http://${bind}/docs, OpenAPI: http://${bind}/openapi.json)"
if [ -z "${RELAYGATE_ADMIN_USERNAME:-}" ]; then
  echo "No admin yet? Set RELAYGATE_ADMIN_USERNAME and RELAYGATE_ADMIN_PASSWORD, or run:"
  echo "  $python -m flask --app wsgi create-admin"
fi
exec "$python" -m gunicorn -c gunicorn.conf.py wsgi:app
