"""SecretRotation: re-seal every stored secret under the current master key.

Run after changing RELAYGATE_SECRET_KEY, with the old secret given as a previous key
(`flask --app wsgi rotate-secrets --old-key ...`). Rows are changed in small batches, each
locked while it is re-sealed, so the gateway keeps serving during a rotation. A table that
stores sealed secrets lists its columns in SEALED_COLUMNS, under the name of its repository
on the unit of work; that repository provides `page_after(after, limit, for_update=)`, paging
by its `cursor(row)` (the id, unless the table has a composite key).
"""

from __future__ import annotations

from typing import Unpack

from app.crypto import SecretBox
from app.services.accounts import candidates as pool
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

SEALED_COLUMNS = {
    "accounts": ("access_token_sealed", "refresh_token_sealed", "api_key_sealed",
                 "proxy_password_sealed"),
    "key_hash_peppers": ("secret_sealed",),
    "staged_operations": ("data_sealed",),
}
BATCH = 100


class SecretRotation(Service):
    def __init__(self, *, box: SecretBox, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.box = box

    def rotate(self, old_secrets: tuple[str, ...] = ()) -> dict:
        """{rows, secrets, key_id}: how many rows and sealed values were re-sealed, and under
        which key. `old_secrets` are master secrets that sealed values, beside the configured
        previous ones."""
        box = self.box.with_previous(old_secrets)
        rows = resealed = 0
        for repository, columns in SEALED_COLUMNS.items():
            after = ""
            while True:
                batch_rows, batch_secrets, after = self._batch(box, repository, columns, after)
                if after is None:
                    break
                rows, resealed = rows + batch_rows, resealed + batch_secrets
        pool.forget(self.cache)
        return {"rows": rows, "secrets": resealed, "key_id": box.kid}

    @db_retry
    def _batch(self, box: SecretBox, repository: str, columns: tuple[str, ...],
               after) -> tuple[int, int, object | None]:
        with self.uow() as uow:
            table = getattr(uow, repository)
            found = table.page_after(after, BATCH, for_update=True)
            rows = resealed = 0
            for row in found:
                changed = 0
                for column in columns:
                    stored = getattr(row, column)
                    if stored is not None and not box.is_current(stored):
                        setattr(row, column, box.reseal(stored))
                        changed += 1
                rows, resealed = rows + bool(changed), resealed + changed
            uow.commit()
        return rows, resealed, (table.cursor(found[-1]) if found else None)
