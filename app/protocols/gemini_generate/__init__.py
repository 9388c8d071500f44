"""Gemini generateContent: request, answer and stream chunks to and from the neutral form.

A Gemini client's request is read in request_in.py, the body a Gemini account gets is written
in request_out.py, answers and usage are answer.py's, stream chunks stream.py's.

Tool calls: Gemini's function calls carry no id (a `functionResponse` answers the call of its
name), so ids are made reversibly: a call in a Gemini request or answer keeps the `id` it has,
else gets one from its place (`call_<turn>_<part>`, or the answer's `responseId` and number);
a response takes the oldest unanswered call of its name. Going to Gemini the ids are left out
and each tool result is named after the call with its id, so a client's own ids survive the
round trip. Usage: `promptTokenCount` includes `cachedContentTokenCount` (the neutral input
is the prompt less the cache) and the thoughts (`thoughtsTokenCount`) are billed as output, as
app/providers/gemini.py's `gemini_usage` counts them. Thinking: `thought: true` parts and the
`thoughtSignature` a part may carry (a signature on a call or text becomes an empty signed
thinking part before it, so a client with a field for thinking can hand it back). Gemini-only
members (`safetySettings`, `cachedContent`, server tools, `topK`...) are refused by name, and
so is what Gemini cannot take (one call at a time, more than five stop sequences).
"""

from __future__ import annotations

from app.protocols.gemini_generate.answer import (
    REDACTED,
    answer_from_neutral,
    answer_to_neutral,
    usage_from_neutral,
    usage_to_neutral,
)
from app.protocols.gemini_generate.request_in import DYNAMIC_BUDGET, request_to_neutral
from app.protocols.gemini_generate.request_out import (
    MAX_STOP_SEQUENCES,
    leaves_out,
    request_from_neutral,
)
from app.protocols.gemini_generate.stream import StreamDecoder, StreamEncoder

CARRIES_THINKING = True

__all__ = ["CARRIES_THINKING", "DYNAMIC_BUDGET", "MAX_STOP_SEQUENCES", "REDACTED",
           "StreamDecoder", "StreamEncoder", "answer_from_neutral", "answer_to_neutral",
           "leaves_out", "request_from_neutral", "request_to_neutral", "usage_from_neutral",
           "usage_to_neutral"]
