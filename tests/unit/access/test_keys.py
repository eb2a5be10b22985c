"""Client keys fail closed: a configured source that yields no usable key stops start-up.

The general property: whatever a key source holds, loading it either yields exactly the
keys it lists, every one at least 32 characters, or stops start-up with a message naming
the variable and never the key. The service never runs open, or behind its file's path,
because a source was missing, empty or misnamed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.access.keys import MIN_KEY_CHARS, load_keys
from service.settings import SettingsError

NAMES = ("ATTACHE_API_KEYS", "ATTACHE_API_KEYS_FILE")
GOOD = ("ck-4f9a8e7d6c5b4a39281706f5e4d3c2b1", "ck-0a1b2c3d4e5f60718293a4b5c6d7e8f9")


def test_a_literal_list_and_a_file_give_the_same_keys(tmp_path: Path) -> None:
    secret = tmp_path / "api-keys"
    secret.write_text(f"{GOOD[0]}\n\n  {GOOD[1]}  \n")
    assert load_keys(",".join(GOOD), None, names=NAMES) == frozenset(GOOD)
    assert load_keys(None, str(secret), names=NAMES) == frozenset(GOOD)
    assert load_keys(None, None, names=NAMES) == frozenset(), "neither set: open (with a warning)"


@pytest.mark.parametrize(
    ("literal", "file_text", "message"),
    [
        (None, "", "holds no key"),
        (None, "\n  \n\t\n", "holds no key"),
        (" , ,", None, "holds no key"),
        ("short-key", None, "entry 1 is 9 characters; keys must be at least 32"),
        (None, f"{GOOD[0]}\nshort-key\n", "line 2 is 9 characters"),
        (None, f"{GOOD[0][:16]} {GOOD[0][16:]}\n", "line 1 holds a space"),
        ("/var/run/secrets/attache/api-keys", None, "looks like a path"),
        (GOOD[0], "present", "both set"),
    ],
)
def test_a_source_that_yields_no_usable_key_stops_start_up(
    tmp_path: Path, literal: str | None, file_text: str | None, message: str
) -> None:
    path = None
    if file_text is not None:
        path = tmp_path / "api-keys"
        path.write_text(file_text)
    with pytest.raises(SettingsError, match=message) as raised:
        load_keys(literal, str(path) if path else None, names=NAMES)
    assert "short-key" not in str(raised.value)
    assert GOOD[0] not in str(raised.value), "a message never quotes a key"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: tmp / "file" / "below-a-file", "cannot be read"),
        (lambda tmp: tmp / "latin-1", "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_stops_start_up(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    (tmp_path / "file").write_text(GOOD[0])
    (tmp_path / "latin-1").write_bytes(b"ck-caf\xe9" + b"x" * 40)
    path = make(tmp_path)
    with pytest.raises(SettingsError, match=f"^ATTACHE_API_KEYS_FILE: .*{message}"):
        load_keys(None, str(path), names=NAMES)


key_like = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=","), max_size=48)
lines = st.lists(st.one_of(key_like, st.sampled_from(["", "  ", "\t", "a b" * 12, "x" * 31, "x" * 32])), max_size=6)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(lines=lines)
def test_loading_yields_exactly_the_listed_keys_or_refuses(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "api-keys"
    path.write_text("\n".join(lines))
    listed = {line.strip() for line in lines if line.strip()}
    try:
        keys = load_keys(None, str(path), names=NAMES)
    except SettingsError:
        assert not listed or any(len(k) < MIN_KEY_CHARS or " " in k for k in listed)
        return
    assert keys == listed
    assert keys, "a configured source never loads as open"
    assert all(len(key) >= MIN_KEY_CHARS for key in keys)
