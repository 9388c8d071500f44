"""The model catalogue: lookup by id or name, filtered listing."""

from __future__ import annotations

from sqlalchemy import bindparam, or_, select

from app.db.driver import DriverSelect
from app.db.models import AiModel
from app.db.repositories.base import Repository

_MODELS = AiModel.__table__
# Core, not ORM rows, on the driver's cursor: the chat route resolves a model on every request.
_MATCHING = DriverSelect(select(_MODELS).where(or_(_MODELS.c.id == bindparam("text"),
                                                   _MODELS.c.name == bindparam("text"))))


class AiModelRepository(Repository[AiModel]):
    model = AiModel

    def get_by_name(self, name: str) -> AiModel | None:
        return self.session.scalar(select(AiModel).where(AiModel.name == name))

    def list_matching(self, text: str) -> list:
        """Models whose id or name is exactly `text` (at most two: one by id, one by name), as
        rows of the table's columns (named as the model's attributes)."""
        return _MATCHING.rows(self.session, {"text": text})

    def list_filtered(self, *, provider: str | None = None, model_type: str | None = None,
                      is_active: bool | None = None) -> list[AiModel]:
        query = select(AiModel).order_by(AiModel.provider, AiModel.id)
        if provider is not None:
            query = query.where(AiModel.provider == provider)
        if model_type is not None:
            query = query.where(AiModel.model_type == model_type)
        if is_active is not None:
            query = query.where(AiModel.is_active.is_(is_active))
        return list(self.session.scalars(query))
