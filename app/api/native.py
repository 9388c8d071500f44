"""The HTTP answer of a client-protocol route: the upstream's JSON or event stream."""

from __future__ import annotations

import json

from flask import Response

from app.api.ai import STREAM_HEADERS

# The id Relaygate records the request's usage under; the body keeps the upstream's own ids.
REQUEST_ID_HEADER = "x-relaygate-request-id"


def native_answer(result) -> Response:
    """`result` is the relay's ProtocolAnswer: its own headers (what a translation dropped)
    go out beside the request id."""
    headers = {REQUEST_ID_HEADER: result.request_id} if result.request_id else {}
    headers.update(result.headers)
    if result.stream is not None:
        return Response(result.stream, mimetype=result.media_type,
                        headers={**STREAM_HEADERS, **headers})
    # Not jsonify: it would sort the members; the client gets them as the upstream sent them.
    return Response(json.dumps(result.body, ensure_ascii=False, default=str),
                    mimetype="application/json", headers=headers)
