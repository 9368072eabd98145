"""Backtests: a version's artifact replayed over a range of the model's learn log, prequentially, off the request path.

``backtest_start`` checks and stores a queued backtest, then hands it to a Celery worker, or in the embedded
default (no broker: CELERY_TASK_ALWAYS_EAGER) to a thread of this process. ``run`` reads the log in seq order by
keyset, RHYTHMIC_BACKTEST_CHUNK entries at a time (bounded memory); after each chunk it stores the progress and the
metrics so far, tells the ``backtest`` observers (monitoring makes it a live event) and checks for a cancel.
Every store touches ``heartbeat_at``: a running backtest without one for RHYTHMIC_BACKTEST_STALE_SECONDS lost its
runner (a killed worker, a restarted server) and is marked failed when it is read, listed, cancelled or swept.
"""

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalogue import artifacts
from catalogue.errors import Conflict, InvalidInput, NotFound
from catalogue.flavors import get_flavor
from catalogue.models import MLModel, ModelVersion
from serving import jobs, observers
from serving.codec import decode_prediction
from serving.flavor_metrics import new_metrics
from serving.models import Backtest, LearnEvent
from serving.online_metrics import OnlineMetrics

logger = logging.getLogger(__name__)

Status = Backtest.Status


class BacktestFailed(Exception):
    """The replay cannot go on; the message, stored on the backtest, says why in a user's terms."""


class _NoLongerRunning(Exception):
    """The backtest's row is no longer running (marked failed as stale, cancelled at once, or deleted): stop."""


# --- services ----------------------------------------------------------------------------------


def backtest_start(*, model: MLModel, version: Any, from_seq: Any = None, to_seq: Any = None, user=None) -> Backtest:
    """Queue a backtest of version ``version`` (its number) over learn-log entries ``from_seq..to_seq`` (both
    included; default: the whole log as it stands now) and start it off the request path."""
    number = _whole(version, "version", minimum=1)
    found = ModelVersion.objects.without_artifact().filter(model=model, number=number).first()
    if found is None:
        raise InvalidInput(f"{model.name} has no version {number}", field="version")
    if found.status in (ModelVersion.Status.PENDING, ModelVersion.Status.VALIDATING):
        raise Conflict(f"{model.name} v{number} is still being validated: backtest it once it is ready")
    if found.status == ModelVersion.Status.FAILED:
        summary = (found.validation_report or {}).get("summary", "")
        raise Conflict(f"{model.name} v{number} failed validation{f' ({summary})' if summary else ''}: it cannot run")
    head = MLModel.objects.filter(pk=model.pk).values_list("learn_seq", flat=True).first()
    if head is None:
        raise NotFound(f"{model.name} was deleted")
    if head == 0:
        raise Conflict(f"{model.name}'s learn log is empty: there is nothing to backtest yet", code="empty_log")
    first = 1 if from_seq is None else _whole(from_seq, "from_seq", minimum=1)
    last = head if to_seq is None else _whole(to_seq, "to_seq", minimum=1)
    if first > last:
        raise InvalidInput(f"from_seq ({first}) is after to_seq ({last}): the range is empty", field="from_seq")
    if last > head:
        raise InvalidInput(f"to_seq ({last}) is past the end of {model.name}'s learn log (#{head})", field="to_seq")
    with transaction.atomic():
        backtest = Backtest.objects.create(
            model=model, version=found, from_seq=first, to_seq=last, created_by=user if _is_user(user) else None
        )
        transaction.on_commit(lambda: _dispatch(backtest.pk))
    return backtest


def backtest_cancel(*, backtest: Backtest, user=None) -> Backtest:
    """Cancel a queued backtest at once, or ask a running one to stop after its current chunk; one whose runner
    stopped (no heartbeat for RHYTHMIC_BACKTEST_STALE_SECONDS) has nobody to ask: it is cancelled at once."""
    now = timezone.now()
    cancelled = Backtest.objects.filter(pk=backtest.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED, cancel_requested=True, finished_at=now
    )
    if not cancelled:
        cancelled = (
            _stale(now).filter(pk=backtest.pk).update(status=Status.CANCELLED, cancel_requested=True, finished_at=now)
        )
    if not cancelled and not Backtest.objects.filter(pk=backtest.pk, status=Status.RUNNING).update(
        cancel_requested=True
    ):
        backtest.refresh_from_db()
        raise Conflict(f"backtest {backtest.pk} has already {backtest.status}: there is nothing to cancel")
    backtest.refresh_from_db()
    if cancelled:
        _announce(backtest)
    return backtest


def backtest_recover_stale(*, model: MLModel | None = None, now: datetime | None = None) -> int:
    """Mark failed every running backtest (of ``model``) whose runner stopped: no heartbeat for
    RHYTHMIC_BACKTEST_STALE_SECONDS. Returns how many. Its runner, were it only slow, stops at its next chunk."""
    now = now or timezone.now()
    stale = _stale(now)
    if model is not None:
        stale = stale.filter(model=model)
    recovered = 0
    for pk, done, total in stale.values_list("pk", "events_done", "events_total"):
        error = f"its runner stopped (process restarted?) at event {done} of {total}; start it again"
        # The same condition again: a heartbeat that came meanwhile keeps it running.
        if _stale(now).filter(pk=pk).update(status=Status.FAILED, error=error, finished_at=now):
            recovered += 1
            logger.warning("backtest %s: %s", pk, error)
            _announce(Backtest.objects.select_related("model", "version").defer("version__artifact").get(pk=pk))
    return recovered


def _stale(now: datetime):
    """Running backtests whose last heartbeat (or start, before the first) is older than the stale bound."""
    cutoff = now - timedelta(seconds=settings.RHYTHMIC_BACKTEST_STALE_SECONDS)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    return Backtest.objects.filter(silent, status=Status.RUNNING)


def backtest_list(*, model: MLModel, recover: bool = True):
    """The model's backtests, newest first; running ones whose runner stopped are marked failed first (unless
    ``recover`` is False: a cancel reads it so, and cancels a stale one instead)."""
    if recover:
        backtest_recover_stale(model=model)
    return Backtest.objects.filter(model=model).select_related("version", "created_by").defer("version__artifact")


def backtest_get(*, model: MLModel, backtest_id: Any, recover: bool = True) -> Backtest | None:
    try:
        pk = int(backtest_id)
    except (TypeError, ValueError):
        return None
    return backtest_list(model=model, recover=recover).filter(pk=pk).first()


def wait(backtest_id: int, *, timeout: float = 600.0) -> Backtest:
    """The backtest once finished (or as it is after ``timeout`` seconds): joins it if it runs on a thread of
    this process, else reads its row every so often (a worker in another process writes it)."""
    deadline = time.monotonic() + timeout
    jobs.join("backtest", backtest_id, timeout)
    backtest = Backtest.objects.get(pk=backtest_id)
    while not backtest.finished and time.monotonic() < deadline:
        time.sleep(0.2)  # another process writes the row: there is nothing here to await
        backtest_recover_stale(model=backtest.model)  # a runner that stopped will not finish it
        backtest.refresh_from_db()
    return backtest


_whole = jobs.whole
_is_user = jobs.is_user


# --- running -----------------------------------------------------------------------------------


def _dispatch(backtest_id: int) -> None:
    """To the Celery worker; without a broker, to a thread of this process (the request must not wait)."""
    from serving import tasks  # tasks import this module

    if tasks.run_backtest.app.conf.task_always_eager:
        jobs.run_on_thread("backtest", backtest_id, run)
    else:
        tasks.run_backtest.delay(backtest_id)


def run(backtest_id: int) -> str:
    """Run a queued backtest to its end; returns its final status (a backtest not queued is left alone)."""
    now = timezone.now()
    if not Backtest.objects.filter(pk=backtest_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    ):
        return _status(backtest_id)
    backtest = Backtest.objects.select_related("model", "version").defer("version__artifact").get(pk=backtest_id)
    _announce(backtest)
    try:
        status = _replay(backtest)
    except _NoLongerRunning:
        return _status(backtest_id)
    except BacktestFailed as exc:
        return _finish(backtest, Status.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("backtest %s failed", backtest_id)
        return _finish(backtest, Status.FAILED, error=f"the backtest failed: {type(exc).__name__}: {exc}")
    return _finish(backtest, status)


def _status(backtest_id: int) -> str:
    return Backtest.objects.filter(pk=backtest_id).values_list("status", flat=True).first() or "missing"


def _load(backtest: Backtest) -> artifacts.Servable:
    """The version's uploaded artifact, as a freshly loaded replica starts from (no checkpoint, no live state)."""
    number = backtest.version.number
    data, fmt = ModelVersion.objects.filter(pk=backtest.version_id).values_list("artifact", "format").get()
    try:
        servable = artifacts.as_servable(artifacts.load_artifact(bytes(data), fmt), get_flavor(backtest.model.flavor))
    except artifacts.ArtifactError as exc:
        raise BacktestFailed(f"v{number} could not be loaded: {exc}") from None
    if not servable.can_learn:
        raise BacktestFailed(
            f"v{number} is predict-only (no learn_one or partial_fit): a backtest learns every event after "
            "predicting it, so it needs a model that learns"
        )
    return servable


def _replay(backtest: Backtest) -> str:
    """Predict each logged entry's features, fold with its ground truth, learn it; fold the logged prediction
    into the baseline. Returns SUCCEEDED, or CANCELLED when a cancel was asked for between two chunks."""
    servable = _load(backtest)
    flavor = get_flavor(backtest.model.flavor)
    number = backtest.version.number
    # A forecaster's baseline has no horizon metrics: those come from replaying a model, not from the log.
    options = backtest.model.options
    replayed = new_metrics(flavor, obj=servable.obj, options=options)
    baseline = new_metrics(flavor, options=options)
    events = LearnEvent.objects.filter(model_id=backtest.model_id, seq__lte=backtest.to_seq)
    total = events.filter(seq__gte=backtest.from_seq).count()
    _save(backtest, events_total=total)
    after, done, chunk = backtest.from_seq - 1, 0, max(1, settings.RHYTHMIC_BACKTEST_CHUNK)
    while True:
        rows = list(
            events.filter(seq__gt=after)
            .order_by("seq")
            .values_list("seq", "features", "ground_truth", "prediction")[:chunk]
        )
        if not rows:
            return Status.SUCCEEDED
        for seq, features, ground_truth, logged in rows:
            try:
                prediction = servable.predict(features)
            except Exception as exc:
                raise BacktestFailed(
                    f"v{number} could not predict on the features of learn #{seq}: {type(exc).__name__}: {exc}"
                ) from None
            replayed.fold(ground_truth, prediction, seq=seq, features=features)
            try:
                servable.learn(features, ground_truth)
            except Exception:  # counted as a live replica counts it, so the two stay comparable
                replayed.n_learn_errors += 1
                logger.warning("backtest %s: learn #%s failed on v%s", backtest.pk, seq, number, exc_info=True)
            try:
                baseline.fold(ground_truth, decode_prediction(logged), seq=seq, features=features)
            except Exception:  # a stored prediction that cannot even be decoded
                baseline.n_skipped += 1
        after, done = rows[-1][0], done + len(rows)
        _save(
            backtest,
            events_done=done,
            progress=min(1.0, done / total) if total else 1.0,
            metrics=_summary(replayed, learned=True),
            baseline=_summary(baseline),
        )
        requested = Backtest.objects.filter(pk=backtest.pk).values_list("cancel_requested", flat=True).first()
        if requested is None or requested:  # cancelled, or deleted with its model
            return Status.CANCELLED


def _summary(metrics: OnlineMetrics, *, learned: bool = False) -> dict:
    summary = {"values": metrics.values(), "n_scored": metrics.n_folded, "n_not_scored": metrics.n_skipped}
    if learned:
        summary["n_learn_errors"] = metrics.n_learn_errors
    return summary


def _finish(backtest: Backtest, status: str, *, error: str = "") -> str:
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now(), "error": error}
    if status == Status.SUCCEEDED:
        fields["progress"] = 1.0
    try:
        _save(backtest, **fields)
    except _NoLongerRunning:  # marked failed as stale meanwhile: that stays (it said to start it again)
        return _status(backtest.pk)
    return status


def _save(backtest: Backtest, **fields: Any) -> None:
    """Store ``fields`` with a heartbeat (one UPDATE: the row may have changed meanwhile, e.g. cancel_requested)
    and announce. Only while the row is running: a runner declared stopped (stale) cannot bring it back."""
    fields["heartbeat_at"] = timezone.now()
    if not Backtest.objects.filter(pk=backtest.pk, status=Status.RUNNING).update(**fields):
        raise _NoLongerRunning
    for name, value in fields.items():
        setattr(backtest, name, value)
    _announce(backtest)


def _announce(backtest: Backtest) -> None:
    observers.notify("backtest", model=backtest.model.name, backtest=as_event(backtest))


def as_event(backtest: Backtest) -> dict:
    """What a live listener needs to draw the backtest's row: its state, progress and figures so far."""
    return {
        "id": backtest.pk,
        "version": backtest.version.number,
        "from_seq": backtest.from_seq,
        "to_seq": backtest.to_seq,
        "status": backtest.status,
        "progress": backtest.progress,
        "events_done": backtest.events_done,
        "events_total": backtest.events_total,
        "metrics": backtest.metrics,
        "baseline": backtest.baseline,
        "error": backtest.error,
    }
