"""The cipher for secrets at rest."""

import pytest

from app.crypto import SecretBox, SecretError, mask

SECRET = "sk-ant-oat01-the-plaintext-token"


def test_a_sealed_secret_opens_to_its_plaintext():
    box = SecretBox("master-one")
    assert box.decrypt(box.encrypt(SECRET)) == SECRET


def test_a_sealed_secret_names_its_key_and_hides_its_plaintext():
    box = SecretBox("master-one")
    stored = box.encrypt(SECRET)
    assert stored.startswith(f"rg1:{box.kid}:")
    assert SECRET not in stored and "plaintext" not in stored


def test_sealing_the_same_secret_twice_gives_different_values():
    box = SecretBox("master-one")
    assert box.encrypt(SECRET) != box.encrypt(SECRET)


def test_a_tampered_value_is_refused():
    box = SecretBox("master-one")
    stored = box.encrypt(SECRET)
    body = stored.rsplit(":", 1)[1]
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    with pytest.raises(SecretError):
        box.decrypt(stored.rsplit(":", 1)[0] + ":" + flipped)


def test_a_value_relabelled_with_another_key_id_is_refused():
    old, new = SecretBox("master-one"), SecretBox("master-two", ["master-one"])
    stored = old.encrypt(SECRET)
    relabelled = stored.replace(old.kid, new.kid)
    with pytest.raises(SecretError):
        new.decrypt(relabelled)


def test_different_master_secrets_derive_different_key_ids():
    assert SecretBox("master-one").kid != SecretBox("master-two").kid
    assert SecretBox("master-one").kid == SecretBox("master-one").kid


def test_a_value_sealed_under_a_previous_key_opens_only_when_that_key_is_listed():
    stored = SecretBox("master-one").encrypt(SECRET)
    with pytest.raises(SecretError, match="RELAYGATE_SECRET_KEY_PREVIOUS"):
        SecretBox("master-two").decrypt(stored)
    assert SecretBox("master-two", ["master-one"]).decrypt(stored) == SECRET
    assert SecretBox("master-two").with_previous(["master-one"]).decrypt(stored) == SECRET


def test_resealing_moves_a_value_to_the_current_key():
    box = SecretBox("master-two", ["master-one"])
    stored = SecretBox("master-one").encrypt(SECRET)
    assert not box.is_current(stored)
    resealed = box.reseal(stored)
    assert box.is_current(resealed) and box.decrypt(resealed) == SECRET
    assert box.reseal(resealed) == resealed


def test_garbage_is_not_a_sealed_secret():
    with pytest.raises(SecretError):
        SecretBox("master-one").decrypt("plain text")


def test_a_mask_keeps_only_the_ends_of_a_long_secret():
    assert mask("sk-ant-oat01-abcdefghijklmnop") == "sk-a...mnop"
    assert mask("short") == "****"
    assert mask(None) is None
