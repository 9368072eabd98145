"""Django's SQLite backend with two costs of every statement taken off the serving hot path.

- Django turns each statement's ``%s`` placeholders into SQLite's ``?`` with a regular expression, at every
  execution. The cursor here remembers the converted text of the statements it has seen (the serving core runs
  the same few again and again), so each is converted once per process.
- Under ``DEBUG`` (`make run`'s default) Django records every statement with its parameters, and to quote them
  its SQLite backend runs one more statement, ``SELECT QUOTE(?), ...``, per recorded statement. The parameters
  are quoted in Python here, as SQLite's ``QUOTE()`` writes them: the record reads the same, without a second
  statement per statement.
"""

from collections.abc import Mapping

from django.db.backends.sqlite3 import base, operations

#: Converted statement texts remembered per process; past this many the memory starts afresh.
CONVERTED = 1024
#: Longer texts (a batch's many-row statements, whose rows cost far more than converting) are converted each time.
CONVERTED_CHARS = 8192


def quote(value) -> str:
    """``value`` as a literal in SQL, as SQLite's ``QUOTE()`` writes it (for the DEBUG record only)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN: SQLite stores it as NULL
            return "NULL"
        if value in (float("inf"), float("-inf")):
            return "Inf" if value > 0 else "-Inf"
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    if isinstance(value, bytes | bytearray | memoryview):
        return f"X'{bytes(value).hex().upper()}'"
    return "'" + str(value).replace("'", "''") + "'"


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        if not params:
            return sql  # as Django's: a statement without parameters is recorded as written
        if isinstance(params, Mapping):
            return sql % {name: quote(value) for name, value in params.items()}
        return sql % tuple(quote(value) for value in params)


class CursorWrapper(base.SQLiteCursorWrapper):
    _converted: dict[str, str] = {}

    def convert_query(self, query, *, param_names=None):
        if param_names is not None or len(query) > CONVERTED_CHARS:  # named parameters (rare), or long
            return super().convert_query(query, param_names=param_names)
        converted = CursorWrapper._converted.get(query)
        if converted is None:
            if len(CursorWrapper._converted) >= CONVERTED:
                CursorWrapper._converted = {}
            converted = CursorWrapper._converted[query] = super().convert_query(query)
        return converted


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=CursorWrapper)
