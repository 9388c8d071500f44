"""A short schemathesis run over the whole OpenAPI document, as an admin, against gunicorn on
the SQLite default: no server error and no answer outside the document (about 400 cases).

The long run is `python scripts/fuzz_openapi.py` (PostgreSQL, seed 20261203, 220 cases per
operation and phase: 16,235 cases, no failure).
"""

import re

from scripts import fuzz_openapi


def test_a_short_schemathesis_run_finds_no_server_error_and_no_undocumented_answer(capfd):
    status = fuzz_openapi.main([
        "--database", "sqlite", "--max-examples", "6", "--seed", "7",
        "--", "--phases", "examples,fuzzing,stateful", "--max-failures", "5"])
    output = capfd.readouterr().out
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated[1]) >= 300, output[-3000:]
    assert status == 0, output[-6000:]
