"""Client wire protocols as pure functions: request, answer and stream events in, a neutral
form out, and back. They import nothing of ours (the import contract in pyproject.toml)."""
