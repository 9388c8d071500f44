#!/usr/bin/env bash
# Migrate the database to head, then serve the app with gunicorn: `relaygate serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python
exec "$python" -m app serve
