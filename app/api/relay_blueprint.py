"""The relay routes' blueprint: their JSON body is parsed once per request, not twice.

webargs parses the body for `@blp.arguments` and the view then asks `request.get_json()` for
the body as sent, which Flask would parse again (a conversation of many turns: a good part of a
millisecond). Here the value webargs parsed is also the one `get_json` answers. webargs' rules
stay whole (its mimetype test, UTF-8 only, its 400 on a bad body), and a request Flask would not
call JSON keeps Flask's own answer.
"""

from __future__ import annotations

import typing

import flask
from flask_smorest import Blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request


class BodyOnceParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> typing.Any:
        if not is_json_request(req):
            return core.missing
        body = core.parse_json(req.get_data(cache=True))
        if req.is_json:
            # Flask's get_json cache (werkzeug.Request), as its own successful parse fills it:
            # webargs parsed these very bytes with the same json module.
            req._cached_json = (body, body)
        return body


class RelayBlueprint(Blueprint):
    """A flask-smorest Blueprint whose `arguments` share the request's parsed JSON body."""

    ARGUMENTS_PARSER = BodyOnceParser()
