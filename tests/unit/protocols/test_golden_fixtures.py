"""Golden fixtures, one per direction and kind (request, JSON answer, stream): a client's
request becomes the provider's, the provider's answer and events become the client's, exactly
as the JSON files under fixtures/ say (tool calls with streamed arguments, images, stop
reasons, cache usage counted once, thinking carried or left out)."""

from __future__ import annotations

import json

import pytest

from tests.unit.protocols.golden import fixtures, translate


@pytest.mark.parametrize("path", fixtures(), ids=lambda path: path.stem)
def test_the_translation_is_the_golden_one(path):
    fixture = json.loads(path.read_text())
    assert translate(fixture) == fixture["out"]


@pytest.mark.parametrize("path", [path for path in fixtures() if path.stem.startswith("stream")],
                         ids=lambda path: path.stem)
def test_a_stream_decodes_the_same_from_the_json_its_provider_client_already_parsed(path):
    fixture = json.loads(path.read_text())
    assert translate(fixture, parsed=True) == fixture["out"]


def test_every_direction_has_a_request_an_answer_and_a_stream_fixture():
    kinds = {(f["client"], f["provider"], f["kind"])
             for f in (json.loads(path.read_text()) for path in fixtures())}
    assert kinds == {(client, provider, kind)
                     for client, provider in (("openai", "anthropic"), ("anthropic", "openai"),
                                              ("openai", "gemini"), ("gemini", "openai"),
                                              ("anthropic", "gemini"), ("gemini", "anthropic"),
                                              ("responses", "openai"),
                                              ("responses", "anthropic"))
                     for kind in ("request", "answer", "stream")}
