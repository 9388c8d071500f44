"""ModelService: the model catalogue, the tier a model string names (section 3.3 of
docs/design/api-refactor.md), and the model a client protocol's name routes to (issue 14)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.cache import read_through
from app.db.models import AiModel
from app.errors import DuplicateRecord, RecordNotFound
from app.services.base import Service
from app.services.keys.permissions import may_use_model
from app.services.retry import db_retry

DEFAULT_MODEL_TYPE = "basic"
EDITABLE = ("name", "provider", "model_type", "upstream_model", "input_price", "output_price",
            "cache_write_price", "cache_write_1h_price", "cache_read_price", "context_window",
            "is_active", "aliases")
# The kinds of name a client may send, weakest first: a stronger kind overrides a weaker one.
_CLIENT_NAMES = (
    lambda model: model.aliases or (),
    lambda model: (model.upstream_model,),
    lambda model: (model.name,),
    lambda model: (model.id,),
)


def one_hour_cache_write_price(provider: str, input_price: Decimal,
                               cache_write_price: Decimal | None) -> Decimal:
    """Anthropic lists an hour's cache write at twice the input price; other providers have
    no such write, so it costs what any cache write does."""
    if provider == "claude":
        return input_price * 2
    return cache_write_price if cache_write_price is not None else input_price



class ModelService(Service):
    # The cached entries are the records below, as JSON; version 3: their names are snake_case.
    @read_through("model", key=lambda model: model, version=3)
    @db_retry
    def resolve(self, model: str) -> dict:
        """The model whose id or name is exactly `model`, with its tier; unknown means basic.

        Both forms are accepted: the id ('openai/gpt-4o') and the short name ('GPT-4o'). Should
        one model's id equal another's name, the id wins. Inactive models keep their tier.
        """
        # One read: autocommit spares the BEGIN's and the ROLLBACK's round trips.
        with self.uow.at_once() as uow:
            matches = uow.models.list_matching(model)
        return self.record_of(next((m for m in matches if m.id == model),
                                   matches[0] if matches else None))

    @staticmethod
    def record_of(found: Any) -> dict:
        """What `resolve` answers for the catalogue row it found (ORM or Core; None: none)."""
        if found is None:
            return {"id": None, "model_type": DEFAULT_MODEL_TYPE}
        return _record(found)

    def resolve_for_client(self, name: str, *, fresh: bool = False) -> dict | None:
        """The active model a client protocol's `name` routes to (as `resolve` answers), or None.

        A name routes by, strongest first: catalogue id, name, upstream model name
        ('claude-sonnet-4-5-20250929', what Claude Code sends), alias. Where several active
        entries share a name of the same kind, the lowest id answers. Inactive entries route
        nothing. `fresh` reads the database instead of the cache.
        """
        routes = self.client_routes.uncached(self) if fresh else self.client_routes()
        model_id = routes["names"].get(name)
        return routes["models"][model_id] if model_id is not None else None

    # Read on every client-protocol request, and it grows with the catalogue: kept decoded in
    # process while its generation in Redis is unchanged (every catalogue change moves it).
    @read_through("client-models", key=lambda: "all", version=3,
                  in_process=True)
    @db_retry
    def client_routes(self) -> dict:
        """Every active model (`models`, by id) and every name a client may send (`names`).
        Shared by every caller in the process: read it, never change it."""
        with self.uow() as uow:
            active = uow.models.list_filtered(is_active=True)
        names: dict[str, str] = {}
        for names_of in _CLIENT_NAMES:
            for model in sorted(active, key=lambda m: m.id, reverse=True):
                names.update((text, model.id) for text in names_of(model))
        return {"models": {m.id: _record(m) | {"created_at": m.created_at.isoformat()}
                           for m in active},
                "names": names}

    def offered_to(self, key: dict, *, listed_as: str = "id", after_id: str | None = None,
                   before_id: str | None = None, limit: int | None = None) -> dict:
        """The active models `key` may use, each under the name a client should send back
        (`listed_id`), ordered by id: `{"models", "has_more"}`.

        `listed_as` "id" lists catalogue ids; "upstream" the upstream model name (what Claude
        Code expects), or the id where that name routes to another entry. Entries sharing an
        upstream name are listed once, as the one that answers it. Paged as Anthropic pages:
        at most `limit` after `after_id` or before `before_id` (listed ids).
        """
        routes = self.client_routes()
        offered = []
        for model_id, model in sorted(routes["models"].items()):
            if not may_use_model(key, model):
                continue
            listed = model_id
            if listed_as == "upstream":
                answers = routes["names"][model["upstream_model"]]
                if answers == model_id:
                    listed = model["upstream_model"]
                elif may_use_model(key, routes["models"][answers]):
                    continue  # the entry that answers this name is listed under it
            offered.append({**model, "listed_id": listed})
        return _page(offered, after_id, before_id, limit)

    def offered_model(self, key: dict, name: str) -> dict | None:
        """The active model a client protocol's `name` routes to, if `key` may use it, listed
        under that name (`listed_id`), as `offered_to` lists them; else None."""
        model = self.resolve_for_client(name)
        if model is None or not may_use_model(key, model):
            return None
        return {**model, "listed_id": name}

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
            raise RecordNotFound("model")
        return found

    @db_retry
    def create(self, data: dict) -> AiModel:
        now = self.clock()
        model = AiModel(id=data["id"], created_at=now, updated_at=now, is_active=True,
                        aliases=[])
        self._apply(model, data)
        if "cache_write_1h_price" not in data:
            model.cache_write_1h_price = one_hour_cache_write_price(
                model.provider, model.input_price or Decimal(0), model.cache_write_price)
        with self.uow() as uow:
            if uow.models.get(model.id) is not None:
                raise DuplicateRecord("A model with that id exists.")
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
                raise RecordNotFound("model")
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
            raise DuplicateRecord("A model with that name exists.",
                                  details={"name": ["Taken."]})

    def _apply(self, model: AiModel, data: dict) -> None:
        for name in EDITABLE:
            if name in data:
                setattr(model, name, data[name])
        if "aliases" in data:
            model.aliases = list(dict.fromkeys(data["aliases"]))

    def _forget(self, *lookups: str) -> None:
        # Any of these strings may have been cached as an answer (an unknown one as "basic").
        for text in set(lookups):
            self.resolve.invalidate(self.cache, text)
        self.client_routes.invalidate(self.cache)


def _page(models: list[dict], after_id: str | None, before_id: str | None,
          limit: int | None) -> dict:
    listed = [model["listed_id"] for model in models]
    start, end = 0, len(models)
    if after_id is not None:
        start = listed.index(after_id) + 1 if after_id in listed else len(models)
    if before_id is not None:
        end = listed.index(before_id) if before_id in listed else 0
    if limit is None or end - start <= limit:
        return {"models": models[start:end], "has_more": False}
    if before_id is not None and after_id is None:
        return {"models": models[end - limit:end], "has_more": True}
    return {"models": models[start:start + limit], "has_more": True}


def _record(found: Any) -> dict:
    """The record of a catalogue entry, from its ORM row or its Core row (same names)."""
    return {"id": found.id, "name": found.name, "provider": found.provider,
            "model_type": found.model_type, "upstream_model": found.upstream_model,
            "aliases": list(found.aliases or []), "is_active": found.is_active,
            "prices": {"input": found.input_price, "output": found.output_price,
                       "cache_write": found.cache_write_price,
                       "cache_write_1h": found.cache_write_1h_price,
                       "cache_read": found.cache_read_price}}
