"""The relay routes' framework shortcuts answer as Flask and webargs would: the JSON body parsed
once for the arguments and the view, and Flask's cookie session opened lazily."""

from flask import Flask, request, session
from flask.views import MethodView
from flask_smorest import Api
from marshmallow import INCLUDE, Schema, fields

from app.api.cookie_sessions import CookieSessions
from app.api.relay_blueprint import RelayBlueprint


class BodySchema(Schema):
    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True)


def relay_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "a-test-secret-key"
    app.session_interface = CookieSessions()
    blp = RelayBlueprint("relay", __name__)

    @blp.route("/relay")
    class Relay(MethodView):
        @blp.arguments(BodySchema(), location="json")
        def post(self, body):
            raw = request.get_json()
            return {"same": raw is request.get_json(), "raw": raw, "loaded": body}

    @app.post("/remember")
    def remember():
        session["seen"] = request.get_json()["value"]
        return {}

    @app.get("/recall")
    def recall():
        return {"seen": session.get("seen")}

    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    Api(app).register_blueprint(blp)
    return app


def test_the_view_reads_the_body_webargs_parsed_as_sent_and_bad_bodies_answer_as_before():
    client = relay_app().test_client()
    answer = client.post("/relay", json={"model": "m", "extra": [1, 2.5, None]})
    assert answer.status_code == 200
    assert answer.json == {"same": True, "raw": {"model": "m", "extra": [1, 2.5, None]},
                           "loaded": {"model": "m", "extra": [1, 2.5, None]}}
    broken = client.post("/relay", data=b'{"model": ', content_type="application/json")
    assert broken.status_code == 400
    assert broken.json["errors"] == {"json": ["Invalid JSON body."]}
    invalid = client.post("/relay", json={"model": 7})
    assert invalid.status_code == 422
    assert invalid.json["errors"] == {"json": {"model": ["Not a valid string."]}}


def test_the_cookie_session_still_keeps_what_a_request_stores():
    client = relay_app().test_client()
    assert client.get("/recall").json == {"seen": None}
    client.post("/remember", json={"value": "kept"})
    assert client.get("/recall").json == {"seen": "kept"}
