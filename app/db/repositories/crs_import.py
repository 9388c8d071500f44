"""The CRS import's ledger, and the secrets of imported key hashing schemes."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db.models import CrsImportItem, KeyHashPepper
from app.db.repositories.base import Repository


class CrsImportItemRepository(Repository[CrsImportItem]):
    model = CrsImportItem

    def find(self, kind: str, source_id: str) -> CrsImportItem | None:
        return self.session.get(CrsImportItem, (kind, source_id))

    def list_kind(self, kind: str) -> list[CrsImportItem]:
        query = select(CrsImportItem).where(CrsImportItem.kind == kind)
        return list(self.session.scalars(query.order_by(CrsImportItem.source_id)))

    def count_by_outcome(self, kind: str) -> dict[str, int]:
        query = (select(CrsImportItem.outcome, func.count())
                 .where(CrsImportItem.kind == kind).group_by(CrsImportItem.outcome))
        return dict(self.session.execute(query).all())


class KeyHashPepperRepository(Repository[KeyHashPepper]):
    model = KeyHashPepper

    def list_for(self, scheme: str) -> list[KeyHashPepper]:
        query = select(KeyHashPepper).where(KeyHashPepper.scheme == scheme)
        return list(self.session.scalars(query.order_by(KeyHashPepper.created_at,
                                                        KeyHashPepper.id)))

    def page_after(self, after_id: str, limit: int, *,
                   for_update: bool = False) -> list[KeyHashPepper]:
        query = (select(KeyHashPepper).where(KeyHashPepper.id > after_id)
                 .order_by(KeyHashPepper.id).limit(limit))
        return list(self.session.scalars(query.with_for_update() if for_update else query))
