"""The learn log, pending predictions and checkpoints: the serving core's durable state in the database.

Appends take the model row's lock (``UPDATE ... learn_seq = learn_seq + n``) and hold it until commit, so
appends to one model are serialized and a sequence number becomes visible only after every smaller one.
"""

import json
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection
from django.utils import timezone

from catalogue.models import Checkpoint, LearnEvent, MLModel, PendingPrediction


class Head(NamedTuple):
    model_id: int
    production_version_id: int | None
    learn_seq: int
    flavor: str


class Event(NamedTuple):
    seq: int
    version_id: int
    features: dict
    ground_truth: Any
    prediction: Any  # encoded, see codec


def pending_key(prediction_id: Any) -> str:
    """42 and "42" are different ids: the key is the id's JSON text."""
    return json.dumps(prediction_id)


def read_head(name: str) -> Head | None:
    row = MLModel.objects.filter(name=name).values_list("pk", "production_version_id", "learn_seq", "flavor").first()
    return Head(*row) if row else None


def read_tail(*, model_id: int, after: int, upto: int, version_id: int | None = None) -> list[Event]:
    events = LearnEvent.objects.filter(model_id=model_id, seq__gt=after, seq__lte=upto)
    if version_id is not None:
        events = events.filter(version_id=version_id)
    rows = events.order_by("seq").values_list("seq", "version_id", "features", "ground_truth", "prediction")
    return [Event(*row) for row in rows]


def append(*, model_id: int, entries: list[dict]) -> list[int]:
    """Append entries (version_id, key, features, ground_truth, prediction) in order; call inside a transaction.

    Returns their sequence numbers. The counter update is the one statement that serializes appenders.
    """
    table = MLModel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET learn_seq = learn_seq + %s WHERE id = %s RETURNING learn_seq",  # noqa: S608
            [len(entries), model_id],
        )
        head = cursor.fetchone()[0]
    first = head - len(entries) + 1
    LearnEvent.objects.bulk_create(
        [LearnEvent(model_id=model_id, seq=first + i, **entry) for i, entry in enumerate(entries)]
    )
    return list(range(first, head + 1))


# --- pending predictions ------------------------------------------------------------------------


def pending_ttl() -> timedelta:
    return timedelta(seconds=settings.RHYTHMIC_PENDING_TTL)


def pending_put(*, model_id: int, rows: list[tuple[str, int, dict, Any]]) -> None:
    """Store (key, version_id, features, encoded prediction); a new prediction with a known id replaces it."""
    now = timezone.now()
    PendingPrediction.objects.bulk_create(
        [
            PendingPrediction(
                model_id=model_id,
                key=key,
                version_id=version_id,
                features=features,
                prediction=prediction,
                created_at=now,
            )
            for key, version_id, features, prediction in rows
        ],
        update_conflicts=True,
        unique_fields=["model", "key"],
        update_fields=["version", "features", "prediction", "created_at"],
    )


def pending_take(*, model_id: int, keys: list[str]) -> dict[str, PendingPrediction]:
    """Lock and return the live pending predictions for ``keys``; call inside a transaction, then delete them."""
    cutoff = timezone.now() - pending_ttl()
    rows = PendingPrediction.objects.select_for_update().filter(model_id=model_id, key__in=keys)
    return {row.key: row for row in rows if row.created_at >= cutoff}


def pending_delete(*, model_id: int, keys: list[str]) -> None:
    PendingPrediction.objects.filter(model_id=model_id, key__in=keys).delete()


def was_learned(*, model_id: int, key: str) -> bool:
    return LearnEvent.objects.filter(model_id=model_id, key=key).exists()


def pending_expire() -> int:
    """Remove pending predictions older than RHYTHMIC_PENDING_TTL; returns how many."""
    deleted, _ = PendingPrediction.objects.filter(created_at__lt=timezone.now() - pending_ttl()).delete()
    return deleted


# --- checkpoints --------------------------------------------------------------------------------


def checkpoint_latest(*, version_id: int, upto: int) -> Checkpoint | None:
    return Checkpoint.objects.filter(version_id=version_id, seq__lte=upto).order_by("-seq").first()


def checkpoint_write(*, version_id: int, seq: int, n_learned: int, state: bytes, metrics: bytes) -> None:
    """Store a checkpoint (a replica at the same seq has the same state, so a duplicate is ignored)
    and keep only the newest few per version."""
    Checkpoint.objects.bulk_create(
        [Checkpoint(version_id=version_id, seq=seq, n_learned=n_learned, state=state, metrics=metrics)],
        ignore_conflicts=True,
    )
    keep = settings.RHYTHMIC_CHECKPOINTS_KEPT
    stale = Checkpoint.objects.filter(version_id=version_id).order_by("-seq").values_list("pk", flat=True)[keep:]
    Checkpoint.objects.filter(pk__in=list(stale)).delete()
