"""DRF's parsers through the one JSON reader (``catalogue.jsontext``), and the one text check for paths and forms.

``check_text`` refuses NUL characters and lone surrogates, which PostgreSQL cannot store (SQLite can): both
databases answer the same 400.
"""

import codecs

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from catalogue.jsontext import InvalidJSON, loads, unstorable

__all__ = ["FormParser", "InvalidJSON", "JSONParser", "MultiPartParser", "check_text", "loads", "unstorable"]


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
