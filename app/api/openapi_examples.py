"""Request-body examples in the OpenAPI document: each body schema's own `example`.

A schema declares, beside its fields, `example = {...}`: a body that succeeds against a fresh
`relaygate demo` once the ids it names exist. This plugin copies it into the operation's
`requestBody` media type, which is what Swagger UI's "Try it out" fills the body with. An
`example` or `examples` given to `@blp.arguments` wins over the schema's.
"""

from __future__ import annotations

from apispec.ext.marshmallow import MarshmallowPlugin


class SchemaExamplesPlugin(MarshmallowPlugin):
    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            content = operation.get("requestBody", {}).get("content", {})
            for media_type in content.values():
                example = getattr(media_type.get("schema"), "example", None)
                if example is not None and "examples" not in media_type:
                    media_type.setdefault("example", example)
        super().operation_helper(path=path, operations=operations, **kwargs)
