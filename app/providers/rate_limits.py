"""Read when an upstream will accept us again, from the headers each provider uses for it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# OpenAI writes Go-style durations such as "1s", "6m0s", "20ms" or "1h2m3.5s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_ANTHROPIC_RESET = re.compile(r"^anthropic-ratelimit-(.+)-reset$")
_OPENAI_RESET = re.compile(r"^x-ratelimit-reset-(.+)$")


def parse_duration(text: str) -> float | None:
    """Seconds in an OpenAI duration, or None when the text is not one."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait from a `retry-after` value, which is either seconds or an HTTP date."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (_as_utc(when) - now).total_seconds())


def parse_rfc3339(value: str) -> datetime | None:
    try:
        return _as_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        return None


def parse_reset(
    headers: Mapping[str, str], now: datetime | None = None
) -> tuple[float | None, datetime | None]:
    """(retry_after seconds, reset_at) from a rate-limited answer's headers.

    Every provider reports several limits at once (requests, tokens, ...). The limits whose
    `remaining` is zero are the ones that stopped us, so only their resets count; when none
    reads zero (one large request can overshoot a non-empty budget) all of them count.
    The latest applicable moment wins, because waiting for an earlier one would just fail again.
    """
    now = now or datetime.now(UTC)
    lowered = {name.lower(): value for name, value in headers.items()}
    retry_after = None
    if "retry-after" in lowered:
        retry_after = parse_retry_after(lowered["retry-after"], now)
    exhausted, others = _limit_resets(lowered, now)
    candidates = exhausted or others
    if retry_after is not None:
        candidates.append(now + timedelta(seconds=retry_after))
    reset_at = max(candidates, default=None)
    if retry_after is None and reset_at is not None:
        retry_after = max(0.0, (reset_at - now).total_seconds())
    return retry_after, reset_at


def _limit_resets(
    headers: Mapping[str, str], now: datetime
) -> tuple[list[datetime], list[datetime]]:
    exhausted: list[datetime] = []
    others: list[datetime] = []
    for name, value in headers.items():
        if match := _ANTHROPIC_RESET.match(name):
            when = parse_rfc3339(value)
            remaining = headers.get(f"anthropic-ratelimit-{match.group(1)}-remaining")
        elif match := _OPENAI_RESET.match(name):
            seconds = parse_duration(value)
            when = None if seconds is None else now + timedelta(seconds=seconds)
            remaining = headers.get(f"x-ratelimit-remaining-{match.group(1)}")
        else:
            continue
        if when is None:
            continue
        is_exhausted = remaining is not None and remaining.strip() == "0"
        (exhausted if is_exhausted else others).append(when)
    return exhausted, others


def _as_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def parse_google_retry_delay(body: object) -> float | None:
    """Seconds from the RetryInfo detail Gemini puts in its 429 bodies, e.g. "34s"."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    for detail in body["error"].get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            return parse_duration(str(detail.get("retryDelay", "")))
    return None
