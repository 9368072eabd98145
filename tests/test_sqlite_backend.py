"""rhythmic/db/sqlite3: Django's SQLite backend, each statement's placeholders converted once and the DEBUG record's
parameters quoted without a statement of their own, as SQLite's QUOTE() writes them."""

import math
import sqlite3

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rhythmic.db.sqlite3.base import CursorWrapper, quote

pytestmark = pytest.mark.skipif("connection.vendor != 'sqlite'")

VALUES = [None, 0, 1, -7, 2**62, 1.5, 0.1, -2.25, 1e100, 1e-7, -3e20, 123456789.123, math.inf, -math.inf]
VALUES += [True, False, "", "a", "it's", "''", "é ünïcode", "%s", b"", b"\x00\xff", memoryview(b"ab")]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_parameter_is_quoted_as_sqlites_quote_writes_it(value):
    memory = sqlite3.connect(":memory:")
    try:
        expected = memory.execute("SELECT QUOTE(?)", (value,)).fetchone()[0]
    finally:
        memory.close()
    assert quote(value) == expected


def test_nan_is_quoted_as_the_null_sqlite_stores():
    assert quote(math.nan) == "NULL"


@pytest.mark.django_db
def test_the_debug_record_reads_as_djangos_with_the_parameters_in_place():
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        cursor.execute("SELECT %s, %s, %s, %s", ["it's", 2, None, b"\x01"])
        assert cursor.fetchone() == ("it's", 2, None, b"\x01")
    assert captured.captured_queries[-1]["sql"] == "SELECT 'it''s', 2, NULL, X'01'"


@pytest.mark.django_db
def test_a_statement_is_converted_once_and_runs_alike_every_time(monkeypatch):
    monkeypatch.setattr(CursorWrapper, "_converted", {})
    with connection.cursor() as cursor:
        for n in range(3):
            cursor.execute("SELECT %s + 1, '%%'", [n])
            assert cursor.fetchone() == (n + 1, "%")
    assert CursorWrapper._converted == {"SELECT %s + 1, '%%'": "SELECT ? + 1, '%'"}


@pytest.mark.django_db
def test_the_remembered_statements_are_bounded(monkeypatch):
    monkeypatch.setattr(CursorWrapper, "_converted", {})
    monkeypatch.setattr("rhythmic.db.sqlite3.base.CONVERTED", 2)
    with connection.cursor() as cursor:
        for n in range(5):
            cursor.execute(f"SELECT %s + {n}", [n])
        assert 1 <= len(CursorWrapper._converted) <= 2
        # A long text is converted each time, never remembered
        long = "SELECT %s" + " " * 9000
        cursor.execute(long, [1])
        assert cursor.fetchone() == (1,)
    assert long not in CursorWrapper._converted
