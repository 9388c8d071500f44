"""ProtocolRelay: the client-protocol routes (Anthropic Messages, OpenAI chat completions).

They run chat-fast's checks and books (ChatService: the key's permissions and limits, the plan
quota hold, failover before the first byte, usage recorded once), and relay faithfully when
the client's protocol is the account provider's own: the body goes upstream as sent but for
`model` (the catalogue's upstream model) and the stream's usage option, with the client's
forwardable headers (app/providers/forwarding.py) and the account's credentials.

An OpenAI client asking for another provider's model keeps today's text-only translation
(wire.OpenAIFormat); an Anthropic client asking for a non-Claude model is refused until the
translation issue lands.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.providers import estimate
from app.providers.base import ChatRequest, ProviderError
from app.providers.forwarding import forwarded_headers
from app.services.accounts.scheduler import NoAccountAvailable
from app.services.chat.native import PROTOCOL_PROVIDERS, AnthropicNative, OpenAINative, wants_usage
from app.services.chat.service import ChatAnswer, ChatService, RelayStream, check_model
from app.services.chat.session_key import session_key
from app.services.chat.upstream import answer_for
from app.services.chat.wire import OpenAIFormat

_NAMED = {"model", "messages", "system", "max_tokens", "temperature", "stream"}


def _request(model: str, body: dict, headers: dict, *, native: bool) -> ChatRequest:
    return ChatRequest(
        model=model, messages=body.get("messages") or [], system=body.get("system"),
        max_tokens=body.get("max_tokens"), temperature=body.get("temperature"),
        stream=bool(body.get("stream")),
        extra={k: v for k, v in body.items() if k not in _NAMED},
        native=body if native else None, headers=headers if native else {})


class ProtocolRelay:
    def __init__(self, *, chat: ChatService):
        self.chat = chat

    def relay(self, credential, protocol: str, body: dict,
              headers: Mapping[str, str]) -> ChatAnswer:
        """The whole request in the client's protocol: checks, upstream call, answer.

        `headers` are the client's own: a session id may be among them (sticky sessions), and
        only the forwardable ones (app/providers/forwarding.py) go upstream."""
        chat = self.chat
        # OpenAI's format keeps its text-only translation from other providers; Anthropic's
        # has none yet.
        only = None if protocol == "openai" else PROTOCOL_PROVIDERS[protocol]
        ticket = chat.begin(credential, body["model"], "fast", client_names=True, providers=only)
        ticket.session = session_key(body, headers)
        native = ticket.provider in PROTOCOL_PROVIDERS[protocol]
        request = _request(body["model"], body, forwarded_headers(headers.items()),
                           native=native)
        call = chat.open(ticket, request)
        if not native:
            form = OpenAIFormat(ticket.model, ticket.request_id)
        elif protocol == "openai":
            form = OpenAINative(client_wants_usage=wants_usage(body))
        else:
            form = AnthropicNative()
        if request.stream:
            return ChatAnswer(stream=RelayStream(chat, ticket, call, form),
                              media_type=form.media_type, request_id=ticket.request_id)
        return ChatAnswer(body=chat.complete(ticket, call, form), request_id=ticket.request_id)

    def count_tokens(self, credential, body: dict,
                     headers: Mapping[str, str]) -> tuple[dict, bool]:
        """A Claude account's own count of the prompt, or (when none can answer) the estimate;
        the flag says which. Nothing is billed or counted against the key's limits."""
        chat = self.chat
        key, model = chat.caller_and_model(credential, body["model"], "fast", client_names=True)
        check_model(model, body["model"])
        chat.key_limits.check_provider(key, model["provider"])
        request = _request(model.get("upstreamModel") or body["model"], body,
                           forwarded_headers(headers.items()), native=True)
        if model["provider"] == "claude":
            counted = self._counted(request)
            if counted is not None:
                return counted, False
        return {"input_tokens": estimate.prompt_tokens(request)}, True

    def _counted(self, request: ChatRequest) -> dict | None:
        chat = self.chat
        try:
            lease = chat.scheduler.acquire("claude", request.model, cached=True)
        except NoAccountAvailable:
            return None
        try:
            return chat.accounts.client_for(lease.account).count_tokens(request)
        except ProviderError as error:
            if error.kind == "bad_request":
                raise answer_for(error) from error  # the prompt itself is refused
            chat.scheduler.report(lease.account.id, error)
            return None
        finally:
            lease.release()
