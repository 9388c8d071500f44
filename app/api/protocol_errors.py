"""Refusals on the client-protocol routes, in the client's own error shape.

The SDKs raise their typed errors from the status and Claude Code shows the message, so every
refusal there is Anthropic's `{"type": "error", "error": {...}}`, OpenAI's
`{"error": {"message", "type", "code", "param"}}` or Google's
`{"error": {"code": 400, "message", "status": "INVALID_ARGUMENT", "details"}}`; our own code
(e.g. PREMIUM_LIMIT_EXCEEDED) stays readable: in OpenAI's `code`, after the message in
Anthropic's, as the `reason` of a google.rpc.ErrorInfo detail in Google's. Statuses are the
REST API's (app/api/errors.py), which keeps its envelope, but for Google's shape, where a body
that does not validate is 400 INVALID_ARGUMENT as Google answers it (there is no 422 there).
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, jsonify
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from app import errors as domain
from app.api.errors import domain_status, http_error_parts
from app.providers import anthropic, gemini, openai

log = logging.getLogger(__name__)


def _anthropic(status: int, code: str, message: str, param: str | None) -> dict:
    return anthropic.error_body(status, f"{message} ({code})")


def _openai(status: int, code: str, message: str, param: str | None) -> dict:
    return openai.error_body(status, message, code, param)


def _gemini(status: int, code: str, message: str, param: str | None) -> dict:
    return gemini.error_body(status, message, code)


SHAPES = {"anthropic": _anthropic, "openai": _openai, "gemini": _gemini}
# A shape's own statuses where they differ from the REST API's.
_STATUSES = {_gemini: {422: 400}}


def _respond(shape, status: int, code: str, message: str, headers: dict, param=None):
    status = _STATUSES.get(shape, {}).get(status, status)
    response = jsonify(shape(status, code, message, param))
    response.status_code = status
    response.headers.update(headers)
    return response


def domain_error_in(protocol: str, error: domain.DomainError):
    """A domain error answered in `protocol`'s shape (for routes that pick it per request)."""
    status, headers = domain_status(error)
    return _respond(SHAPES[protocol], status, error.code, error.message, headers)


def register(blueprint: Blueprint, protocol: str) -> None:
    """Answer every error raised in `blueprint`'s views in `protocol`'s shape."""
    shape = SHAPES[protocol]

    def domain_error(error: domain.DomainError):
        status, headers = domain_status(error)
        return _respond(shape, status, error.code, error.message, headers,
                        error.details.get("param"))  # the member a refusal names, if one

    def http_error(error: HTTPException):
        status, code, message, details, headers = http_error_parts(error)
        if details:
            message = f"{message} " + ", ".join(f"{name}: {why}" for name, why in details.items())
        param = next(iter(details), None) if details else None
        return _respond(shape, status, code, message, headers, param)

    def unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        log.exception("unhandled error")
        return _respond(shape, 500, "INTERNAL_ERROR", "An internal error occurred.", {})

    blueprint.register_error_handler(domain.DomainError, domain_error)
    blueprint.register_error_handler(HTTPException, http_error)
    blueprint.register_error_handler(Exception, unexpected)


class _AnthropicErrorDetail(Schema):
    type = fields.String(required=True, metadata={"example": "invalid_request_error"})
    message = fields.String(required=True)


class AnthropicErrorSchema(Schema):
    """Anthropic's error object: what the anthropic SDK and Claude Code read."""

    type = fields.String(required=True, metadata={"example": "error"})
    error = fields.Nested(_AnthropicErrorDetail, required=True)


class _OpenAIErrorDetail(Schema):
    message = fields.String(required=True)
    type = fields.String(required=True, metadata={"example": "invalid_request_error"})
    code = fields.String(allow_none=True, metadata={"example": "VALIDATION_ERROR"})
    param = fields.String(allow_none=True)


class OpenAIErrorSchema(Schema):
    """OpenAI's error object: what the openai SDK reads."""

    error = fields.Nested(_OpenAIErrorDetail, required=True)


class _GeminiErrorInfo(Schema):
    type = fields.String(data_key="@type",
                         metadata={"example": "type.googleapis.com/google.rpc.ErrorInfo"})
    reason = fields.String(metadata={"example": "MODEL_NOT_FOUND"})
    domain = fields.String(metadata={"example": "relaygate"})


class _GeminiErrorDetail(Schema):
    code = fields.Integer(required=True, metadata={"example": 400})
    message = fields.String(required=True)
    status = fields.String(required=True, metadata={"example": "INVALID_ARGUMENT"})
    details = fields.List(fields.Nested(_GeminiErrorInfo))


class GeminiErrorSchema(Schema):
    """Google's error object: what google-genai and Gemini CLI read."""

    error = fields.Nested(_GeminiErrorDetail, required=True)


_SCHEMAS = {"anthropic": AnthropicErrorSchema, "openai": OpenAIErrorSchema,
            "gemini": GeminiErrorSchema}


# Gemini's custom methods (`/v1/models/{model}:generateContent` and the like).
_GEMINI_METHOD = re.compile(r"/models/.+:[A-Za-z]+$")


def protocol_of(path: str) -> tuple[str, ...]:
    """The error shapes a client-protocol path answers in (none for the REST API): /v1/models
    answers in Anthropic's when the request carries `anthropic-version`, else OpenAI's."""
    if path.startswith(("/v1/responses", "/openai/")):
        return ("openai",)
    if path.startswith(("/v1beta/", "/gemini/")) or _GEMINI_METHOD.search(path):
        return ("gemini",)
    tail = path.split("/v1/", 1)[1] if "/v1/" in path else None
    if tail is None or not path.startswith(("/v1/", "/api/v1/", "/claude/v1/")):
        return ()
    if tail.startswith("messages"):
        return ("anthropic",)
    if tail.startswith("chat/"):
        return ("openai",)
    return ("openai", "anthropic")


def document(api) -> None:
    """Give the client-protocol operations their own error schemas in the OpenAPI document
    (flask-smorest documents our envelope for every blueprint's errors)."""
    for name, schema in _SCHEMAS.items():
        api.spec.components.schema(f"{name.capitalize()}Error", schema=schema)
    refs = {name: {"$ref": f"#/components/schemas/{name.capitalize()}Error"} for name in _SCHEMAS}
    for path, operations in api.spec._paths.items():  # apispec keeps no public accessor
        shapes = protocol_of(path)
        if not shapes:
            continue
        shape = refs[shapes[0]] if len(shapes) == 1 else {"oneOf": [refs[s] for s in shapes]}
        error = {"description": f"An error in {' or '.join(shapes)}'s own shape.",
                 "content": {"application/json": {"schema": shape}}}
        for method, operation in operations.items():
            if method == "parameters":  # the path's own (its {model}), not an operation
                continue
            responses = operation.get("responses", {})
            for status in list(responses):
                if status == "default" or int(status) >= 400:
                    responses[status] = error
