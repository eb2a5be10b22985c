"""Client API keys: where they come from, and why a configured source fails closed.

A literal list and a file are told apart by the variable, never by guessing:
`ATTACHE_API_KEYS` is always a comma-separated list, `ATTACHE_API_KEYS_FILE` always a
path. A configured source that is missing, unreadable or yields no key stops start-up, as
does a key shorter than `MIN_KEY_CHARS`: a service that meant to be closed never runs open,
or behind a guessable key. Messages name the variable and the line, never the key.
"""

from __future__ import annotations

import re
from pathlib import Path

from service.settings import Settings, SettingsError

MIN_KEY_CHARS = 32
# What a Bearer token can carry (RFC 6750 b64token, loosened to printable ASCII): a key with a
# space or a control character could never be presented, so it is a mistake in the source.
_KEY = re.compile(r"[\x21-\x7e]+")
GENERATE = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def load_keys(literal: str | None, path: str | None, *, names: tuple[str, str]) -> frozenset[str]:
    """The keys of one source: `literal` (comma-separated) or the lines of the file at `path`.

    `names` are the two variables, for messages. Neither set: no keys (open).
    """
    literal_name, file_name = names
    if literal and path:
        raise SettingsError(f"{literal_name} and {file_name} are both set; set one of them")
    if literal:
        entries = literal.split(",")
        for number, entry in enumerate(entries, start=1):
            if entry.strip().startswith(("/", "./", "../", "~")):
                raise SettingsError(
                    f"{literal_name}: entry {number} looks like a path; {literal_name} is always a literal list of "
                    f"keys: put a file's path in {file_name}"
                )
        return _checked(entries, literal_name, "entry")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SettingsError(f"{file_name}: {path} does not exist") from None
        except IsADirectoryError:
            raise SettingsError(f"{file_name}: {path} is a directory, not a file of keys") from None
        except PermissionError:
            raise SettingsError(f"{file_name}: {path} is not readable by this process") from None
        except UnicodeDecodeError:
            raise SettingsError(f"{file_name}: {path} is not UTF-8 text") from None
        except OSError as exc:
            raise SettingsError(f"{file_name}: {path} cannot be read ({exc.strerror})") from None
        return _checked(text.splitlines(), f"{file_name}: {path}", "line")
    return frozenset()


def _checked(entries: list[str], where: str, unit: str) -> frozenset[str]:
    keys: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        key = entry.strip()
        if not key:
            continue
        if not _KEY.fullmatch(key):
            raise SettingsError(f"{where}: {unit} {number} holds a space or a control character; keys are tokens")
        if len(key) < MIN_KEY_CHARS:
            raise SettingsError(
                f"{where}: {unit} {number} is {len(key)} characters; keys must be at least {MIN_KEY_CHARS} ({GENERATE})"
            )
        keys.add(key)
    if not keys:
        raise SettingsError(f"{where}: holds no key; remove the setting to run open, or add a key ({GENERATE})")
    return frozenset(keys)


def configured_keys(settings: Settings) -> tuple[frozenset[str], frozenset[str]]:
    """(client keys, admin keys); admin keys call the API too, and see every caller's assessments."""
    clients = load_keys(settings.api_keys, settings.api_keys_file, names=("ATTACHE_API_KEYS", "ATTACHE_API_KEYS_FILE"))
    admins = load_keys(
        settings.admin_keys, settings.admin_keys_file, names=("ATTACHE_ADMIN_KEYS", "ATTACHE_ADMIN_KEYS_FILE")
    )
    return clients, admins
