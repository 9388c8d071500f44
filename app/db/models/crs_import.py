"""What an import from claude-relay-service (CRS) wrote, and the secret its keys are hashed with.

`crs_import_items` is the import's ledger: one row per source record, written in the same
transaction as what the record became here, so a rerun skips what is unchanged and an
interrupted run resumes where it stopped. `key_hash_peppers` holds, sealed, the secret an
imported key scheme appends before hashing (CRS: sha256(plaintext + ENCRYPTION_KEY)).
"""

from __future__ import annotations

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, str_id, timestamp

ITEM_KINDS = ("key", "account", "usage", "admin")
OUTCOMES = ("imported", "skipped")


class CrsImportItem(Base):
    __tablename__ = "crs_import_items"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The id of the row the record became (None when skipped).
    target_id: Mapped[str | None] = mapped_column(String(36))
    # Of the source record and the mapping's version: unchanged means nothing to do.
    checksum: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    # What the operator should know: settings not carried over, decisions taken.
    notes: Mapped[list] = mapped_column(JSON, default=list)
    imported_at: Mapped[timestamp]


class KeyHashPepper(Base):
    __tablename__ = "key_hash_peppers"

    id: Mapped[str_id]
    # The api_keys.hash_scheme whose keys are hashed with this secret.
    scheme: Mapped[str] = mapped_column(String(32), index=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[timestamp]
