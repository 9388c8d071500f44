"""The declarative base: one naming convention, shared column types."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from sqlalchemy import BigInteger, MetaData, String
from sqlalchemy.orm import DeclarativeBase, mapped_column

from app.db.types import Money, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return str(uuid.uuid4())


str_id = Annotated[str, mapped_column(String(36), primary_key=True, default=new_id)]
timestamp = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow)]
counter = Annotated[int, mapped_column(BigInteger, default=0, server_default="0")]
money = Annotated[Decimal, mapped_column(Money(), default=Decimal(0), server_default="0")]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Money()}


def one_of(column: str, values: tuple[str, ...]) -> str:
    """The SQL of a CHECK constraint keeping `column` to one of `values`."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"
