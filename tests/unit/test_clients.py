"""Client families, recognised by the User-Agent and Claude Code's request shape."""

from app.services.keys.clients import ClientRequest, admits, check

CLAUDE_CODE_BODY = {"system": [{"type": "text", "text": "You are Claude Code, Anthropic's "
                                                        "official CLI for Claude."}],
                    "metadata": {"user_id": "user_1_account__session_2"}}


def _request(agent: str, body=None, chat=True) -> ClientRequest:
    return ClientRequest.of({"User-Agent": agent}, body or {}, chat=chat)


def test_each_family_is_recognised_by_its_real_user_agent():
    agents = {
        "codex_cli": "codex_cli_rs/0.38.0 (Ubuntu 22.4.0; x86_64) WindowsTerminal",
        "gemini_cli": "GeminiCLI/0.1.5 (linux; x64)",
        "openai_sdk": "OpenAI/Python 1.99.0",
    }
    for family, agent in agents.items():
        assert admits([family], _request(agent))
        assert not admits([family], _request("curl/8.5.0"))
    assert admits(["openai_sdk"], _request("OpenAI/JS 4.104.0"))


def test_claude_code_needs_its_user_agent_and_its_request_shape():
    agent = "claude-cli/2.0.14 (external, cli)"

    assert admits(["claude_code"], _request(agent, CLAUDE_CODE_BODY))
    assert not admits(["claude_code"], _request(agent, {}))
    assert not admits(["claude_code"], _request(agent, {**CLAUDE_CODE_BODY, "metadata": {}}))
    assert not admits(["claude_code"], _request("OpenAI/Python 1.99.0", CLAUDE_CODE_BODY))
    assert admits(["claude_code"], _request(agent, chat=False))  # a count or a listing


def test_a_custom_pattern_matches_the_user_agent_and_no_list_admits_all():
    assert admits(["ua:my-tool/*"], _request("My-Tool/2.1"))
    assert not admits(["ua:my-tool/*"], _request("other/1"))
    assert admits([], _request(""))
    assert check(["claude_code", "ua:x/*", "claude_code"]) == ["claude_code", "ua:x/*"]
