"""Learn-log retention: delete the entries no replica needs any more and that are older than the retention.

A replica loads a version from that version's newest checkpoint and replays the version's entries after it,
so an entry of version V is needed only while no checkpoint of V covers it. Every version is treated alike
(production, challengers, retired ones): the prune first checkpoints a version whose old entries no
checkpoint covers yet, then deletes them. A process that had not applied them finds the hole in the
sequence and reloads its replicas from those checkpoints (``ModelEntry.sync``).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from catalogue.models import MLModel, ModelVersion
from serving import log
from serving.models import Checkpoint, LearnEvent, ShadowPrediction
from serving.process import current

logger = logging.getLogger(__name__)

DELETE_CHUNK = 5000  # entries per DELETE: short transactions, appends never wait long


def log_prune(*, now: datetime | None = None) -> int:
    """Prune every model's learn log (RHYTHMIC_LOG_RETENTION_DAYS, RHYTHMIC_LOG_RETENTION_ENTRIES); returns how
    many entries were deleted. Both bounds 0: nothing is ever deleted."""
    days, entries = settings.RHYTHMIC_LOG_RETENTION_DAYS, settings.RHYTHMIC_LOG_RETENTION_ENTRIES
    if not days and not entries:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days) if days else None
    deleted = 0
    for model_id, name, learn_seq, generation in MLModel.objects.values_list(
        "pk", "name", "learn_seq", "state_generation"
    ):
        bound = learn_seq - entries if entries else 0
        if cutoff is not None:
            bound = max(bound, _last_seq_before(model_id=model_id, head=learn_seq, cutoff=cutoff))
        if bound > 0:
            deleted += _prune_model(model_id=model_id, name=name, bound=bound, generation=generation)
    return deleted


def _last_seq_before(*, model_id: int, head: int, cutoff: datetime) -> int:
    """The highest seq of an entry created before ``cutoff`` (0: none). Entries are stamped under the model's
    lock as they are numbered, so their times follow seq order: a binary search on the (model, seq) index
    instead of a scan of every entry's time."""
    low, high = 0, head
    while low < high:
        middle = (low + high + 1) // 2
        found = (
            LearnEvent.objects.filter(model_id=model_id, seq__gte=middle)
            .order_by("seq")
            .values_list("seq", "created_at")
            .first()
        )
        if found is not None and found[1] < cutoff:
            low = found[0]
        else:
            high = middle - 1
    return low


def _prune_model(*, model_id: int, name: str, bound: int, generation: int) -> int:
    """Delete the model's entries up to ``bound`` that a checkpoint of their version covers."""
    covered = dict(
        Checkpoint.objects.filter(version__model_id=model_id)
        .values("version_id")
        .annotate(seq=Max("seq"))
        .values_list("version_id", "seq")
    )
    # A challenger (or the canary, or production beside it) learned entries another version answered: those
    # entries stay while any version that learned them has no checkpoint covering them.
    shadowed = ShadowPrediction.objects.filter(model_id=model_id, seq__lte=bound).exists()
    uptos, limit = {}, bound
    for version_id in ModelVersion.objects.filter(model_id=model_id).values_list("pk", flat=True):
        upto = covered.get(version_id, 0)
        if upto < bound and _learned_any(version_id=version_id, after=upto, upto=bound, shadowed=shadowed):
            upto = _checkpoint(name=name, version_id=version_id) or upto
            if upto < bound and shadowed:
                limit = min(limit, upto)
        uptos[version_id] = upto
    deleted = 0
    for version_id, upto in uptos.items():
        deleted += _delete(version_id=version_id, upto=min(upto, limit if shadowed else bound), generation=generation)
    # Shadow rows only once every entry they belong to is gone: a process catching up reads them first, then the
    # entries, so it either gets both or finds the hole (and reloads), never an entry without its shadow rows.
    for version_id, upto in uptos.items() if shadowed else ():
        _delete_shadows(version_id=version_id, upto=min(upto, limit), generation=generation)
    return deleted


def _learned_any(*, version_id: int, after: int, upto: int, shadowed: bool) -> bool:
    if LearnEvent.objects.filter(version_id=version_id, seq__gt=after, seq__lte=upto).exists():
        return True
    return shadowed and ShadowPrediction.objects.filter(version_id=version_id, seq__gt=after, seq__lte=upto).exists()


def _checkpoint(*, name: str, version_id: int) -> int | None:
    """Checkpoint a version here (loading it if this process has not), so its entries can go; its seq."""
    try:
        entry = current().replicas.entry(name)
        with entry.lock:
            loaded = version_id in entry.replicas
            replica = entry.replica(version_id)
            stored = entry.checkpoint(replica)  # refused after a rewind this entry has not seen: keep the entries
            if not loaded:  # a retired version, say: not worth keeping in memory here
                entry.replicas.pop(version_id, None)
            return entry.applied_seq if stored else None
    except Exception:  # a version that no longer loads keeps its entries; the next prune tries again
        logger.exception("could not checkpoint version %s of %s: its learn-log entries are kept", version_id, name)
        return None


def _delete(*, version_id: int, upto: int, generation: int) -> int:
    """Delete the version's entries up to ``upto``, unless a rewind came since the coverage was read (it may
    have deleted the checkpoints that covered them: the next prune reads the coverage again)."""
    deleted = 0
    while upto > 0:
        chunk = LearnEvent.objects.filter(version_id=version_id, seq__lte=upto).order_by("seq")[:DELETE_CHUNK]
        with transaction.atomic():
            if log.lock_generation(version_id=version_id) != generation:
                return deleted
            n, _ = LearnEvent.objects.filter(pk__in=chunk.values("pk")).delete()
        deleted += n
        if n < DELETE_CHUNK:
            break
    return deleted


def _delete_shadows(*, version_id: int, upto: int, generation: int) -> None:
    """Delete the version's shadow predictions up to ``upto`` (the same rewind guard as ``_delete``)."""
    if upto > 0:
        with transaction.atomic():
            if log.lock_generation(version_id=version_id) == generation:
                ShadowPrediction.objects.filter(version_id=version_id, seq__lte=upto).delete()


def maybe_prune() -> None:
    """A process that learns prunes at most every RHYTHMIC_LOG_PRUNE_SECONDS: the embedded default has no
    Celery beat, and a deployment may run without one (as the pending sweep, beat's hourly run is extra)."""
    process = current()
    if not process.pruning():
        return  # pruned lately, or another thread of this process is at it
    try:
        log_prune()
    except Exception:  # a learn was acknowledged already; the next sweep tries again
        logger.exception("the learn-log prune failed")
    finally:
        process.pruned()
