"""The session key of sticky sessions: where it is read from, and in which order."""

from app.services.chat.session_key import headers_read, session_key

CLAUDE_CODE_USER = ("user_2f1e3d_account_9a8b7c6d-0000-1111-2222-333344445555"
                    "_session_6c4d2e1f-aaaa-bbbb-cccc-ddddeeeeffff")
MESSAGES = [{"role": "user", "content": "first question"}]


def test_claude_codes_metadata_user_id_gives_its_session_part():
    body = {"metadata": {"user_id": CLAUDE_CODE_USER}, "messages": MESSAGES}
    assert session_key(body, {"x-session-id": "ignored"}) == (
        "session:6c4d2e1f-aaaa-bbbb-cccc-ddddeeeeffff")


def test_a_json_user_id_gives_its_session_id():
    body = {"metadata": {"user_id": '{"device_id": "d", "session_id": "s-42"}'},
            "messages": MESSAGES}
    assert session_key(body, {}) == "session:s-42"


def test_a_user_id_without_a_session_part_falls_through_to_the_headers():
    body = {"metadata": {"user_id": "just-a-user"}, "messages": MESSAGES}
    assert session_key(body, {"Conversation_Id": "conv-1"}) == "session:conv-1"


def test_the_headers_are_read_in_order_and_before_prompt_cache_key():
    body = {"prompt_cache_key": "pck", "messages": MESSAGES}
    assert session_key(body, {"session_id": "b", "X-Session-Id": "a"}) == "session:a"
    assert session_key(body, {"session_id": "b", "conversation_id": "c"}) == "session:b"
    assert session_key(body, {"x-session-id": "  "}) == "session:pck"


def test_without_a_name_the_system_prompt_and_first_user_message_identify_the_conversation():
    first = {"system": "be brief", "messages": MESSAGES}
    later = {"system": "be brief", "messages": MESSAGES + [
        {"role": "assistant", "content": "answer"}, {"role": "user", "content": "more"}]}
    other_system = {"system": "be verbose", "messages": MESSAGES}
    assert session_key(first).startswith("prompt:")
    assert session_key(first) == session_key(later)
    assert session_key(first) != session_key(other_system)


def test_an_openai_system_message_counts_as_the_system_prompt():
    with_system = {"messages": [{"role": "system", "content": "s1"}] + MESSAGES}
    other = {"messages": [{"role": "system", "content": "s2"}] + MESSAGES}
    assert session_key(with_system) != session_key(other)


def test_a_request_without_a_user_message_has_no_session():
    assert session_key({"messages": []}, {}) is None
    assert session_key({}, None) is None


def test_codexs_headers_name_the_session_whether_or_not_the_server_kept_the_underscore():
    body = {"model": "m", "input": "hi"}
    assert session_key(body, {"session_id": "codex-1"}) == "session:codex-1"
    assert session_key(body, {"Session-Id": "codex-2"}) == "session:codex-2"
    assert session_key(body, {"Conversation-Id": "codex-3"}) == "session:codex-3"


def test_a_responses_body_is_identified_by_its_instructions_and_first_user_input():
    first = {"instructions": "be brief", "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]}]}
    later = {**first, "input": [*first["input"], {"type": "function_call_output",
                                                  "call_id": "c", "output": "x"}]}
    other = {**first, "instructions": "be verbose"}
    assert session_key(first).startswith("prompt:")
    assert session_key(first) == session_key(later) != session_key(other)
    assert session_key({"input": "hi"}) == session_key({"input": "hi", "stream": True})


def test_a_gemini_conversation_is_its_system_instruction_and_first_user_content():
    hi = {"role": "user", "parts": [{"text": "first question"}]}
    first = {"systemInstruction": {"parts": [{"text": "be brief"}]}, "contents": [hi]}
    later = {**first, "contents": [hi, {"role": "model", "parts": [{"text": "answer"}]},
                                   {"role": "user", "parts": [{"text": "more"}]}]}
    other = {**first, "systemInstruction": {"parts": [{"text": "be verbose"}]}}
    assert session_key(first).startswith("prompt:")
    assert session_key(first) == session_key(later) != session_key(other)
    assert session_key({"contents": [{"role": "model", "parts": []}]}) is None
    assert session_key({"contents": "not a list"}) is None


class WalkedHeaders:
    """Headers that count how often they are walked, as werkzeug's environ view is."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs, self.walks = pairs, 0

    def items(self):
        self.walks += 1
        return iter(self.pairs)


def test_the_headers_are_read_once_with_their_names_lower_cased():
    headers = WalkedHeaders([("User-Agent", "claude-cli/2.0"), ("Session_Id", "s-1")])
    sent = headers_read(headers)
    assert sent == {"user-agent": "claude-cli/2.0", "session_id": "s-1"}
    assert session_key({"messages": MESSAGES}, sent) == "session:s-1"
    assert headers.walks == 1
    assert headers_read(None) == {}
