"""The API's one JSON reader and its one text check, used by DRF's parsers, the chantilly routes and the sockets.

``loads`` refuses nesting deeper than RHYTHMIC_MAX_JSON_DEPTH, found by a scan of the text before ``json.loads``
recurses, and ``check_text`` refuses NUL characters and lone surrogates, which PostgreSQL cannot store (SQLite
can): both databases answer the same 400.
"""

import codecs
import json
import re
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# A JSON string (its escapes included) or one bracket: the scan skips brackets inside strings.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
# Escapes that decode to a character no database column takes: NUL and the surrogates U+D800-U+DFFF.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class InvalidJSON(ValueError):
    """Text that is not JSON the API accepts; the message says why."""


def max_depth() -> int:
    return settings.RHYTHMIC_MAX_JSON_DEPTH


def _check_depth(text: str, limit: int) -> None:
    if text.count("[") + text.count("{") <= limit:
        return  # too few brackets to nest deeper (the common case: no scan)
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


def check_text(value: str, *, what: str) -> None:
    """ParseError (400) when ``value``, a path, query string or form field, holds what no database stores."""
    if unstorable(value):
        raise ParseError(f"{what} may not contain NUL characters (%00) or lone surrogates")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through ``loads``: a 400 in the API's shape for deep nesting, NUL and bad JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            return loads(text)
        except ValueError as exc:  # InvalidJSON, and UnicodeDecodeError from the reader
            raise ParseError(f"JSON parse error - {exc}") from None


class _CheckedFields:
    """Form parsers whose field values pass ``check_text`` (files are bytes, stored as they are)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        data = parsed.data if isinstance(parsed, parsers.DataAndFiles) else parsed
        for key, values in data.lists():
            check_text(key, what="form field names")
            for value in values:
                check_text(value, what=f"form field {key[:40]!r}")
        return parsed


class FormParser(_CheckedFields, parsers.FormParser):
    pass


class MultiPartParser(_CheckedFields, parsers.MultiPartParser):
    pass
