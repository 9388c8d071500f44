"""Section 3.3: a model string names its tier by id or by name; unknown models are basic."""

from __future__ import annotations

import pytest

from app.db.models import AiModel
from app.services.catalogue.service import ModelService
from tests.unit.fakes import FakeModelRepository, FakeUnitOfWorkFactory


def _model(model_id, name, model_type):
    return AiModel(id=model_id, name=name, provider="openai", model_type=model_type,
                   upstream_model=model_id.split("/")[-1], is_active=True)


@pytest.fixture
def service():
    repository = FakeModelRepository([
        _model("openai/gpt-4o", "GPT-4o", "premium"),
        _model("openai/gpt-4o-mini", "GPT-4o mini", "basic"),
        # A name equal to another model's id: the id must win.
        _model("claude/odd", "openai/gpt-4o-mini", "premium"),
    ])
    return ModelService(uow=FakeUnitOfWorkFactory(models=repository), cache=None)


def test_the_full_id_names_the_tier(service):
    assert service.resolve("openai/gpt-4o")["model_type"] == "premium"
    assert service.resolve("openai/gpt-4o")["id"] == "openai/gpt-4o"


def test_the_short_name_names_the_same_model(service):
    assert service.resolve("GPT-4o") == service.resolve("openai/gpt-4o")


def test_an_unknown_model_is_basic(service):
    assert service.resolve("no-such-model") == {"id": None, "model_type": "basic"}


def test_matching_is_exact_so_case_or_spacing_differences_are_unknown(service):
    assert service.resolve("gpt-4o")["model_type"] == "basic"
    assert service.resolve("GPT-4O")["id"] is None
    assert service.resolve(" GPT-4o")["id"] is None


def test_an_id_wins_over_another_models_equal_name(service):
    assert service.resolve("openai/gpt-4o-mini")["id"] == "openai/gpt-4o-mini"
    assert service.resolve("openai/gpt-4o-mini")["model_type"] == "basic"
