"""The credentials provider clients are built with: each sealed value opened once."""

import pytest

from app.crypto import SecretBox, SecretError
from app.services.accounts import clients
from app.services.accounts.clients import OpenedSecrets


class CountingBox(SecretBox):
    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.opened = 0

    def decrypt(self, stored: str) -> str:
        self.opened += 1
        return super().decrypt(stored)


def test_a_sealed_value_is_opened_once_and_a_new_one_anew():
    box = CountingBox("master-one")
    opened = OpenedSecrets(box)
    first, second = box.encrypt("sk-first"), box.encrypt("sk-second")
    assert [opened.decrypt_optional(first) for _ in range(3)] == ["sk-first"] * 3
    assert opened.decrypt_optional(second) == "sk-second"
    assert opened.decrypt_optional(None) is None
    assert box.opened == 2


def test_a_value_that_does_not_open_is_refused_every_time():
    opened = OpenedSecrets(SecretBox("master-one"))
    foreign = SecretBox("master-two").encrypt("sk-foreign")
    for _ in range(2):
        with pytest.raises(SecretError):
            opened.decrypt_optional(foreign)


def test_the_table_is_bounded(monkeypatch):
    monkeypatch.setattr(clients, "_OPENED_MAX", 2)
    box = CountingBox("master-one")
    opened = OpenedSecrets(box)
    sealed = [box.encrypt(f"sk-{n}") for n in range(3)]
    assert [opened.decrypt_optional(value) for value in sealed] == ["sk-0", "sk-1", "sk-2"]
    assert len(opened._opened) <= 2
    assert opened.decrypt_optional(sealed[0]) == "sk-0"
