"""Wire protocols as pure functions: each format's request, answer and stream events to and from
one neutral form (neutral.py). No I/O, and nothing of Relaygate's outside this package.

A format module (openai_chat.py, anthropic_messages.py, the gemini_generate package) offers
the same six things:
`request_to_neutral` / `request_from_neutral`, `answer_to_neutral` / `answer_from_neutral`,
a `StreamDecoder` (the provider's SSE events in, neutral events out) and a `StreamEncoder`
(neutral events in, the client's SSE frames out, as `(event name, data)` pairs); a decoder's
`feed` takes an event's JSON already parsed too, when its caller has read it.
openai_responses.py is a client format only (request in; answer and events out): an upstream
that speaks the Responses API gets the client's body as sent.
"""

from __future__ import annotations


class Untranslatable(ValueError):
    """A member of the client's request the target format cannot carry; `field` names it."""

    def __init__(self, field: str, why: str = ""):
        super().__init__(f"{field}: {why}" if why else field)
        self.field, self.why = field, why
