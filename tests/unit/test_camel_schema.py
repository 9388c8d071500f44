"""CamelSchema: schemas declare snake_case fields and own the camelCase wire names."""

import importlib
import pkgutil
import re
from dataclasses import dataclass

import pytest
from marshmallow import Schema, fields

import app.api.schemas as schemas_package
from app.api.schemas.base import CamelDict, CamelSchema, camelcase


class _Limits(CamelSchema):
    model_type = fields.String()
    cache_write_1h_price = fields.Integer()
    idempotency_key = fields.String(data_key="Idempotency-Key")
    limit = fields.Integer()


@dataclass
class _Record:
    model_type: str
    cache_write_1h_price: int
    idempotency_key: str
    limit: int


def test_a_snake_case_field_is_read_and_written_under_its_camel_case_name():
    loaded = _Limits().load({"modelType": "premium", "cacheWrite1hPrice": 3,
                             "Idempotency-Key": "k", "limit": 5})
    assert loaded == {"model_type": "premium", "cache_write_1h_price": 3,
                      "idempotency_key": "k", "limit": 5}
    assert _Limits().dump(_Record("basic", 1, "k", 2)) == {
        "modelType": "basic", "cacheWrite1hPrice": 1, "Idempotency-Key": "k", "limit": 2}


def test_camelcase_leaves_a_single_word_alone():
    assert camelcase("limit") == "limit"
    assert camelcase("reset_at") == "resetAt"


def test_a_dict_in_wire_form_is_refused_by_name_not_dumped_short_of_a_member():
    with pytest.raises(TypeError, match="'modelType' in wire form; a service answers "
                                        "'model_type'"):
        _Limits().dump({"modelType": "basic", "limit": 2})
    assert _Limits().dump({"model_type": "basic", "modelType": "stale"}) == {
        "modelType": "basic"}


def test_a_free_form_object_gets_camel_case_member_names_one_level_deep():
    class Report(CamelSchema):
        key = CamelDict()

    assert Report().dump({"key": {"is_active": True, "rate_limits": {"per_minute": 1}}}) == {
        "key": {"isActive": True, "rateLimits": {"per_minute": 1}}}


def _schema_classes():
    for module_info in pkgutil.iter_modules(schemas_package.__path__):
        module = importlib.import_module(f"{schemas_package.__name__}.{module_info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Schema)
                    and value.__module__ == module.__name__):
                yield value


def test_our_schemas_declare_no_camel_case_field_names():
    camel = re.compile(r"[A-Z]")
    declared = {f"{cls.__name__}.{name}" for cls in _schema_classes()
                for name in cls._declared_fields if camel.match(name)}
    assert declared == set()
