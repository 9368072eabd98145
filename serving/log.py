"""The learn log, pending predictions and checkpoints: the serving core's durable state in the database.

Appends take the model row's lock (``UPDATE ... learn_seq = learn_seq + n``) and hold it until commit, so
appends to one model are serialized and a sequence number becomes visible only after every smaller one.

The per-request statements are written as SQL (the same text on SQLite and Postgres): building them with
the ORM cost more than running them.
"""

import contextlib
import json
import logging
import math
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from catalogue.errors import NotFound
from catalogue.models import Location, MLModel, ModelVersion
from serving.models import Checkpoint, LearnEvent, PendingPrediction, ShadowPrediction, VersionSkip

MODEL = MLModel._meta.db_table
LOCATION = Location._meta.db_table
EVENT = LearnEvent._meta.db_table
PENDING = PendingPrediction._meta.db_table
VERSION = ModelVersion._meta.db_table
SHADOW = ShadowPrediction._meta.db_table

logger = logging.getLogger(__name__)


class Head(NamedTuple):
    model_id: int
    production_version_id: int | None
    learn_seq: int
    flavor: str
    location: str | None
    pending_labelled: int = 0
    pending_expired: int = 0
    #: Versions that learn beside production and never answer (ModelVersion ids, in the order added).
    challenger_ids: tuple[int, ...] = ()
    canary_version_id: int | None = None
    canary_percent: float = 0.0
    #: The last seq whose entry has shadow predictions (0: none yet).
    shadow_seq: int = 0
    generation: int = 0  # MLModel.state_generation: a rewind bumps it, and every process reloads its replicas

    def learning(self) -> tuple[int, ...]:
        """Every version that predicts and learns each event: production, the canary, the challengers."""
        found = [self.production_version_id] if self.production_version_id is not None else []
        if self.canary_version_id is not None and self.canary_version_id not in found:
            found.append(self.canary_version_id)
        found.extend(pk for pk in self.challenger_ids if pk not in found)
        return tuple(found)


class Event(NamedTuple):
    seq: int
    version_id: int
    features: dict
    ground_truth: Any
    prediction: Any  # encoded, see codec


def pending_key(prediction_id: Any) -> str:
    """42 and "42" are different ids: the key is the id's JSON text."""
    if type(prediction_id) is int:  # the batch path's usual id: its JSON text, without json's call overhead
        return str(prediction_id)
    return json.dumps(prediction_id)


_encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder: json.dumps with options builds one per call


def _json(value: Any) -> str | None:
    """The JSON text of ``value`` (compact). A finite float, an int and a stored ``{"value": float}`` prediction,
    the columns of almost every row, skip the encoder's per-call set-up: the same text (json writes a finite
    float as its repr)."""
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return float.__repr__(value)
    elif kind is int:
        return int.__repr__(value)
    elif kind is dict and len(value) == 1:
        number = value.get("value")
        if type(number) is float and math.isfinite(number):
            return '{"value":' + float.__repr__(number) + "}"
    elif value is None:
        return None
    return _encode(value)


def _now() -> Any:
    return connection.ops.adapt_datetimefield_value(timezone.now())


_NO_CHALLENGERS = ("[]", "", None)


def _head_columns(location: str) -> str:
    """The columns of a Head, of the model row ``m``; ``location``: the expression of its location's name."""
    return (
        f"m.id, m.production_version_id, m.learn_seq, m.flavor, {location}, m.pending_labelled, m.pending_expired, "
        "m.challenger_ids, m.canary_version_id, m.canary_percent, m.shadow_seq, m.state_generation"
    )


HEAD_COLUMNS = _head_columns("l.name")
HEAD_FROM = f"FROM {MODEL} m LEFT JOIN {LOCATION} l ON l.id = m.location_id"
# The same columns in an UPDATE ... RETURNING of the model row (no join there).
_UPDATE_HEAD = _head_columns(f"(SELECT l.name FROM {LOCATION} l WHERE l.id = m.location_id)")  # noqa: S608


def _head(row: tuple) -> Head:
    challengers = () if row[7] in _NO_CHALLENGERS else tuple(json.loads(row[7]))
    return Head(*row[:7], challengers, *row[8:12])


def _prepared():
    """A cursor whose statements the server prepares once per connection (rhythmic.db.postgresql), for the
    statements every request runs; Django's cursor elsewhere (SQLite runs in this process: nothing to save)."""
    prepared = getattr(connection, "prepared_cursor", None)
    return connection.cursor() if prepared is None else prepared()


def read_head(name: str) -> Head | None:
    with _prepared() as cursor:
        cursor.execute(f"SELECT {HEAD_COLUMNS} {HEAD_FROM} WHERE m.name = %s", [name])
        row = cursor.fetchone()
    return None if row is None else _head(row)


def one_statement() -> bool:
    """True when a statement may hold several writes (Postgres' data-modifying WITH): a learn by id is then one
    statement, a transaction of its own, and a predict's pending row is stored in the statement that reads the
    head. SQLite has no such statement (and no round trips to save: it runs in this process)."""
    return connection.vendor == "postgresql"


def read_shadow(*, model_id: int, after: int, upto: int, version_ids) -> dict[int, list[tuple[int, Any]]]:
    """The shadow predictions of ``version_ids`` for entries in (after, upto]: {seq: [(version_id, encoded)]}."""
    found: dict[int, list[tuple[int, Any]]] = {}
    rows = (
        ShadowPrediction.objects.filter(model_id=model_id, seq__gt=after, seq__lte=upto, version_id__in=version_ids)
        .order_by("seq", "version_id")
        .values_list("seq", "version_id", "prediction")
    )
    for seq, version_id, prediction in rows:
        found.setdefault(seq, []).append((version_id, prediction))
    return found


def version_stream(*, model_id: int, version_id: int, after: int, upto: int) -> list[Event]:
    """The entries in (after, upto] that ``version_id`` learned, in seq order: those it answered and those it
    predicted beside the answering version (its shadow rows, with its own prediction)."""
    answered = read_tail(model_id=model_id, after=after, upto=upto, version_id=version_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.seq, e.features, e.ground_truth, s.prediction FROM {SHADOW} s "  # noqa: S608
            f"JOIN {EVENT} e ON e.model_id = s.model_id AND e.seq = s.seq "
            "WHERE s.version_id = %s AND s.seq > %s AND s.seq <= %s",
            [version_id, after, upto],
        )
        shadowed = [
            Event(seq, version_id, json.loads(features), _loads(ground_truth), _loads(prediction))
            for seq, features, ground_truth, prediction in cursor.fetchall()
        ]
    if not shadowed:
        return answered
    return sorted(answered + shadowed, key=lambda event: event.seq)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def read_tail(*, model_id: int, after: int, upto: int, version_id: int | None = None) -> list[Event]:
    events = LearnEvent.objects.filter(model_id=model_id, seq__gt=after, seq__lte=upto)
    if version_id is not None:
        events = events.filter(version_id=version_id)
    rows = events.order_by("seq").values_list("seq", "version_id", "features", "ground_truth", "prediction")
    return [Event(*row) for row in rows]


# --- entries a version does not learn (a rewind put them aside) ----------------------------------------

Skips = tuple[tuple[int, int], ...]  # inclusive (from_seq, to_seq) ranges, in order


def skips(version_id: int) -> Skips:
    """The ranges of log entries the version does not learn (read once per replica load)."""
    return tuple(
        VersionSkip.objects.filter(version_id=version_id).order_by("from_seq").values_list("from_seq", "to_seq")
    )


def is_skipped(seq: int, ranges: Skips) -> bool:
    return any(low <= seq <= high for low, high in ranges)


def without_skipped(events: list[Event], ranges: Skips) -> list[Event]:
    """``events`` less those a version does not learn: the filter every replay applies."""
    return [e for e in events if not is_skipped(e.seq, ranges)] if ranges else events


def append(*, model_id: int, entries: list[dict]) -> list[int]:
    """Append entries (version_id, key, features, ground_truth, prediction) in order; call inside a transaction.

    Returns their sequence numbers. The counter update is the one statement that serializes appenders; it
    also counts the entries with a key as labelled pending predictions (label coverage).
    """
    labelled = sum(1 for e in entries if e["key"] is not None)
    shadowed = any(e.get("shadow") for e in entries)
    # Entries with shadow predictions move the model's shadow_seq to the new head in the same statement.
    shadow_seq = ", shadow_seq = learn_seq + %s" if shadowed else ""
    with _prepared() as cursor:
        cursor.execute(
            f"UPDATE {MODEL} SET learn_seq = learn_seq + %s, pending_labelled = pending_labelled + %s"  # noqa: S608
            f"{shadow_seq} WHERE id = %s RETURNING learn_seq",
            [len(entries), labelled, *([len(entries)] if shadowed else []), model_id],
        )
        row = cursor.fetchone()
        if row is None:
            raise NotFound("the model was deleted")
        head = row[0]
        first = head - len(entries) + 1
        now = _now()
        _insert(
            cursor,
            f"INSERT INTO {EVENT} (model_id, seq, version_id, key, features, ground_truth, prediction, created_at) ",
            "",
            _EVENT_TYPES,
            [
                (
                    model_id,
                    first + i,
                    e["version_id"],
                    e["key"],
                    # The JSON text of a pending prediction's features and prediction goes in as it was read.
                    e.get("features_json") or _json(e["features"]),
                    _json(e["ground_truth"]),
                    e.get("prediction_json") or _json(e["prediction"]),
                    now,
                )
                for i, e in enumerate(entries)
            ],
        )
        if shadowed:
            _insert(
                cursor,
                f"INSERT INTO {SHADOW} (model_id, seq, version_id, prediction) ",
                "",
                ("bigint", "bigint", "bigint", "text"),
                [
                    (model_id, first + i, version_id, _json(prediction))
                    for i, e in enumerate(entries)
                    for version_id, prediction in (e.get("shadow") or {}).items()
                ],
            )
    return list(range(first, head + 1))


ROWS_PER_STATEMENT = 500  # 8 columns each: well under SQLite's 32,766 parameters per statement
#: The Postgres types of a learn log entry's columns, in append's order.
_EVENT_TYPES = ("bigint", "bigint", "bigint", "text", "text", "text", "text", "timestamptz")


def _insert(cursor, head: str, tail: str, types: tuple[str, ...], rows: list[tuple]) -> None:
    """``head VALUES (...), (...) tail``: a batch as few multi-row statements. psycopg would send executemany's
    rows as separate statements (each parsed and run alone) and Python's sqlite3 steps them one by one.

    On Postgres the batch is one statement whatever its size: one array per column (``types``: their element
    types), ``unnest`` into rows. A statement with a placeholder per value cost psycopg more than the database:
    it splits a query's text on its placeholders in Python, and caches that only for short queries (40% of a
    learn-many's CPU); this one's text is short and the same for every batch, so it is prepared once. The arrays go
    in binary (``%b``): psycopg escapes each element of a text array with a regular expression in Python (JSON
    is full of quotes to escape), 20 times slower."""
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%b::{kind}[]" for kind in types)
        columns = [list(column) for column in zip(*rows, strict=True)]
        cursor.execute(f"{head}SELECT * FROM unnest({arrays}) {tail}", columns)  # noqa: S608
        return
    row = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        cursor.execute(f"{head}VALUES {', '.join([row] * len(chunk))} {tail}", [v for r in chunk for v in r])


# --- pending predictions ------------------------------------------------------------------------


def pending_ttl() -> timedelta:
    return timedelta(seconds=settings.RHYTHMIC_PENDING_TTL)


class Pending(NamedTuple):
    version_id: int
    features: dict
    prediction: Any  # encoded
    shadow: dict[int, Any] | None = None  # {version id: encoded prediction} of the other learning versions
    #: The stored JSON text of ``features`` and ``prediction``: a learn logs it as it is (no encoding again).
    features_json: str | None = None
    prediction_json: str | None = None


def pending_put(*, model_id: int, rows: list[tuple]) -> int:
    """Store (key, version_id, features, encoded prediction[, shadow]); a new prediction with a known id replaces it.
    Returns how many rows were stored (one per key). Expiry and the cap are the caller's (``inference``)."""
    now = _now()
    # One row per key, the last one: a statement may not upsert the same row twice (Postgres).
    unique = list(
        {
            row[0]: (
                model_id,
                row[0],
                row[1],
                _json(row[2]),
                _json(row[3]),
                _json(row[4]) if len(row) > 4 else None,
                now,
            )
            for row in rows
        }.values()
    )
    # A batch of several statements is one transaction (not a commit each); a single statement needs none,
    # and BEGIN and COMMIT would be two more round trips for every predict.
    several = len(unique) > ROWS_PER_STATEMENT and connection.vendor != "postgresql"
    with transaction.atomic(savepoint=False) if several else contextlib.nullcontext(), _prepared() as cursor:
        _insert(cursor, f"INSERT INTO {PENDING} {_PENDING_COLUMNS} ", _PENDING_UPSERT, _PENDING_TYPES, unique)
    return len(unique)


_PENDING_COLUMNS = "(model_id, key, version_id, features, prediction, shadow, created_at)"
_PENDING_TYPES = ("bigint", "text", "bigint", "text", "text", "text", "timestamptz")
_PENDING_UPSERT = (
    "ON CONFLICT (model_id, key) DO UPDATE SET "
    "version_id = excluded.version_id, features = excluded.features, "
    "prediction = excluded.prediction, shadow = excluded.shadow, created_at = excluded.created_at"
)


def pending_put_reading_head(*, model_id: int, row: tuple) -> Head | None:
    """``pending_put`` of one row, in the statement that reads the model's head after it (``one_statement()``
    only): one round trip for a predict with an id. The head is what a read at the statement's start sees (every
    learn committed before it). None: no such model (deleted)."""
    key, version_id, features, prediction = row[:4]
    shadow = _json(row[4]) if len(row) > 4 else None
    with _prepared() as cursor:
        cursor.execute(
            # The row is stored only while the model exists: a process that has not seen it deleted stores nothing
            # (and finds no head), even inside a transaction, where the foreign key is checked only at commit.
            f"WITH stored AS (INSERT INTO {PENDING} {_PENDING_COLUMNS} "  # noqa: S608
            f"SELECT %s, %s, %s, %s, %s, %s, %s FROM {MODEL} WHERE id = %s {_PENDING_UPSERT}) "
            f"SELECT {HEAD_COLUMNS} {HEAD_FROM}{_async_commit()} "
            "WHERE m.id = %s",
            [model_id, key, version_id, _json(features), _json(prediction), shadow, _now(), model_id, model_id],
        )
        found = cursor.fetchone()
    return None if found is None else _head(found)


# RHYTHMIC_PENDING_SYNCHRONOUS_COMMIT off: the statement's own transaction commits without waiting for the WAL
# flush (set_config local to it; a statement of its own is its transaction). The next flush (every learn's commit
# waits for one) writes it too.
_ASYNC = " CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) async_commit"


def _async_commit() -> str:
    """The join that makes the statement's commit asynchronous, when set so and the statement is its own
    transaction (inside a caller's transaction the setting would last until that one commits)."""
    return "" if settings.RHYTHMIC_PENDING_SYNCHRONOUS_COMMIT or connection.in_atomic_block else _ASYNC


class Logged(NamedTuple):
    """A learn by id appended in one statement: the model's head after it, and the entry."""

    head: Head
    event: Event


def learn_pending(*, model_id: int, key: str, ground_truth: Any, version_ids: list[int]) -> Logged | None:
    """Consume the pending prediction of ``key`` and append its learn, in one statement (``one_statement()``
    only): a transaction of its own, committed when this returns, without BEGIN and COMMIT round trips.

    Only a pending row the plain path would append unchanged is taken here: not expired, made by one of
    ``version_ids`` (versions known to learn), without other versions' predictions beside it. Anything else is
    left in place and None returned: the caller takes the plain path (``pending_take`` + ``append``), which
    explains or handles it. The counter's UPDATE holds the model row's lock until commit, as ``append`` does, so
    appends to one model stay serialized; it runs only when the DELETE took a row, and the entry is inserted
    from the taken row and the new counter. The head returned is the model's after the append."""
    placeholders = ", ".join(["%s"] * len(version_ids))
    cutoff = connection.ops.adapt_datetimefield_value(timezone.now() - pending_ttl())
    with _prepared() as cursor:
        cursor.execute(
            f"WITH taken AS (DELETE FROM {PENDING} WHERE model_id = %s AND key = %s AND created_at >= %s "  # noqa: S608
            f"AND shadow IS NULL AND version_id IN ({placeholders}) RETURNING version_id, features, prediction), "
            f"bumped AS (UPDATE {MODEL} m SET learn_seq = m.learn_seq + 1, "
            "pending_labelled = m.pending_labelled + 1 "
            f"WHERE m.id = %s AND EXISTS (SELECT 1 FROM taken) RETURNING {_UPDATE_HEAD}), "
            f"logged AS (INSERT INTO {EVENT} (model_id, seq, version_id, key, features, ground_truth, prediction, "
            "created_at) SELECT b.id, b.learn_seq, t.version_id, %s, t.features, %s, t.prediction, %s "
            "FROM taken t, bumped b) "
            "SELECT b.*, t.version_id, t.features, t.prediction FROM bumped b, taken t",
            [model_id, key, cutoff, *version_ids, model_id, key, _json(ground_truth), _now()],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    head = _head(row[:12])
    version_id, features, prediction = row[12:]
    return Logged(head, Event(head.learn_seq, version_id, json.loads(features), ground_truth, _loads(prediction)))


def pending_drop(*, model_id: int, key: str) -> None:
    """Remove one pending prediction (stored for a predict that was refused after all)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {PENDING} WHERE model_id = %s AND key = %s", [model_id, key])  # noqa: S608


def pending_trim(*, model_id: int, cap: int) -> int:
    """Expire the model's oldest pending predictions beyond the newest ``cap``; returns how many."""
    newest_first = PendingPrediction.objects.filter(model_id=model_id).order_by("-created_at", "-pk")
    beyond = newest_first.values_list("pk", flat=True)[cap:]
    with transaction.atomic():
        deleted, _ = PendingPrediction.objects.filter(pk__in=beyond).delete()
        _count_expired(model_id=model_id, n=deleted)
    return deleted


def _count_expired(*, model_id: int, n: int) -> None:
    if n:
        MLModel.objects.filter(pk=model_id).update(pending_expired=F("pending_expired") + n)


def pending_take(*, model_id: int, keys: list[str]) -> dict[str, Pending]:
    """Consume the pending predictions of ``keys`` in one DELETE ... RETURNING, so concurrent learns with
    one id cannot both get it. Call inside the transaction that appends their learns: a rollback puts them
    back. Expired ones are consumed too, and not returned."""
    cutoff = connection.ops.adapt_datetimefield_value(timezone.now() - pending_ttl())
    if connection.vendor == "postgresql":  # one array, not a placeholder per key (see _insert)
        matching, params = "= ANY(%b::text[])", [model_id, keys, cutoff]
    else:
        matching, params = f"IN ({', '.join(['%s'] * len(keys))})", [model_id, *keys, cutoff]
    with _prepared() as cursor:
        # Whether each is fresh is the database's comparison (SQLite's stored text sorts as its time does):
        # parsing every row's time in Python cost more than the statement.
        cursor.execute(
            f"DELETE FROM {PENDING} WHERE model_id = %s AND key {matching} "  # noqa: S608
            "RETURNING key, version_id, features, prediction, shadow, created_at >= %s",
            params,
        )
        rows = cursor.fetchall()
    fresh = [row for row in rows if row[5]]
    features, predictions = _loads_all([row[2] for row in fresh]), _loads_all([row[3] for row in fresh])
    taken = {
        key: Pending(version_id, features[i], predictions[i], _shadow(shadow), features_json, prediction_json)
        for i, (key, version_id, features_json, prediction_json, shadow, _) in enumerate(fresh)
    }
    _count_expired(model_id=model_id, n=len(rows) - len(taken))
    return taken


def _loads_all(texts: list[str | None]) -> list[Any]:
    """``[_loads(text) for text in texts]`` in one ``json.loads`` of their JSON array (a call per row cost more
    than the parsing); each text is decoded on its own if the array has not one value per text."""
    values = json.loads("[" + ",".join("null" if text is None else text for text in texts) + "]")
    if len(values) != len(texts):  # a text that is not one JSON value (never written here): as it was
        return [_loads(text) for text in texts]
    return values


def pending_held(*, model_id: int, rows: list[tuple], created_at: Any) -> dict[str, Pending]:
    """What ``pending_take`` would answer for ``rows`` (pending_put's tuples, made at ``created_at``) had they been
    stored and taken back: rows handed from a predict to the learn right after it in memory (``Handoff``). The
    same JSON text both ways (a learn logs it and learns what it decodes to, as every replica will); expired ones
    are counted and left out, as there. Call inside the transaction that appends their learns: it deletes an
    older pending row of the same ids, which pending_put would have replaced."""
    if not rows:
        return {}
    keys = [row[0] for row in rows]
    if connection.vendor == "postgresql":  # one array, not a placeholder per key (see _insert)
        matching, params = "= ANY(%b::text[])", [model_id, keys]
    else:
        matching, params = f"IN ({', '.join(['%s'] * len(keys))})", [model_id, *keys]
    with _prepared() as cursor:
        cursor.execute(f"DELETE FROM {PENDING} WHERE model_id = %s AND key {matching}", params)  # noqa: S608
    if created_at < timezone.now() - pending_ttl():
        _count_expired(model_id=model_id, n=len(rows))
        return {}
    taken = {}
    for row in rows:
        features, prediction = _json(row[2]), _json(row[3])
        shadow = _json(row[4]) if len(row) > 4 else None
        decoded = _round_trip(row[2], features), _round_trip(row[3], prediction)
        taken[row[0]] = Pending(row[1], *decoded, _shadow(shadow), features, prediction)
    return taken


_NATIVE = (float, int, str, bool, type(None))


def _round_trip(value: Any, text: str | None) -> Any:
    """``json.loads(text)`` where ``text`` is ``value``'s JSON: ``value`` itself when decoding would give it back
    unchanged (a flat object of str keys and JSON's own scalars: a finite float's repr reads back exactly; a
    pending row's features or ``{"value": float}`` prediction), else the decoded text."""
    if text is None:
        return None
    if type(value) is dict and all(type(key) is str for key in value):
        for item in value.values():
            kind = type(item)
            if kind not in _NATIVE or (kind is float and not math.isfinite(item)):
                break
        else:
            return value
    return json.loads(text)


def _shadow(text: str | None) -> dict[int, Any] | None:
    """JSON object keys are text: the version ids come back as ints."""
    return None if text is None else {int(pk): prediction for pk, prediction in json.loads(text).items()}


def was_learned(*, model_id: int, key: str) -> bool:
    return LearnEvent.objects.filter(model_id=model_id, key=key).exists()


def pending_expire() -> int:
    """Remove pending predictions older than RHYTHMIC_PENDING_TTL, counting them per model; returns how many."""
    expired = PendingPrediction.objects.filter(created_at__lt=timezone.now() - pending_ttl())
    total = 0
    for model_id in expired.values_list("model_id", flat=True).distinct():
        with transaction.atomic():
            deleted, _ = expired.filter(model_id=model_id).delete()
            _count_expired(model_id=model_id, n=deleted)
        total += deleted
    return total


# --- checkpoints --------------------------------------------------------------------------------


def checkpoint_latest(*, version_id: int, upto: int | None = None) -> Checkpoint | None:
    """The version's newest checkpoint (including entries up to ``upto`` at most, if given)."""
    checkpoints = Checkpoint.objects.filter(version_id=version_id)
    if upto is not None:
        checkpoints = checkpoints.filter(seq__lte=upto)
    return checkpoints.order_by("-seq").first()


def checkpoint_latest_seq(*, version_id: int) -> int:
    """The seq of the version's newest checkpoint (0: none), without reading its state."""
    found = Checkpoint.objects.filter(version_id=version_id).order_by("-seq").values_list("seq", flat=True).first()
    return found or 0


def lock_generation(*, version_id: int) -> int | None:
    """Hold the version row FOR SHARE until commit (a rewind holds it FOR UPDATE while it changes what the
    version learned) and return its model's state generation, read after the lock. None: no such version.
    Call inside a transaction. SQLite runs one writer at a time: no row lock is needed there."""
    with connection.cursor() as cursor:
        if connection.features.has_select_for_update:
            cursor.execute(f"SELECT id FROM {VERSION} WHERE id = %s FOR SHARE", [version_id])  # noqa: S608
        # A statement of its own, after the lock: it sees what a rewind committed.
        cursor.execute(
            f"SELECT m.state_generation FROM {MODEL} m JOIN {VERSION} v ON v.model_id = m.id WHERE v.id = %s",  # noqa: S608
            [version_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def checkpoint_write(
    *, version_id: int, seq: int, n_learned: int, state: bytes, metrics: bytes, generation: int | None = None
) -> bool:
    """Store a checkpoint (a replica at the same seq has the same state, so a duplicate is ignored)
    and keep only the newest few per version.

    With ``generation`` (the state generation the replica was loaded in), it is stored only if no rewind came
    since: a rewind holds the version row FOR UPDATE while it deletes the checkpoints it undoes, and this waits
    for it (FOR SHARE), so a replica that has not yet seen a rewind cannot store the state the rewind undid.
    False when it was refused (SQLite runs one writer at a time: no row lock needed)."""
    with transaction.atomic():
        if generation is not None and lock_generation(version_id=version_id) != generation:
            return False
        Checkpoint.objects.bulk_create(
            [Checkpoint(version_id=version_id, seq=seq, n_learned=n_learned, state=state, metrics=metrics)],
            ignore_conflicts=True,
        )
    keep = settings.RHYTHMIC_CHECKPOINTS_KEPT
    stale = Checkpoint.objects.filter(version_id=version_id).order_by("-seq").values_list("pk", flat=True)[keep:]
    Checkpoint.objects.filter(pk__in=list(stale)).delete()
    return True
