"""ProtocolRelay: the client-protocol routes (Anthropic Messages, OpenAI chat completions, the
Responses API).

They run chat-fast's checks and books (ChatService: the key's permissions and limits, the plan
quota hold, failover before the first byte, usage recorded once), and relay faithfully when
the client's protocol is the account provider's own: the body goes upstream as sent but for
`model` (the catalogue's upstream model) and the stream's usage option, with the client's
forwardable headers (app/providers/forwarding.py) and the account's credentials.

When the protocols differ (an OpenAI client on a Claude account, an Anthropic client on an
OpenAI-compatible one) the request is translated (chat/translation.py, app/protocols) into
the provider's own format and goes the same way; its answer comes back in the client's (a
Gemini account is reached the same way, in generateContent's format).

Some protocols are spoken by only some of a provider's accounts (native.SPOKEN_BY_SOME: the
Responses API by the OpenAI-compatible accounts flagged `supportsResponses`), which is known
once an account is leased: such a request carries both its own body (relayed as sent to an
account that speaks it) and its translation (for the others), and its answer's form follows
the account that took it.

Gemini's own clients (generateContent) name the model and streaming in the URL, not the body:
the route passes them, and the body is read for the books only (`_gemini_request`); it goes
to a Gemini account as sent, and translated (with them as members) to another provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from app.errors import BadRequest
from app.protocols import Untranslatable
from app.providers import estimate
from app.providers.anthropic import AnthropicClient
from app.providers.base import ChatRequest, ProviderError
from app.providers.forwarding import forwarded_headers
from app.services.accounts.scheduler import NoAccountAvailable
from app.services.chat.native import (
    PROTOCOL_PROVIDERS,
    SPOKEN_BY_SOME,
    AnthropicNative,
    GeminiNative,
    OpenAINative,
    ResponsesNative,
    speaks,
    wants_usage,
)
from app.services.chat.service import ChatAnswer, ChatService, RelayStream, check_model
from app.services.chat.session_key import RequestHeaders, headers_read, session_key
from app.services.chat.translation import (
    TranslatedFormat,
    Translation,
    translate_request,
    translates,
)
from app.services.chat.upstream import answer_for
from app.services.keys.clients import ClientRequest
from app.vocabulary import PROVIDERS

_NAMED = {"model", "messages", "system", "max_tokens", "temperature", "stream"}


def _request(model: str, body: dict, headers: dict, *, native: bool,
             stream: bool | None = None) -> ChatRequest:
    return ChatRequest(
        model=model, messages=body.get("messages") or [], system=body.get("system"),
        max_tokens=body.get("max_tokens"), temperature=body.get("temperature"),
        stream=bool(body.get("stream")) if stream is None else stream,
        extra={k: v for k, v in body.items() if k not in _NAMED},
        native=body if native else None, headers=headers if native else {})


def _gemini_request(model: str, body: dict, headers: dict, *, native: bool,
                    stream: bool | None = None) -> ChatRequest:
    """A generateContent body read for the books: its prompt (system instruction, contents,
    tools) for the estimate, `maxOutputTokens` for the window hold."""
    config = body.get("generationConfig") or {}
    system = body.get("systemInstruction")
    return ChatRequest(
        model=model, messages=[*([system] if system else []), *(body.get("contents") or [])],
        max_tokens=config.get("maxOutputTokens"), temperature=config.get("temperature"),
        stream=bool(stream), extra={"tools": body["tools"]} if body.get("tools") else {},
        native=body if native else None, headers=headers if native else {})


def _responses_request(model: str, body: dict, headers: dict, *, native: bool,
                       stream: bool | None = None) -> ChatRequest:
    """A Responses body read for the books: its prompt (instructions, input) for the estimate,
    `max_output_tokens` for the window hold."""
    prompt = body.get("input")
    return ChatRequest(model=model, messages=prompt if isinstance(prompt, list)
                       else [{"content": prompt}], system=body.get("instructions"),
                       max_tokens=body.get("max_output_tokens"),
                       stream=bool(body.get("stream")) if stream is None else stream,
                       extra={"tools": body.get("tools")}, headers=headers)


_READERS = {"gemini": _gemini_request, "responses": _responses_request}


# The header naming what a translation left out (thinking, where the client's format has no
# field for it): the one thing translation may drop.
DROPPED_HEADER = "x-relaygate-dropped"


def _reachable(protocol: str) -> tuple[str, ...]:
    return tuple(provider for provider in PROVIDERS
                 if provider in PROTOCOL_PROVIDERS[protocol] or translates(protocol, provider))


# client protocol -> the providers its route reaches (natively or translated)
_REACHES = {protocol: _reachable(protocol) for protocol in PROTOCOL_PROVIDERS}


@dataclass
class ProtocolAnswer(ChatAnswer):
    headers: dict[str, str] = field(default_factory=dict)


class ProtocolRelay:
    def __init__(self, *, chat: ChatService) -> None:
        self.chat = chat

    def relay(self, credential, protocol: str, body: dict, headers: RequestHeaders, *,
              model: str | None = None, stream: bool | None = None) -> ProtocolAnswer:
        """The whole request in the client's protocol: checks, upstream call, answer.

        `headers` are the client's own: a session id may be among them (sticky sessions), and
        only the forwardable ones (app/providers/forwarding.py) go upstream (to a provider of
        the client's protocol; a translated request forwards its User-Agent alone). `model`
        and `stream` are given by a protocol that names them outside the body (Gemini's URL)."""
        chat = self.chat
        model_name = body["model"] if model is None else model
        sent = headers_read(headers)
        ticket = chat.begin(credential, model_name, "fast", client_names=True,
                            providers=_REACHES[protocol],
                            client=ClientRequest.of(sent, body),
                            session=session_key(body, sent))
        native = ticket.provider in PROTOCOL_PROVIDERS[protocol]
        # Some of the provider's accounts may speak it: relayed as sent to those, translated
        # for the others.
        native_on_some = (protocol, ticket.provider) in SPOKEN_BY_SOME
        forwarded = forwarded_headers(sent.items())
        request = _READERS.get(protocol, _request)(model_name, body, forwarded, native=native,
                                                   stream=stream)
        if native_on_some:
            request.responses = body
        translation, accounts = None, None
        if not native and translates(protocol, ticket.provider):
            # A format naming the model and streaming in its URL gets them as members here.
            named = body if model is None else {**body, "model": model_name,
                                                 "stream": request.stream}
            request.native, translation, accounts = self._translate(ticket, protocol, named)
            if not native_on_some:
                # The client's protocol headers mean nothing to another provider; who it is
                # does.
                request.headers = {name: value for name, value in forwarded.items()
                                   if name == "user-agent"}
        call = chat.open(ticket, request, accounts=accounts)
        if speaks(protocol, ticket.provider, call.account):
            translation = None
        form = _form(protocol, body, translation)
        answer = ProtocolAnswer(request_id=ticket.request_id)
        if request.stream:
            answer.stream = RelayStream(chat, ticket, call, form)
            answer.media_type = form.media_type
        else:
            answer.body = chat.complete(ticket, call, form)
        if translation is not None and translation.dropped:
            answer.headers[DROPPED_HEADER] = ",".join(sorted(translation.dropped))
        return answer

    def _translate(self, ticket, protocol: str, body: dict) \
            -> tuple[dict | None, Translation | None, frozenset[str] | None]:
        """The provider's body and the translation (and no narrowing of the accounts). A
        request that cannot be translated may still go as sent to the accounts that speak its
        protocol (SPOKEN_BY_SOME: no body, no translation, their ids); with none it is a 400
        naming the member, and the ticket is given back whole (no request counted against the
        key's limits, no quota held)."""
        try:
            return (*translate_request(protocol, ticket.provider, body), None)
        except (ValueError, KeyError, TypeError, AttributeError) as refused:
            some = SPOKEN_BY_SOME.get((protocol, ticket.provider))
            accounts = self.chat.accounts_where(ticket, some) if some else None
            if accounts:
                return None, None, accounts
            ticket.admission.release(refused=True)
            self.chat.abandon(ticket)
            if isinstance(refused, Untranslatable):
                raise BadRequest(
                    f"`{refused.field}` cannot be translated for a {ticket.provider} model: "
                    f"{refused.why}.", code="UNTRANSLATABLE",
                    details={"param": refused.field}) from refused
            raise BadRequest(f"The request cannot be translated for a {ticket.provider} "
                             f"model: a member is missing or malformed ({refused!r}).",
                             code="UNTRANSLATABLE") from refused

    def count_tokens(self, credential, body: dict,
                     headers: RequestHeaders) -> tuple[dict, bool]:
        """A Claude account's own count of the prompt, or (when none can answer) the estimate;
        the flag says which. Nothing is billed or counted against the key's limits."""
        chat = self.chat
        key, model = chat.caller_and_model(credential, body["model"], "fast", client_names=True)
        check_model(model, body["model"])
        chat.key_limits.check_use(key, model, ClientRequest.of(headers, body, chat=False))
        request = _request(model.get("upstream_model") or body["model"], body,
                           forwarded_headers(headers.items()), native=True)
        if model["provider"] == "claude":
            counted = self._counted(request, chat.groups.scope(key, "claude"))
            if counted is not None:
                return counted, False
        return {"input_tokens": estimate.prompt_tokens(request)}, True

    def estimate_gemini_tokens(self, credential, model_name: str, body: dict,
                               headers: RequestHeaders) -> dict:
        """Gemini's countTokens (`contents`, or a whole `generateContentRequest`), estimated:
        `{"total_tokens"}`. The key must be allowed the model; nothing is billed or counted
        against its limits."""
        chat = self.chat
        key, model = chat.caller_and_model(credential, model_name, "fast", client_names=True)
        check_model(model, model_name)
        chat.key_limits.check_use(key, model, ClientRequest.of(headers, body, chat=False))
        asked = body.get("generateContentRequest") or body
        return {"total_tokens": estimate.prompt_tokens(
            _gemini_request(model_name, asked, {}, native=False))}

    def _counted(self, request: ChatRequest, only: frozenset[str] | None) -> dict | None:
        chat = self.chat
        try:
            lease = chat.scheduler.acquire("claude", request.model, cached=True, only=only)
        except NoAccountAvailable:
            return None
        try:
            # A claude account's client speaks the Messages API, count_tokens included.
            client = cast(AnthropicClient, chat.accounts.client_for(lease.account))
            return client.count_tokens(request)
        except ProviderError as error:
            if error.kind == "bad_request":
                raise answer_for(error) from error  # the prompt itself is refused
            chat.scheduler.report(lease.account.id, error)
            return None
        finally:
            lease.release()


def _form(protocol: str, body: dict, translation: Translation | None):
    """What the client receives: the provider's own answer, as it came or translated."""
    if translation is not None:
        return TranslatedFormat(translation)
    if protocol == "openai":
        return OpenAINative(client_wants_usage=wants_usage(body))
    if protocol == "gemini":
        return GeminiNative()
    if protocol == "responses":
        return ResponsesNative()
    return AnthropicNative()
