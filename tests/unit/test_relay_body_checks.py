"""The relay routes' bodies are checked by hand before marshmallow (app/api/schemas/checked.py):
for any body, the answer is marshmallow's own (the same loaded body, or the same refusal), and
a valid conversation never pays for marshmallow's nested message schema."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from app.api.schemas.ai import (
    AnthropicMessagesBodySchema,
    ChatBodySchema,
    CountTokensBodySchema,
    MessageSchema,
    OpenAIChatBodySchema,
)

SCHEMAS = [ChatBodySchema, OpenAIChatBodySchema, AnthropicMessagesBodySchema,
           CountTokensBodySchema]


def outcome(load, body):
    try:
        return "loaded", load(body)
    except ValidationError as refused:
        return "refused", refused.messages


def same_answer(schema_class, body) -> None:
    schema = schema_class()
    by_marshmallow = outcome(lambda data: Schema.load(schema, data), body)
    assert outcome(schema.load, body) == by_marshmallow


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 2_000_000),
                    st.sampled_from([0, 1, 2, 10**7, 10**7 + 1, 10**400]),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
                    st.sampled_from(["", "m" * 200, "m" * 201, "true", "16", "user"]))
roles = st.one_of(st.sampled_from(["user", "assistant", "system", "tool", "developer",
                                   "model", "function", "robot", "", "USER"]), scalars)
messages = st.one_of(
    st.lists(st.one_of(
        st.fixed_dictionaries({"role": roles, "content": st.one_of(st.text(), scalars)},
                              optional={"name": scalars}),
        st.fixed_dictionaries({}, optional={"role": roles, "content": scalars}),
        scalars), max_size=4),
    scalars)
bodies = st.fixed_dictionaries({}, optional={
    "model": st.one_of(st.sampled_from(["openai/gpt-4o-mini", "claude-haiku-4-5"]), scalars),
    "messages": messages, "stream": scalars, "max_tokens": scalars, "temperature": scalars,
    "system": st.one_of(st.text(), scalars), "tools": scalars, "metadata": scalars})


@pytest.mark.parametrize("schema_class", SCHEMAS)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_any_body_gets_marshmallows_own_answer(schema_class, body):
    same_answer(schema_class, body)


GOOD = {"model": "openai/gpt-4o-mini", "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("schema_class", SCHEMAS)
@pytest.mark.parametrize("body", [
    GOOD, {**GOOD, "temperature": 1}, {**GOOD, "temperature": 0.5, "stream": True},
    {**GOOD, "stream": "true"}, {**GOOD, "stream": None}, {**GOOD, "max_tokens": 16.0},
    {**GOOD, "max_tokens": True}, {**GOOD, "max_tokens": 0}, {**GOOD, "temperature": math.nan},
    {**GOOD, "temperature": False}, {**GOOD, "system": None}, {**GOOD, "model": ""},
    {**GOOD, "model": None}, {**GOOD, "messages": []}, {**GOOD, "messages": "hi"},
    {**GOOD, "messages": [{"role": "user"}]}, {**GOOD, "messages": [{"content": "x"}]},
    {**GOOD, "messages": [{"role": "user", "content": None}]},
    {**GOOD, "messages": [["user", "hi"]]}, {"messages": GOOD["messages"]}, [GOOD], "body",
])
def test_edge_bodies_get_marshmallows_own_answer(schema_class, body):
    same_answer(schema_class, body)


def test_a_valid_conversation_is_not_run_through_the_nested_message_schema(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("marshmallow's message schema ran")

    monkeypatch.setattr(MessageSchema, "_deserialize", refuse)
    long = {**GOOD, "messages": [{"role": "user", "content": "hi"}] * 50, "temperature": 1}
    loaded = OpenAIChatBodySchema().load(long)
    assert loaded["temperature"] == 1.0 and isinstance(loaded["temperature"], float)
    assert loaded["stream"] is False and ChatBodySchema().load(long)["stream"] is True
