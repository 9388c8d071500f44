"""`python -m app`: the `relaygate` command where its script is not on PATH."""

from app.main import main

main()
