"""The production worker's header rule: gunicorn drops header names with an underscore, but
Codex CLI's `session_id` and `conversation_id` arrive (hyphenated) for sticky sessions, and no
other name does."""

from gunicorn.config import Config
from gunicorn.http.parser import RequestParser

from app.serving.worker import SessionHeaders


def parsed(raw: bytes) -> dict:
    parser = RequestParser(Config(), [raw], ("127.0.0.1", 1))
    parser.mesg_class = SessionHeaders
    return dict(next(parser).headers)


def test_codexs_session_headers_arrive_and_other_underscored_names_are_still_dropped():
    headers = parsed(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nsession_id: s-1\r\n"
                     b"conversation_id: c-1\r\nX_Forwarded_For: 10.0.0.9\r\n"
                     b"Content-Length: 0\r\n\r\n")
    assert headers == {"HOST": "x", "SESSION-ID": "s-1", "CONVERSATION-ID": "c-1",
                       "CONTENT-LENGTH": "0"}
