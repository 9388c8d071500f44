"""CSV downloads of report rows."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from flask import Response

# (CSV header, the report row's field): the header keeps the JSON answer's names.
_COLUMNS = (("requests", "requests"), ("inputTokens", "input_tokens"),
            ("outputTokens", "output_tokens"), ("cacheWriteTokens", "cache_write_tokens"),
            ("cacheReadTokens", "cache_read_tokens"), ("totalTokens", "total_tokens"),
            ("cost", "cost"))
_MEMBERS = {"model": "models", "account": "accounts", "apikey": "api_keys"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    # A spreadsheet would run a name such as "=HYPERLINK(...)" as a formula.
    return "'" + text if text.startswith(_FORMULA_START) else text


def stats_csv(data: dict, group_by: str | None) -> Response:
    """getUsageStats rows as CSV; with a grouping, one line per bucket and group."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["date", *([group_by] if group_by else []), *(head for head, _ in _COLUMNS)])
    for row in data["stats"]:
        date = row["date"].isoformat()
        if group_by is None:
            writer.writerow([date, *(_cell(row[name]) for _, name in _COLUMNS)])
            continue
        groups = row[_MEMBERS[group_by]]
        if not groups:
            writer.writerow([date, "", *(_cell(row[name]) for _, name in _COLUMNS)])
        for label, totals in groups.items():
            writer.writerow([date, _cell(label), *(_cell(totals[name]) for _, name in _COLUMNS)])
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="usage-stats.csv"'})
