"""The one reader of untrusted JSON text: every interface (REST, chantilly routes, sockets, pages) parses with it.

``loads`` refuses nesting deeper than RHYTHMIC_MAX_JSON_DEPTH, found by a scan of the text before ``json.loads``
recurses, and strings holding NUL characters or lone surrogates, which PostgreSQL cannot store (SQLite can): both
databases refuse the same text. No transport here: api's parsers and the dashboard's forms turn its InvalidJSON
into their own 400.
"""

import json
import re
from typing import Any

from django.conf import settings

# A JSON string (its escapes included) or one bracket: the scan skips brackets inside strings.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
# The same strings alone (the same language, unrolled: faster); everything but a bracket; an innermost pair.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")  # bytes.translate deletes them
_INNERMOST = re.compile(rb"\[\]|\{\}")
# Escapes that decode to a character no database column takes: NUL and the surrogates U+D800-U+DFFF.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class InvalidJSON(ValueError):
    """Text that is not JSON the API accepts; the message says why."""


def max_depth() -> int:
    return settings.RHYTHMIC_MAX_JSON_DEPTH


def _check_depth(text: str, limit: int) -> None:
    if text.count("[") + text.count("{") <= limit:
        return  # too few brackets to nest deeper (the common case for one message: no scan)
    # A batch has many brackets but little depth: its strings dropped and the rest reduced to brackets, each pass
    # of a C regex removes the innermost pairs ("[]", "{}"), so a well-nested text is empty after as many passes
    # as it is deep. Anything else (too deep, unbalanced) goes to the exact scan, which says why.
    # Without escapes and with every quote paired, the strings are what lies between a quote and the next.
    plain = "\\" not in text and text.count('"') % 2 == 0
    outside = "".join(text.split('"')[::2]) if plain else _STRING.sub("", text)
    brackets = outside.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        brackets, removed = _INNERMOST.subn(b"", brackets)
        if not brackets:
            return
        if not removed:
            break
    _scan_depth(text, limit)


def _scan_depth(text: str, limit: int) -> None:
    depth = 0
    for match in _TOKEN.finditer(text):
        first = match.group()[0]
        if first in ("[", "{"):
            depth += 1
            if depth > limit:
                raise InvalidJSON(f"JSON nested deeper than {limit} levels (RHYTHMIC_MAX_JSON_DEPTH)")
        elif first in ("]", "}"):
            depth -= 1


def unstorable(text: str) -> bool:
    """True when ``text`` holds a NUL character or a lone surrogate."""
    return _UNSTORABLE.search(text) is not None


def _check_strings(value: Any) -> None:
    """Every string and key of a decoded value, without recursion (the depth is checked already, but cheaply)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if unstorable(item):
                raise InvalidJSON(f"strings may not contain NUL characters or lone surrogates: {item[:40]!r}")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads(text: str | bytes) -> Any:
    """``json.loads`` for untrusted text: InvalidJSON (a ValueError) for anything the API refuses."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidJSON(f"JSON must be UTF-8: {exc}") from None
    _check_depth(text, max_depth())
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise InvalidJSON(str(exc)) from None
    if _UNSTORABLE_ESCAPE.search(text):
        _check_strings(value)
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (send null or a finite number)")
