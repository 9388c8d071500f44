"""ModelService: the model catalogue, and the tier a model string names (section 3.3)."""

from __future__ import annotations

from decimal import Decimal

from app.cache import read_through
from app.db.models import AiModel
from app.errors import Conflict, NotFound
from app.services.base import Service
from app.services.retry import db_retry

DEFAULT_MODEL_TYPE = "basic"
EDITABLE = ("name", "provider", "model_type", "upstream_model", "input_price", "output_price",
            "cache_write_price", "cache_write_1h_price", "cache_read_price", "context_window",
            "is_active")


def one_hour_cache_write_price(provider: str, input_price: Decimal,
                               cache_write_price: Decimal | None) -> Decimal:
    """Anthropic lists an hour's cache write at twice the input price; other providers have
    no such write, so it costs what any cache write does."""
    if provider == "claude":
        return input_price * 2
    return cache_write_price if cache_write_price is not None else input_price


def _not_found() -> NotFound:
    return NotFound("No model has that id.", code="DB_RECORD_NOT_FOUND")


class ModelService(Service):
    @read_through("model", key=lambda model: model)
    @db_retry
    def resolve(self, model: str) -> dict:
        """The model whose id or name is exactly `model`, with its tier; unknown means basic.

        Both forms are accepted: the id ('openai/gpt-4o') and the short name ('GPT-4o'). Should
        one model's id equal another's name, the id wins. Inactive models keep their tier.
        """
        with self.uow() as uow:
            matches = uow.models.list_matching(model)
        if not matches:
            return {"id": None, "modelType": DEFAULT_MODEL_TYPE}
        found = next((m for m in matches if m.id == model), matches[0])
        return {"id": found.id, "name": found.name, "provider": found.provider,
                "modelType": found.model_type, "upstreamModel": found.upstream_model,
                "isActive": found.is_active,
                "prices": {"input": found.input_price, "output": found.output_price,
                           "cacheWrite": found.cache_write_price,
                           "cacheWrite1h": found.cache_write_1h_price,
                           "cacheRead": found.cache_read_price}}

    @db_retry
    def list(self, *, provider: str | None = None, model_type: str | None = None,
             is_active: bool | None = None) -> list[AiModel]:
        with self.uow() as uow:
            return uow.models.list_filtered(provider=provider, model_type=model_type,
                                            is_active=is_active)

    @db_retry
    def get(self, model_id: str) -> AiModel:
        with self.uow() as uow:
            found = uow.models.get(model_id)
        if found is None:
            raise _not_found()
        return found

    @db_retry
    def create(self, data: dict) -> AiModel:
        now = self.clock()
        model = AiModel(id=data["id"], created_at=now, updated_at=now, is_active=True)
        self._apply(model, data)
        if "cache_write_1h_price" not in data:
            model.cache_write_1h_price = one_hour_cache_write_price(
                model.provider, model.input_price or Decimal(0), model.cache_write_price)
        with self.uow() as uow:
            if uow.models.get(model.id) is not None:
                raise Conflict("A model with that id exists.", code="DB_DUPLICATE_KEY")
            self._check_name_free(uow, model.name)
            uow.models.add(model)
            uow.commit()
        self._forget(model.id, model.name)
        return model

    @db_retry
    def update(self, model_id: str, changes: dict) -> AiModel:
        with self.uow() as uow:
            model = uow.models.get(model_id)
            if model is None:
                raise _not_found()
            old_name = model.name
            if changes.get("name", old_name) != old_name:
                self._check_name_free(uow, changes["name"])
            self._apply(model, changes)
            model.updated_at = self.clock()
            uow.commit()
        self._forget(model.id, old_name, model.name)
        return model

    def deactivate(self, model_id: str) -> AiModel:
        """The model stays in the catalogue (and keeps its tier) but is no longer offered."""
        return self.update(model_id, {"is_active": False})

    def _check_name_free(self, uow, name: str) -> None:
        if uow.models.get_by_name(name) is not None:
            raise Conflict("A model with that name exists.", code="DB_DUPLICATE_KEY",
                           details={"name": ["Taken."]})

    def _apply(self, model: AiModel, data: dict) -> None:
        for name in EDITABLE:
            if name in data:
                setattr(model, name, data[name])

    def _forget(self, *lookups: str) -> None:
        # Any of these strings may have been cached as an answer (an unknown one as "basic").
        for text in set(lookups):
            self.resolve.invalidate(self.cache, text)
