"""The chat routes' answer and query skip marshmallow when a check proves it would change nothing
(app/api/schemas/checked.py): for any answer record and any query, the result is marshmallow's
own (the same dump, the same loaded query, the same refusal or error)."""

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict

from app.api.schemas.ai import ChatAnswerSchema, ModelArgsSchema
from app.api.schemas.checked import CheckedDumpSchema, plain_dumper
from app.jsonio import JSONProvider
from app.services.chat.wire import UsageSummary


def outcome(call, value):
    try:
        return "done", call(value)
    except Exception as error:  # whatever marshmallow raises, the check must raise too
        return type(error).__name__, str(error)


def dumps(value) -> str:
    return json.dumps(value, default=JSONProvider.default, separators=(",", ":"))


def same_dump(record) -> None:
    schema = ChatAnswerSchema()
    by_marshmallow = outcome(lambda obj: Schema.dump(schema, obj), record)
    checked = outcome(schema.dump, record)
    # By repr: a NaN cost is dumped as a Decimal NaN both ways, and NaN equals nothing.
    assert repr(checked) == repr(by_marshmallow)
    if checked[0] == "done":
        assert dumps(checked[1]) == dumps(by_marshmallow[1])


def summary(**changes) -> UsageSummary:
    members = {"request_id": "chat-1", "input_tokens": 2, "output_tokens": 16,
               "cache_write_tokens": 0, "cache_read_tokens": 0, "total_tokens": 18,
               "cost": Decimal("0.0000099")}
    return UsageSummary(**{**members, **changes})


def answer(**changes) -> dict:
    members = {"id": "chat-1", "model": "openai/gpt-4o-mini", "provider": "openai",
               "content": "Hello", "usage": summary(), "upstream": {"id": "x", "choices": []}}
    return {**members, **changes}


def test_a_chat_answer_is_dumped_without_marshmallow_as_marshmallow_dumps_it(monkeypatch):
    record = answer()
    expected = Schema.dump(ChatAnswerSchema(), record)
    monkeypatch.setattr(Schema, "dump", lambda *args, **kwargs: pytest.fail("marshmallow ran"))
    dumped = ChatAnswerSchema().dump(record)
    assert dumped == expected
    assert list(dumped) == list(expected)
    assert list(dumped["usage"]) == list(expected["usage"])
    assert dumped["upstream"] == record["upstream"] and dumped["upstream"] is not record["upstream"]


class Text(str):
    pass


odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([10**30, 1.5, float("nan")]),
    st.text(max_size=3), st.builds(Text, st.text(max_size=2)),
    st.sampled_from([Decimal("1E-8"), Decimal("0.00000000"), Decimal("-0"), Decimal("NaN"),
                     Decimal("Infinity"), Decimal("12345678.123456789")]),
    st.just({"a": 1}), st.just([1]), st.just(("x",)))
usages = st.one_of(
    st.builds(lambda changes: summary(**changes), st.dictionaries(st.sampled_from(
        ["request_id", "input_tokens", "total_tokens", "cost"]), odd_values, max_size=2)),
    st.fixed_dictionaries({}, optional={"request_id": odd_values, "input_tokens": odd_values,
                                        "requestId": odd_values, "cost": odd_values}),
    odd_values)
records = st.one_of(
    st.builds(lambda changes: answer(**changes), st.dictionaries(st.sampled_from(
        ["id", "model", "content", "upstream", "usage"]), st.one_of(odd_values, usages),
        max_size=3)),
    st.builds(lambda changes, dropped: {k: v for k, v in answer(**changes).items()
                                        if k != dropped},
              st.dictionaries(st.just("usage"), usages, max_size=1),
              st.sampled_from(["id", "usage", "upstream", "nothing"])),
    odd_values)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records)
def test_any_answer_record_gets_marshmallows_own_dump(record):
    same_dump(record)


def test_a_schema_with_a_field_the_check_does_not_know_is_refused():
    class Dated(CheckedDumpSchema):
        at = fields.DateTime()

    with pytest.raises(TypeError, match="DateTime"):
        plain_dumper(Dated())


def test_every_checked_dump_schema_in_the_api_can_be_checked():
    assert plain_dumper(ChatAnswerSchema())({**answer(), "extra": 1}) == \
        Schema.dump(ChatAnswerSchema(), answer())


def same_load(schema, data, **kwargs) -> None:
    by_marshmallow = outcome(lambda value: Schema.load(schema, value, **kwargs), data)
    assert outcome(lambda value: schema.load(value, **kwargs), data) == by_marshmallow


models = st.one_of(st.sampled_from(["openai/gpt-4o-mini", "", "m" * 200, "m" * 201]),
                   st.text(max_size=3))


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from(["model", "key", "other"]), models),
                      max_size=3))
def test_any_query_gets_marshmallows_own_model_args(pairs):
    schema = ModelArgsSchema()
    query = MultiDictProxy(MultiDict(pairs), schema)
    same_load(schema, query, unknown="exclude")
    same_load(schema, query)


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(st.dictionaries(st.sampled_from(["model", "other"]),
                                      st.one_of(models, odd_values), max_size=2),
                      odd_values))
def test_any_json_body_gets_marshmallows_own_model_args(body):
    same_load(ModelArgsSchema(), body)
    same_load(ModelArgsSchema(), body, unknown="raise")
