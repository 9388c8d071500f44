"""Move a claude-relay-service Redis store into Relaygate (`flask --app wsgi import-crs`).

    python scripts/migrate_crs.py --redis-url redis://old-host:6379/0 \
        --crs-encryption-key "$CRS_ENCRYPTION_KEY" --timezone-offset 8 [--dry-run] \
        [--only keys,accounts,usage,admins]

It builds the app from the environment (DATABASE_URL, RELAYGATE_SECRET_KEY, ...) and runs the
import; see the README's "Moving from claude-relay-service".
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402
from app.crs_import.command import import_crs  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    app = create_app()
    with app.app_context():
        import_crs.main(args=argv, prog_name="migrate_crs.py")


if __name__ == "__main__":
    main()
