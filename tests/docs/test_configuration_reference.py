"""docs/configuration.md lists every environment variable the code reads, with its default."""

from __future__ import annotations

import re

from tests.support.envvars import ROOT, environment_reads

REFERENCE = ROOT / "docs" / "configuration.md"
_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \| (.*?) \| (.+) \|$")


def _documented() -> dict[str, str]:
    rows = {}
    for line in REFERENCE.read_text().splitlines():
        match = _ROW.match(line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is listed twice"
            rows[match.group(1)] = match.group(2)
    return rows


def _shown(value: object) -> str:
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def test_the_reader_finds_the_settings_the_code_reads():
    names = {read.name for read in environment_reads()}

    assert {"DATABASE_URL", "REDIS_URL", "RELAYGATE_SECRET_KEY", "RELAYGATE_THREADS"} <= names


def test_every_variable_the_code_reads_is_documented():
    missing = sorted({read.name for read in environment_reads()} - set(_documented()))

    assert not missing, f"add these to docs/configuration.md: {missing}"


def test_every_documented_variable_is_read_somewhere():
    stale = sorted(set(_documented()) - {read.name for read in environment_reads()})

    assert not stale, f"nothing reads these any more: {stale}"


def test_every_default_the_code_spells_out_is_the_documented_one():
    documented = _documented()
    wrong = [f"{read.name} ({read.where}): code {read.default!r}, docs {documented[read.name]}"
             for read in environment_reads()
             if read.has_default and read.default not in ("", None) and read.name in documented
             and _shown(read.default) not in documented[read.name]]

    assert not wrong, "\n".join(wrong)


def test_the_readme_links_the_reference():
    assert "docs/configuration.md" in (ROOT / "README.md").read_text()
