"""Schemas of the storage strategies (StorageStrategyInterface)."""

from __future__ import annotations

from marshmallow import fields, post_load, validate

from app.api.schemas.base import CamelSchema
from app.api.schemas.common import BodySchema
from app.services.storage.strategies import (
    PRIMARY_STORAGES,
    READ_STRATEGIES,
    WRITE_STRATEGIES,
    StorageConfig,
)


class StorageConfigSchema(CamelSchema):
    primary_storage = fields.String(metadata={"enum": list(PRIMARY_STORAGES)})
    enable_cache = fields.Boolean()
    cache_ttl = fields.Integer(data_key="cacheTTL",
                               metadata={"description": "Seconds a cached read is kept."})
    read_strategy = fields.String(metadata={"enum": list(READ_STRATEGIES)})
    write_strategy = fields.String(metadata={"enum": list(WRITE_STRATEGIES)})


class StorageSwitchSchema(BodySchema):
    example = {"primaryStorage": "postgres", "enableCache": False, "cacheTTL": 300,
               "readStrategy": "database_first", "writeStrategy": "write_through"}

    primary_storage = fields.String(required=True,
                                    validate=validate.OneOf(PRIMARY_STORAGES))
    enable_cache = fields.Boolean(required=True)
    cache_ttl = fields.Integer(data_key="cacheTTL", required=True,
                               validate=validate.Range(1, 7 * 24 * 3600))
    read_strategy = fields.String(required=True,
                                  validate=validate.OneOf(READ_STRATEGIES))
    write_strategy = fields.String(required=True,
                                   validate=validate.OneOf(WRITE_STRATEGIES))

    @post_load
    def to_config(self, data, **kwargs) -> StorageConfig:
        return StorageConfig(**data)


class StorageSwitchedSchema(CamelSchema):
    previous_strategy = fields.Nested(StorageConfigSchema)
    current_strategy = fields.Nested(StorageConfigSchema)


class PoolStatusSchema(CamelSchema):
    total = fields.Integer(allow_none=True, metadata={"description": "Open connections."})
    idle = fields.Integer(allow_none=True)
    waiting = fields.Integer(allow_none=True, metadata={
        "description": "Callers of this process waiting for a connection."})
    in_use = fields.Integer(allow_none=True)
    size = fields.Integer(allow_none=True)
    max_overflow = fields.Integer(allow_none=True)


class DatabaseHealthSchema(CamelSchema):
    connected = fields.Boolean()
    latency = fields.Float(allow_none=True, metadata={"description": "Milliseconds."})
    dialect = fields.String(metadata={"example": "postgresql"})
    pool_status = fields.Nested(PoolStatusSchema)
    error = fields.String()


class RedisMemorySchema(CamelSchema):
    used = fields.Integer(metadata={"description": "Bytes."})
    max = fields.Integer(allow_none=True, metadata={"description": "Bytes; null: no limit."})
    policy = fields.String(allow_none=True)


class RedisHealthSchema(CamelSchema):
    configured = fields.Boolean()
    connected = fields.Boolean()
    latency = fields.Float(allow_none=True, metadata={"description": "Milliseconds."})
    memory = fields.Nested(RedisMemorySchema, allow_none=True)
    error = fields.String()


class StorageHealthSchema(CamelSchema):
    postgres = fields.Nested(DatabaseHealthSchema)
    redis = fields.Nested(RedisHealthSchema)
