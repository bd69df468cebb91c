"""The pure modules: password hashing, token signing, and validation helpers."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import argon2
import pytest

from chaat.security import TOKEN_PREFIX, Passwords, Tokens
from chaat.settings import Settings
from chaat.validation import MAX_ID, as_user_id, is_blank, is_username

# Tokens


def test_a_token_carries_its_row_id_behind_a_recognisable_prefix():
    tokens = Tokens("secret", ttl=3600)
    token = tokens.sign(42)
    assert token.startswith(TOKEN_PREFIX)
    assert tokens.unsign(token) == 42


def test_a_tampered_token_is_refused():
    tokens = Tokens("secret", ttl=3600)
    token = tokens.sign(42)
    payload, signature = token.rsplit(".", 1)  # not the last character: base64 ignores its low bits
    assert tokens.unsign(f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}") is None
    assert tokens.unsign(token + "x") is None
    # The payload swapped for another id, the signature kept.
    other = tokens.sign(43)
    assert tokens.unsign(other.split(".")[0] + "." + ".".join(token.split(".")[1:])) is None


def test_a_token_signed_with_another_key_is_refused():
    assert Tokens("secret", ttl=3600).unsign(Tokens("other", ttl=3600).sign(42)) is None


@pytest.mark.parametrize(
    "token",
    ["", "chaat_", "chaat_abc", "abc", "chaat_\xff", "chaat_\udcff", "chaat_é.é.é", "chaat_a.b.c"],
)
def test_a_malformed_token_is_refused(token):
    assert Tokens("secret", ttl=3600).unsign(token) is None


def test_a_token_without_its_prefix_is_refused():
    tokens = Tokens("secret", ttl=3600)
    assert tokens.unsign(tokens.sign(42).removeprefix(TOKEN_PREFIX)) is None


def test_a_token_older_than_its_lifetime_is_refused(monkeypatch):
    tokens = Tokens("secret", ttl=60)
    token = tokens.sign(42)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 59)
    assert tokens.unsign(token) == 42
    monkeypatch.setattr(time, "time", lambda: now + 62)
    assert tokens.unsign(token) is None


# Passwords


@pytest.fixture(scope="module")
def passwords():
    return Passwords(time_cost=1, memory_cost=1024)


async def test_the_right_password_verifies_and_a_wrong_one_does_not(passwords):
    password_hash = await passwords.hash("correct horse battery")
    assert await passwords.verify(password_hash, "correct horse battery")
    assert not await passwords.verify(password_hash, "correct horse batterY")
    assert not await passwords.verify(password_hash, "")


async def test_no_hash_and_a_broken_hash_never_verify(passwords):
    assert not await passwords.verify(None, "not a password of anyone")
    assert not await passwords.verify(None, "")
    assert not await passwords.verify("$argon2id$garbage", "anything")
    assert not await passwords.verify("", "anything")


async def test_hashes_are_argon2id_and_salted(passwords):
    one, two = await passwords.hash("same password"), await passwords.hash("same password")
    assert one.startswith("$argon2id$")
    assert one != two


async def test_the_default_settings_hash_with_the_recommended_argon2id_parameters():
    settings = Settings()
    passwords = Passwords(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost
    )
    password_hash = await passwords.hash("correct horse battery")
    assert password_hash.startswith("$argon2id$v=19$m=65536,t=3,")
    assert await passwords.verify(password_hash, "correct horse battery")


async def test_a_hash_made_with_other_parameters_needs_rehashing(passwords):
    assert not passwords.needs_rehash(await passwords.hash("x" * 8))
    stronger = Passwords(time_cost=2, memory_cost=2048)
    assert passwords.needs_rehash(await stronger.hash("x" * 8))


@pytest.mark.parametrize(("processes", "threads"), [(1, 4), (2, 2), (8, 1)])
async def test_a_process_hashes_on_at_most_its_share_of_the_cores(monkeypatch, processes, threads):
    """With --workers N, the N processes hash on as many threads as there are cores, in
    all: more would only slow every request down during a login storm."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    passwords = Passwords(time_cost=1, memory_cost=1024, processes=processes)
    used = set()
    real_hash = argon2.PasswordHasher.hash

    def slow_hash(self, password, **kwargs):
        used.add(threading.get_ident())
        time.sleep(0.02)  # long enough that the hashes overlap
        return real_hash(self, password, **kwargs)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", slow_hash)
    try:
        await asyncio.gather(*(passwords.hash(f"password {n}") for n in range(12)))
    finally:
        passwords.close()
    assert len(used) == threads


# Validation helpers


@pytest.mark.parametrize(
    "text", ["", " ", "\t\n\r\v\f", "\u00a0", "\u3000", "\u2028\u2029", "\u2003 \u202f", "\x85"]
)
def test_unicode_white_space_is_blank(text):
    assert is_blank(text)


@pytest.mark.parametrize(
    "text",
    [
        "a",
        " a ",
        "\u200b",  # zero width space: not white space in Unicode's sense
        "\ufeff",  # byte order mark
        "\x1c",  # str.isspace() says yes, Unicode says no
        "\x00",
        ".",
    ],
)
def test_anything_else_is_not_blank(text):
    assert not is_blank(text)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (42, 42),
        ("42", 42),
        ("0042", 42),
        (MAX_ID, MAX_ID),
        (str(MAX_ID), MAX_ID),
        ("alice", None),
        ("a42", None),
        ("42a", None),
        ("-42", None),
        ("+42", None),
        (" 42", None),
        ("4 2", None),
        ("", None),
        ("٤٢", None),  # digits, but not ASCII ones
        ("²", None),
    ],
)
def test_as_user_id_reads_integers_and_all_digit_strings(ref, expected):
    assert as_user_id(ref) == expected


@pytest.mark.parametrize("ref", [MAX_ID + 1, str(MAX_ID + 1), 10**40, "9" * 20, "9" * 10_000])
def test_as_user_id_maps_ids_no_row_can_have_to_0(ref):
    assert as_user_id(ref) == 0


def test_username_shape():
    assert is_username("abc")
    assert is_username("A" + "b" * 31)
    assert is_username("a.b-c_d")
    assert not is_username("ab")
    assert not is_username("a" * 33)
    assert not is_username("1ab")
    assert not is_username("ab\n")
    assert not is_username("abç")
