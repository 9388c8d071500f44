"""A local stand-in for the OpenAI, Anthropic and Gemini APIs and an OAuth token endpoint."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import secrets
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SENTENCE = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
# What POST /__stub/behaviour accepts; a behaviour applies to requests carrying `credential`
# (API key, bearer token, or the refresh token at /oauth/token), or to all when it is omitted.
#   status: answer this HTTP status in the provider's error format, before any byte of a reply
#   times: apply to this many requests, then forget the behaviour (default: forever)
#   retryAfter: seconds, sent as retry-after plus the provider's own reset headers or RetryInfo
#   headers: extra response headers, verbatim;  message: the error message to send
#   delay: seconds before the first byte;  tokenDelay: seconds before each token
#   tokens: reply length (max_tokens in the request still caps it)
#   failAfterTokens: stream n tokens, then an error event (kind from `status`, default 500)
#   dropAfterTokens: stream n tokens, then hang up without ending the body
#   cacheReadTokens, cacheWriteTokens: cache usage to report;  expiresIn: OAuth token lifetime
#   noUsage: report no usage at all (as some OpenAI-compatible upstreams do)
#   toolCall: answer with a call of the tool of this name, the reply words as its arguments
#   jsonArguments: (OpenAI) with toolCall, the arguments are the JSON {"q": reply}, streamed a
#     word a chunk (as Anthropic's tool input is)
#   textBeforeTool: (Anthropic, Gemini) with toolCall, answer the reply text, then the call
#     (its input {"q": reply}: Anthropic streams it as input_json_delta pieces, Gemini sends a
#     functionCall part whole, its args {"q": reply})
#   thinking: open the answer with its thinking of this text and a signature (Anthropic: a
#     thinking block; Gemini: a thought part, its words reported as thoughtsTokenCount, and
#     the signature on the function call too)
#   cacheWrite1hTokens: (Anthropic) the part of cacheWriteTokens written for an hour, reported
#     in usage.cache_creation beside the 5-minute part
# Every request's headers and JSON body are in the log (GET /__stub/requests, .requests()).
# A generateContent body that is no valid Gemini request (unknown members, roles other than
# user/model, parts without exactly one kind of data...) gets Gemini's 400 INVALID_ARGUMENT.
# POST .../v1/responses answers in OpenAI's Responses API (ResponsesReply): text, or with toolCall
# a function call, as one `response` or its SSE events; usage as Responses counts it.
# POST .../v1/messages/count_tokens answers {"input_tokens": words of the prompt}.
# OpenAI replies honour `n` and Gemini's `candidateCount` (identical choices, all counted in
# the usage); OpenAI reports a stream's usage only when the request's
# stream_options.include_usage is true, as OpenAI does.
#   maxInputTokens: a prompt of more tokens gets the provider's "request too large" answer
#     (OpenAI: 429 type tokens; Anthropic: 413 request_too_large; Gemini: 400), or `status`
#   errorType: the error type (OpenAI `type`, Anthropic `error.type`) of an error answer
BEHAVIOUR_KEYS = {
    "credential", "refreshToken", "status", "times", "retryAfter", "headers", "message", "delay",
    "tokenDelay", "tokens", "failAfterTokens", "dropAfterTokens", "cacheReadTokens",
    "cacheWriteTokens", "expiresIn", "noUsage", "toolCall", "textBeforeTool", "thinking",
    "cacheWrite1hTokens", "maxInputTokens", "errorType", "jsonArguments",
}  # fmt: skip
SIGNATURE = "c3R1Yi1zaWduYXR1cmU="  # what the stub signs a thinking block with
_GEMINI_PATH = re.compile(r"/models/([^/:]+):(generateContent|streamGenerateContent)$")
# OpenAI names the error class in `type` and the precise reason in `code`.
_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ERROR_NAMES = {  # status -> (Anthropic error type, Gemini status)
    400: ("invalid_request_error", "INVALID_ARGUMENT"),
    401: ("authentication_error", "UNAUTHENTICATED"),
    403: ("permission_error", "PERMISSION_DENIED"),
    404: ("not_found_error", "NOT_FOUND"),
    429: ("rate_limit_error", "RESOURCE_EXHAUSTED"),
    529: ("overloaded_error", "UNAVAILABLE"),
}


def reply_tokens(count: int) -> list[str]:
    """The deterministic reply: words of SENTENCE, repeated as needed, one word per token."""
    return [("" if i == 0 else " ") + SENTENCE[i % len(SENTENCE)] for i in range(count)]


def count_words(value: Any) -> int:
    """The stub's token count for a prompt: every whitespace-separated word in any text field."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(item) for item in value)
    if isinstance(value, dict):
        return sum(count_words(value.get(key)) for key in ("content", "text", "parts", "system"))
    return 0


class Reply:
    """One answer being produced in some wire format: its model, tokens and usage to report."""

    # The SSE event name an error travels under mid-stream, for formats that name events.
    error_event: str | None = None

    def __init__(self, model: str, body: dict, behaviour: dict, default_tokens: int) -> None:
        self.model = model
        prompt = body.get("contents") or body.get("messages")
        system = body.get("system") or body.get("systemInstruction")
        self.input_tokens = count_words(prompt) + count_words(system)
        self.cache_read = behaviour.get("cacheReadTokens", 0)
        self.cache_write = behaviour.get("cacheWriteTokens", 0)
        count = behaviour.get("tokens", default_tokens)
        limit = self.token_limit(body)
        self.tokens = reply_tokens(min(count, limit) if limit else count)
        self.reports_usage = not behaviour.get("noUsage")
        self.tool = behaviour.get("toolCall")

    def token_limit(self, body: dict) -> int | None:
        return body.get("max_tokens")

    def usage(self, sent: int) -> dict:
        raise NotImplementedError

    def complete(self) -> dict:
        raise NotImplementedError

    def opening(self) -> list[tuple[str | None, Any]]:
        return []

    def token(self, index: int) -> tuple[str | None, Any]:
        raise NotImplementedError

    def token_events(self, index: int) -> list[tuple[str | None, Any]]:
        """The events carrying token `index` (one per choice where a format has several)."""
        return [self.token(index)]

    def closing(self) -> list[tuple[str | None, Any]]:
        return []

    @staticmethod
    def error_body(status: int, message: str, retry_after: float | None) -> dict:
        raise NotImplementedError

    @staticmethod
    def rate_limit_headers(retry_after: float) -> dict[str, str]:
        return {"retry-after": f"{retry_after:g}"}

    # (status, error type, message) of the provider's answer to a prompt over its limit.
    def too_large(self, limit: int) -> tuple[int, str, str]:
        return 400, "invalid_request_error", (
            f"The input token count ({self.input_tokens}) exceeds the maximum number of tokens "
            f"allowed ({limit}).")


class OpenAIReply(Reply):
    @staticmethod
    def error_body(status: int, message: str, retry_after: float | None) -> dict:
        kind, code = _OPENAI_ERRORS.get(status, ("server_error", None))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    @staticmethod
    def rate_limit_headers(retry_after: float) -> dict[str, str]:
        return {
            "retry-after": f"{retry_after:g}",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{retry_after:g}s",
        }

    def __init__(self, model: str, body: dict, behaviour: dict, default_tokens: int) -> None:
        super().__init__(model, body, behaviour, default_tokens)
        self.choices = body.get("n") or 1
        self.include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.json_arguments = bool(behaviour.get("jsonArguments"))

    def token_limit(self, body: dict) -> int | None:
        return body.get("max_completion_tokens") or body.get("max_tokens")

    def too_large(self, limit: int) -> tuple[int, str, str]:
        return 429, "tokens", (
            f"Request too large for {self.model} on tokens per min (TPM): Limit {limit}, "
            f"Requested {self.input_tokens}. The input or output tokens must be reduced in "
            "order to run successfully.")

    def usage(self, sent: int) -> dict:
        # OpenAI counts cached tokens inside prompt_tokens, and every choice's tokens.
        prompt = self.input_tokens + self.cache_read
        completion = sent * self.choices
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": self.cache_read},
        }

    def complete(self) -> dict:
        answer = "".join(self.tokens)
        message: dict = {"role": "assistant", "content": answer}
        if self.tool:
            arguments = "".join(map(self.argument_piece, range(len(self.tokens))))
            message = {"role": "assistant", "content": None,
                       "tool_calls": [self.tool_call(arguments)]}
        finish = "tool_calls" if self.tool else "stop"
        body = {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": index, "message": message, "finish_reason": finish}
                        for index in range(self.choices)],
        }
        if self.reports_usage:
            body["usage"] = self.usage(len(self.tokens))
        return body

    def argument_piece(self, index: int) -> str:
        """Token `index` of the tool call's arguments: the word, or its part of {"q": reply}."""
        if not self.json_arguments:
            return self.tokens[index]
        piece = json.dumps(self.tokens[index])[1:-1]
        opening = '{"q": "' if index == 0 else ""
        return opening + piece + ('"}' if index == len(self.tokens) - 1 else "")

    def tool_call(self, arguments: str) -> dict:
        return {"id": "call_stub", "type": "function",
                "function": {"name": self.tool, "arguments": arguments}}

    def opening(self) -> list[tuple[str | None, Any]]:
        delta = {"role": "assistant", "content": ""}
        if self.tool:
            delta = {"role": "assistant", "content": None,
                     "tool_calls": [{"index": 0, **self.tool_call("")}]}
        return [(None, self.chunk(delta, index=index)) for index in range(self.choices)]

    def token(self, index: int) -> tuple[str | None, Any]:
        return self.token_events(index)[0]

    def token_events(self, index: int) -> list[tuple[str | None, Any]]:
        delta: dict = {"content": self.tokens[index]}
        if self.tool:
            delta = {"tool_calls": [{"index": 0,
                                     "function": {"arguments": self.argument_piece(index)}}]}
        return [(None, self.chunk(delta, index=choice)) for choice in range(self.choices)]

    def closing(self) -> list[tuple[str | None, Any]]:
        finish = "tool_calls" if self.tool else "stop"
        events = [(None, self.chunk({}, finish, index=index)) for index in range(self.choices)]
        if self.include_usage and self.reports_usage:
            events.append((None, {**self.chunk(None), "usage": self.usage(len(self.tokens))}))
        return [*events, (None, "[DONE]")]

    def chunk(self, delta: dict | None, finish: str | None = None, index: int = 0) -> dict:
        choices = [] if delta is None else [
            {"index": index, "delta": delta, "finish_reason": finish}]
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "model": self.model,
            "choices": choices,
            "usage": None,
        }


class AnthropicReply(Reply):
    error_event = "error"

    def __init__(self, model: str, body: dict, behaviour: dict, default_tokens: int) -> None:
        super().__init__(model, body, behaviour, default_tokens)
        self.thinking = behaviour.get("thinking")
        self.cache_write_1h = behaviour.get("cacheWrite1hTokens")
        # The reply words go out as text, unless the answer is a tool call alone.
        self.says_text = not self.tool or bool(behaviour.get("textBeforeTool"))
        self.text_index = 1 if self.thinking else 0

    def too_large(self, limit: int) -> tuple[int, str, str]:
        return 413, "request_too_large", "Request exceeds the maximum allowed number of bytes."

    @staticmethod
    def error_body(status: int, message: str, retry_after: float | None) -> dict:
        kind = _ERROR_NAMES.get(status, ("api_error",))[0]
        return {"type": "error", "error": {"type": kind, "message": message}}

    @staticmethod
    def rate_limit_headers(retry_after: float) -> dict[str, str]:
        reset = datetime.now(UTC) + timedelta(seconds=retry_after)
        return {
            "retry-after": f"{retry_after:g}",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": reset.isoformat().replace("+00:00", "Z"),
        }

    def usage(self, sent: int) -> dict:
        usage = {
            "input_tokens": self.input_tokens,
            "output_tokens": sent,
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cache_read,
        }
        if self.cache_write_1h is not None:
            usage["cache_creation"] = {
                "ephemeral_5m_input_tokens": self.cache_write - self.cache_write_1h,
                "ephemeral_1h_input_tokens": self.cache_write_1h,
            }
        return usage

    def tool_input(self) -> dict:
        return {"q": "".join(self.tokens)}

    def complete(self) -> dict:
        answer = "".join(self.tokens)
        blocks: list[dict] = []
        if self.thinking:
            blocks.append({"type": "thinking", "thinking": self.thinking, "signature": SIGNATURE})
        if self.says_text:
            blocks.append({"type": "text", "text": answer})
        if self.tool:
            blocks.append({"type": "tool_use", "id": "toolu_stub", "name": self.tool,
                           "input": self.tool_input()})
        body = {**self.message(blocks), "stop_reason": "tool_use" if self.tool else "end_turn"}
        if self.reports_usage:
            body["usage"] = self.usage(len(self.tokens))
        return body

    def opening(self) -> list[tuple[str | None, Any]]:
        message = self.message([])
        if self.reports_usage:
            # Anthropic's first count is provisional: 1 output token, whatever follows.
            message["usage"] = self.usage(1)
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": message})]
        if self.thinking:
            events.append(self.block_start(0, {"type": "thinking", "thinking": ""}))
            for index, word in enumerate(self.thinking.split(" ")):
                piece = word if index == 0 else " " + word
                events.append(self.block_delta(0, {"type": "thinking_delta", "thinking": piece}))
            events.append(self.block_delta(0, {"type": "signature_delta",
                                               "signature": SIGNATURE}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        block = {"type": "text", "text": ""}
        if not self.says_text:
            block = {"type": "tool_use", "id": "toolu_stub", "name": self.tool, "input": {}}
        return [*events, self.block_start(self.text_index, block), ("ping", {"type": "ping"})]

    def token(self, index: int) -> tuple[str | None, Any]:
        delta = {"type": "text_delta", "text": self.tokens[index]}
        if not self.says_text:
            delta = {"type": "input_json_delta", "partial_json": self.tokens[index]}
        return self.block_delta(self.text_index, delta)

    def closing(self) -> list[tuple[str | None, Any]]:
        events = [("content_block_stop",
                   {"type": "content_block_stop", "index": self.text_index})]
        if self.tool and self.says_text:
            index, arguments = self.text_index + 1, json.dumps(self.tool_input())
            half = len(arguments) // 2
            events += [
                self.block_start(index, {"type": "tool_use", "id": "toolu_stub",
                                         "name": self.tool, "input": {}}),
                self.block_delta(index, {"type": "input_json_delta",
                                         "partial_json": arguments[:half]}),
                self.block_delta(index, {"type": "input_json_delta",
                                         "partial_json": arguments[half:]}),
                ("content_block_stop", {"type": "content_block_stop", "index": index}),
            ]
        delta = {"stop_reason": "tool_use" if self.tool else "end_turn", "stop_sequence": None}
        message_delta: dict = {"type": "message_delta", "delta": delta}
        if self.reports_usage:
            message_delta["usage"] = {"output_tokens": len(self.tokens)}
        return [*events, ("message_delta", message_delta),
                ("message_stop", {"type": "message_stop"})]

    @staticmethod
    def block_start(index: int, block: dict) -> tuple[str, dict]:
        return "content_block_start", {"type": "content_block_start", "index": index,
                                       "content_block": block}

    @staticmethod
    def block_delta(index: int, delta: dict) -> tuple[str, dict]:
        return "content_block_delta", {"type": "content_block_delta", "index": index,
                                       "delta": delta}

    def message(self, content: list) -> dict:
        return {
            "id": "msg_stub",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": None,
            "stop_sequence": None,
        }


class GeminiReply(Reply):
    def __init__(self, model: str, body: dict, behaviour: dict, default_tokens: int) -> None:
        super().__init__(model, body, behaviour, default_tokens)
        self.thinking = behaviour.get("thinking")
        self.says_text = not self.tool or bool(behaviour.get("textBeforeTool"))
        self.choices = (body.get("generationConfig") or {}).get("candidateCount") or 1

    @staticmethod
    def rate_limit_headers(retry_after: float) -> dict[str, str]:
        return {}  # Gemini tells the delay only in the body's RetryInfo.

    @staticmethod
    def error_body(status: int, message: str, retry_after: float | None) -> dict:
        error: dict = {"code": status, "message": message}
        error["status"] = _ERROR_NAMES.get(status, ("", "INTERNAL"))[1]
        if retry_after is not None:
            retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo"}
            error["details"] = [{**retry_info, "retryDelay": f"{retry_after:g}s"}]
        return {"error": error}

    def token_limit(self, body: dict) -> int | None:
        return (body.get("generationConfig") or {}).get("maxOutputTokens")

    def usage(self, sent: int) -> dict:
        # Gemini counts cached tokens inside promptTokenCount, thoughts apart from the answer.
        prompt = self.input_tokens + self.cache_read
        thoughts = len(self.thinking.split()) if self.thinking else 0
        usage = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": sent * self.choices,
            "totalTokenCount": prompt + sent * self.choices + thoughts,
            "cachedContentTokenCount": self.cache_read,
        }
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage

    def complete(self) -> dict:
        parts = self.thought_parts()
        if self.says_text:
            parts.append({"text": "".join(self.tokens)})
        if self.tool:
            parts.append(self.function_call())
        body = self.chunk(parts, len(self.tokens), finished=True)
        body["candidates"] = [{**body["candidates"][0], "index": index}
                              for index in range(self.choices)]
        return body

    def thought_parts(self) -> list[dict]:
        if not self.thinking:
            return []
        return [{"text": self.thinking, "thought": True, "thoughtSignature": SIGNATURE}]

    def function_call(self) -> dict:
        """The whole call in one part (as Gemini sends it), signed as Gemini 2.5 signs it."""
        call = {"name": self.tool, "args": {"q": "".join(self.tokens)}}
        return {"functionCall": call, **({"thoughtSignature": SIGNATURE} if self.thinking else {})}

    def opening(self) -> list[tuple[str | None, Any]]:
        return [(None, self.chunk(self.thought_parts(), 0, finished=False))] if self.thinking \
            else []

    def token(self, index: int) -> tuple[str | None, Any]:
        finished = index == len(self.tokens) - 1 and not self.tool
        return None, self.chunk([{"text": self.tokens[index]}], index + 1, finished=finished)

    def token_events(self, index: int) -> list[tuple[str | None, Any]]:
        return [self.token(index)] if self.says_text else []  # a call alone comes whole

    def closing(self) -> list[tuple[str | None, Any]]:
        # The finish reason rides on the last token (or on the call, which comes whole);
        # an empty reply still needs one chunk for it.
        if self.tool:
            return [(None, self.chunk([self.function_call()], len(self.tokens), finished=True))]
        return [] if self.tokens else [(None, self.chunk([{"text": ""}], 0, finished=True))]

    def chunk(self, parts: list[dict], sent: int, *, finished: bool) -> dict:
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finished:
            candidate["finishReason"] = "STOP"
        body = {"candidates": [candidate], "modelVersion": self.model,
                "responseId": "stubResponse"}
        if self.reports_usage:
            body["usageMetadata"] = self.usage(sent)
        return body


# What a generateContent body may hold (camelCase, as the REST API's own clients send it).
_GEMINI_MEMBERS = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
                   "safetySettings", "cachedContent", "labels"}
_GEMINI_CONFIG = {"stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
                  "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed",
                  "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
                  "thinkingConfig", "responseModalities", "mediaResolution", "speechConfig"}
_GEMINI_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse",
                "executableCode", "codeExecutionResult"}
_GEMINI_PART = _GEMINI_DATA | {"thought", "thoughtSignature", "videoMetadata"}
_GEMINI_DECLARATION = {"name", "description", "parameters", "parametersJsonSchema",
                       "response", "responseJsonSchema", "behavior"}


def gemini_body_problem(body: dict) -> str | None:
    """What makes `body` no valid generateContent request (Gemini's 400 names it), or None."""
    for name in set(body) - _GEMINI_MEMBERS:
        return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    if not body.get("contents"):
        return "* GenerateContentRequest.contents: contents is not specified"
    for i, content in enumerate(body["contents"]):
        if content.get("role") not in (None, "user", "model"):
            return f"contents[{i}].role: Please use a valid role: user, model."
        if not content.get("parts"):
            return f"contents[{i}].parts: contents.parts must not be empty."
        for j, part in enumerate(content["parts"]):
            problem = _gemini_part_problem(part)
            if problem:
                return f"contents[{i}].parts[{j}]: {problem}"
    for j, part in enumerate((body.get("systemInstruction") or {}).get("parts") or []):
        if set(part) != {"text"}:
            return f"systemInstruction.parts[{j}]: a system instruction is text"
    for name in set(body.get("generationConfig") or {}) - _GEMINI_CONFIG:
        return f'Invalid JSON payload received. Unknown name "{name}" at "generation_config".'
    for i, tool in enumerate(body.get("tools") or []):
        for j, declaration in enumerate(tool.get("functionDeclarations") or []):
            if set(declaration) - _GEMINI_DECLARATION or not declaration.get("name"):
                return f"tools[{i}].functionDeclarations[{j}]: not a function declaration"
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if mode not in (None, "AUTO", "ANY", "NONE", "VALIDATED"):
        return f"toolConfig.functionCallingConfig.mode: no mode {mode!r}"
    return None


def _gemini_part_problem(part: dict) -> str | None:
    if set(part) - _GEMINI_PART:
        return f"unknown part members {sorted(set(part) - _GEMINI_PART)}"
    data = set(part) & _GEMINI_DATA
    if len(data) != 1:
        return "a part holds exactly one kind of data"
    call, response = part.get("functionCall"), part.get("functionResponse")
    if call is not None and (not call.get("name") or not isinstance(call.get("args", {}), dict)):
        return "functionCall needs a name and object args"
    if response is not None and (not response.get("name")
                                 or not isinstance(response.get("response"), dict)):
        return "functionResponse needs a name and an object response"
    inline = part.get("inlineData")
    if inline is not None and not (inline.get("mimeType") and inline.get("data")):
        return "inlineData needs mimeType and data"
    if part.get("fileData") is not None and not part["fileData"].get("fileUri"):
        return "fileData needs a fileUri"
    return None


class ResponsesReply(OpenAIReply):
    """OpenAI's Responses API: a `response` object, or its SSE events from `response.created`
    to `response.completed` (usage there), each numbered; a text message item, or with
    `toolCall` a function_call item whose arguments stream (the JSON {"q": reply} with
    `jsonArguments`)."""

    error_event = "error"

    def __init__(self, model: str, body: dict, behaviour: dict, default_tokens: int) -> None:
        super().__init__(model, {**body, "n": 1}, behaviour, default_tokens)
        self.input_tokens = count_words(body.get("input")) + count_words(
            body.get("instructions"))
        self.include_usage = True  # a Responses stream always ends with its usage
        self.sequence = 0

    def token_limit(self, body: dict) -> int | None:
        return body.get("max_output_tokens")

    def usage(self, sent: int) -> dict:
        # Responses counts cached tokens inside input_tokens, as chat completions do.
        prompt = self.input_tokens + self.cache_read
        return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": self.cache_read},
                "output_tokens": sent, "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + sent}

    def item(self, done: bool) -> dict:
        status = "completed" if done else "in_progress"
        if self.tool:
            arguments = "".join(map(self.argument_piece, range(len(self.tokens))))
            return {"id": "fc_stub", "type": "function_call", "status": status,
                    "call_id": "call_stub", "name": self.tool,
                    "arguments": arguments if done else ""}
        content = [{"type": "output_text", "text": "".join(self.tokens), "annotations": []}]
        return {"id": "msg_stub", "type": "message", "role": "assistant", "status": status,
                "content": content if done else []}

    def response(self, done: bool) -> dict:
        body = {"id": "resp_stub", "object": "response", "created_at": 1700000000,
                "model": self.model, "status": "completed" if done else "in_progress",
                "output": [self.item(True)] if done else [], "usage": None}
        if done and self.reports_usage:
            body["usage"] = self.usage(len(self.tokens))
        return body

    def complete(self) -> dict:
        return self.response(True)

    def event(self, kind: str, **members: Any) -> tuple[str, dict]:
        self.sequence += 1
        return kind, {"type": kind, "sequence_number": self.sequence - 1, **members}

    def opening(self) -> list[tuple[str | None, Any]]:
        events = [self.event("response.created", response=self.response(False)),
                  self.event("response.in_progress", response=self.response(False)),
                  self.event("response.output_item.added", output_index=0,
                             item=self.item(False))]
        if not self.tool:
            events.append(self.event("response.content_part.added", item_id="msg_stub",
                                     output_index=0, content_index=0,
                                     part={"type": "output_text", "text": "",
                                           "annotations": []}))
        return events  # type: ignore[return-value]

    def token(self, index: int) -> tuple[str | None, Any]:
        if self.tool:
            return self.event("response.function_call_arguments.delta", item_id="fc_stub",
                              output_index=0, delta=self.argument_piece(index))
        return self.event("response.output_text.delta", item_id="msg_stub", output_index=0,
                          content_index=0, delta=self.tokens[index], logprobs=[])

    def token_events(self, index: int) -> list[tuple[str | None, Any]]:
        return [self.token(index)]

    def closing(self) -> list[tuple[str | None, Any]]:
        done = self.item(True)
        if self.tool:
            events = [self.event("response.function_call_arguments.done", item_id="fc_stub",
                                 output_index=0, arguments=done["arguments"])]
        else:
            events = [self.event("response.output_text.done", item_id="msg_stub",
                                 output_index=0, content_index=0, text=done["content"][0]["text"]),
                      self.event("response.content_part.done", item_id="msg_stub",
                                 output_index=0, content_index=0, part=done["content"][0])]
        events += [self.event("response.output_item.done", output_index=0, item=done),
                   self.event("response.completed", response=self.response(True))]
        return events  # type: ignore[return-value]

    @staticmethod
    def error_body(status: int, message: str, retry_after: float | None) -> dict:
        body = OpenAIReply.error_body(status, message, retry_after)
        return body


class StubState:
    """Behaviours, the request log and spent refresh tokens, shared by all handler threads."""

    def __init__(self, tokens: int, token_delay: float, rotate_refresh_tokens: bool):
        self.tokens, self.token_delay = tokens, token_delay
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.behaviours: dict[str, dict] = {}
            self.log: list[dict] = []
            self.spent_refresh_tokens: set[str] = set()

    def set_behaviour(self, spec: dict) -> None:
        unknown = set(spec) - BEHAVIOUR_KEYS
        if unknown:
            raise ValueError(f"unknown behaviour keys: {sorted(unknown)}")
        key = spec.get("credential") or spec.get("refreshToken") or "*"
        with self.lock:
            self.behaviours[key] = dict(spec)

    def take_behaviour(self, credential: str | None) -> dict:
        """The behaviour for this credential (else the catch-all), using up one of its `times`."""
        with self.lock:
            key = credential if credential in self.behaviours else "*"
            behaviour = self.behaviours.get(key, {})
            if "times" in behaviour:
                behaviour["times"] -= 1
                if behaviour["times"] <= 0:
                    del self.behaviours[key]
            return dict(behaviour)

    def record(self, **entry: Any) -> dict:
        entry["time"] = time.time()
        with self.lock:
            self.log.append(entry)
        return entry

    def requests(self) -> list[dict]:
        with self.lock:
            return [dict(entry) for entry in self.log]

    def spend_refresh_token(self, token: str) -> bool:
        """False when rotation is on and this refresh token was already exchanged once."""
        with self.lock:
            if self.rotate_refresh_tokens and token in self.spent_refresh_tokens:
                return False
            self.spent_refresh_tokens.add(token)
            return True


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StubServer

    def setup(self) -> None:
        super().setup()
        # Each token is a tiny write; Nagle's algorithm would hold it back waiting for more.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    @property
    def state(self) -> StubState:
        return self.server.state

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: GET /__stub/requests is the log."""

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/__stub/requests":
            self.send_json(200, self.state.requests())
        else:
            self.send_json(404, {"error": f"no route for GET {self.path}"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self.read_body()
        # Only the behaviour endpoint takes a list (several behaviours at once).
        if not isinstance(body, dict) and not (path == "/__stub/behaviour" and body is not None):
            self.send_json(400, {"error": "the request body is not a JSON object or a form"})
        elif path == "/__stub/behaviour":
            self.set_behaviours(body)
        elif path == "/__stub/reset":
            self.state.reset()
            self.send_json(200, {"ok": True})
        elif path == "/oauth/token":
            self.refresh_token(body)
        elif path.endswith("/responses"):
            self.chat(ResponsesReply, body.get("model", ""), body, bool(body.get("stream")))
        elif path.endswith("/chat/completions"):
            self.chat(OpenAIReply, body.get("model", ""), body, bool(body.get("stream")))
        elif path.endswith("/v1/messages/count_tokens"):
            self.count_tokens(body)
        elif path.endswith("/v1/messages"):
            self.chat(AnthropicReply, body.get("model", ""), body, bool(body.get("stream")))
        elif match := _GEMINI_PATH.search(path):
            problem = gemini_body_problem(body)
            if problem:
                entry = self.record(format="gemini", credential=self.credential(),
                                    model=match[1], body=body, problem=problem)
                entry["status"] = 400
                self.send_json(400, GeminiReply.error_body(400, problem, None))
                return
            self.chat(GeminiReply, match[1], body, match[2] == "streamGenerateContent")
        else:
            self.send_json(404, {"error": f"no route for POST {path}"})

    def set_behaviours(self, body: Any) -> None:
        try:
            for spec in body if isinstance(body, list) else [body]:
                self.state.set_behaviour(spec)
        except ValueError as exc:
            self.send_json(400, {"error": str(exc)})
            return
        self.send_json(200, {"ok": True})

    def chat(self, reply_class: type[Reply], model: str, body: dict, stream: bool) -> None:
        credential = self.credential()
        behaviour = self.state.take_behaviour(credential)
        entry = self.record(
            format=reply_class.__name__.removesuffix("Reply").lower(), credential=credential,
            model=model, stream=stream, body=body, tokensSent=0, completed=False,
            disconnected=False,
        )  # fmt: skip
        if self.state.stopping.wait(behaviour.get("delay", 0)):
            self.close_connection = True
            return
        status = behaviour.get("status")
        limit = behaviour.get("maxInputTokens")
        if limit is not None:
            reply = reply_class(model, body, behaviour, self.state.tokens)
            if reply.input_tokens <= limit:
                status = None
            else:
                status_too_large, error_type, message = reply.too_large(limit)
                entry["status"] = status = status or status_too_large
                self.send_error_answer(reply_class, status, {
                    "errorType": error_type, "message": message, **behaviour})
                return
        breaks_midway = "failAfterTokens" in behaviour or "dropAfterTokens" in behaviour
        if breaks_midway and not stream:
            # An answer sent in one piece cannot break half-way, so it breaks whole.
            if "failAfterTokens" not in behaviour:
                self.close_connection = True
                return
            status = status or 500
        if status and not (stream and breaks_midway):
            entry["status"] = status
            self.send_error_answer(reply_class, status, behaviour)
            return
        reply = reply_class(model, body, behaviour, self.state.tokens)
        token_delay = behaviour.get("tokenDelay", self.state.token_delay)
        if not stream:
            if self.state.stopping.wait(token_delay * len(reply.tokens)):
                self.close_connection = True
                return
            entry.update(tokensSent=len(reply.tokens), completed=True)
            self.send_json(200, reply.complete(), behaviour.get("headers"))
            return
        try:
            self.stream_reply(reply, behaviour, entry, token_delay)
        except OSError:
            entry["disconnected"] = True
            self.close_connection = True

    def count_tokens(self, body: dict) -> None:
        credential = self.credential()
        behaviour = self.state.take_behaviour(credential)
        entry = self.record(format="anthropic-count", credential=credential,
                            model=body.get("model", ""), body=body)
        status = behaviour.get("status")
        if status:
            entry["status"] = status
            self.send_error_answer(AnthropicReply, status, behaviour)
            return
        words = count_words(body.get("messages")) + count_words(body.get("system"))
        self.send_json(200, {"input_tokens": words})

    def send_error_answer(self, reply_class: type[Reply], status: int, behaviour: dict) -> None:
        retry_after = behaviour.get("retryAfter")
        headers = {} if retry_after is None else reply_class.rate_limit_headers(retry_after)
        headers.update(behaviour.get("headers") or {})
        message = behaviour.get("message") or f"stub upstream answered {status}"
        body = reply_class.error_body(status, message, retry_after)
        if behaviour.get("errorType") and isinstance(body["error"], dict):
            body["error"]["type"] = behaviour["errorType"]
        self.send_json(status, body, headers)

    def stream_reply(self, reply: Reply, behaviour: dict, entry: dict, token_delay: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in (behaviour.get("headers") or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.write_events(reply.opening())
        fail_after, drop_after = behaviour.get("failAfterTokens"), behaviour.get("dropAfterTokens")
        cut = min((n for n in (fail_after, drop_after) if n is not None), default=None)
        for index in range(len(reply.tokens) if cut is None else min(cut, len(reply.tokens))):
            if self.state.stopping.wait(token_delay):
                self.close_connection = True
                return
            self.write_events(reply.token_events(index))
            entry["tokensSent"] = index + 1
        if cut is None:
            self.write_events(reply.closing())
            entry["completed"] = True
        elif cut == drop_after:
            # Hanging up without the final empty chunk is what a dying upstream looks like.
            self.close_connection = True
            return
        else:
            status = behaviour.get("status") or 500
            message = behaviour.get("message") or f"stub upstream failed after {cut} tokens"
            self.write_events([(reply.error_event, reply.error_body(status, message, None))])
        self.write_chunk(b"")

    def refresh_token(self, body: dict) -> None:
        refresh_token = body.get("refresh_token")
        behaviour = self.state.take_behaviour(refresh_token)
        entry = self.record(
            format="oauth",
            credential=refresh_token,
            grantType=body.get("grant_type"),
            clientId=body.get("client_id"),
        )
        if self.state.stopping.wait(behaviour.get("delay", 0)):
            self.close_connection = True
            return
        status, answer = self.token_answer(body, refresh_token, behaviour)
        entry["status"] = status
        self.send_json(status, answer)

    def token_answer(self, body: dict, refresh_token: str | None, behaviour: dict) -> tuple:
        if body.get("grant_type") != "refresh_token":
            return 400, oauth_error("unsupported_grant_type", "only refresh_token is supported")
        if not refresh_token:
            return 400, oauth_error("invalid_request", "refresh_token is required")
        status = behaviour.get("status")
        message = behaviour.get("message") or "refresh token is invalid, expired or revoked"
        if status in (400, 401):
            return status, oauth_error("invalid_grant", message)
        if status:
            return status, oauth_error("server_error", f"stub token endpoint answered {status}")
        if not self.state.spend_refresh_token(refresh_token):
            return 400, oauth_error("invalid_grant", "refresh token was already used")
        return 200, {
            "access_token": f"stub-at-{secrets.token_urlsafe(16)}",
            "refresh_token": f"stub-rt-{secrets.token_urlsafe(16)}",
            "expires_in": behaviour.get("expiresIn", 3600),
            "token_type": "Bearer",
            "scope": body.get("scope") or "user:inference",
        }

    def record(self, **fields: Any) -> dict:
        """Log this request; the client port shows which pooled connection carried it."""
        headers = {name.lower(): value for name, value in self.headers.items()}
        return self.state.record(
            path=self.path, status=200, headers=headers, clientPort=self.client_address[1], **fields
        )

    def credential(self) -> str | None:
        authorization = self.headers.get("Authorization", "")
        if authorization.lower().startswith("bearer "):
            return authorization[len("bearer ") :]
        query_key = parse_qs(urlsplit(self.path).query).get("key", [None])[0]
        return self.headers.get("x-api-key") or self.headers.get("x-goog-api-key") or query_key

    def read_body(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not raw:
            return {}
        if "application/x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            return {key: values[0] for key, values in parse_qs(raw.decode()).items()}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def send_json(self, status: int, body: Any, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(data)

    def write_events(self, events: list[tuple[str | None, Any]]) -> None:
        for event, data in events:
            payload = data if isinstance(data, str) else json.dumps(data)
            prefix = f"event: {event}\n" if event else ""
            self.write_chunk(f"{prefix}data: {payload}\n\n".encode())

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def oauth_error(error: str, description: str) -> dict:
    return {"error": error, "error_description": description}


class StubServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # Hundreds of clients may connect at once in load tests; the default backlog is 5.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], state: StubState) -> None:
        self.state = state
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, StubHandler)

    def track(self, connection: socket.socket) -> None:
        with self.connections_lock:
            self.connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self.connections_lock:
            self.connections.discard(connection)

    def hang_up_all(self) -> None:
        """Cut kept-alive and streaming connections too, as a real server going down would."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer is routine here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class StubUpstream:
    """The stub in a background thread: `with StubUpstream() as stub: ... stub.url ...`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tokens: int = 12,
        token_delay: float = 0.0,
        rotate_refresh_tokens: bool = True,
    ) -> None:
        self.host, self.port = host, port
        self.state = StubState(tokens, token_delay, rotate_refresh_tokens)
        self._server: StubServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StubUpstream:
        self.state.stopping.clear()
        self._server = StubServer((self.host, self.port), self.state)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.hang_up_all()
        self._thread.join()
        self._server = self._thread = None

    def set_behaviour(self, **spec: Any) -> None:
        """Same fields as POST /__stub/behaviour, e.g. set_behaviour(credential="k", status=429)."""
        self.state.set_behaviour(spec)

    def reset(self) -> None:
        self.state.reset()

    def requests(self, **matching: Any) -> list[dict]:
        """The request log, optionally only entries whose fields equal `matching`."""
        return [
            entry
            for entry in self.state.requests()
            if all(entry.get(name) == value for name, value in matching.items())
        ]

    def __enter__(self) -> StubUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--tokens", type=int, default=12, help="reply length in tokens")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between tokens")
    parser.add_argument(
        "--no-rotate-refresh-tokens",
        action="store_true",
        help="let a refresh token be exchanged more than once",
    )
    args = parser.parse_args(argv)
    stub = StubUpstream(
        args.host,
        args.port,
        tokens=args.tokens,
        token_delay=args.token_delay,
        rotate_refresh_tokens=not args.no_rotate_refresh_tokens,
    )
    # Interrupted ends it even when started from a shell that ignores SIGINT (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with stub:
        print(f"stub upstream listening on {stub.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
