"""predict and learn: the one implementation every interface (REST, chantilly routes, WebSocket, CLI) calls."""

import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from catalogue import artifacts, services
from catalogue.errors import Conflict, InvalidInput, NotFound, RhythmicError, WrongLocation, error_body
from catalogue.flavors import GroundTruthError
from catalogue.models import ModelVersion
from serving import flavored, log, observers, retention
from serving.codec import decode_prediction, encode_prediction, jsonable
from serving.process import current
from serving.replicas import ModelEntry, Replica, route_of

MISSING = object()

logger = logging.getLogger(__name__)


@dataclass
class Prediction:
    model: str
    version: int
    prediction: Any
    state_seq: int
    id: Any = None

    def as_dict(self) -> dict:
        body = {
            "model": self.model,
            "version": self.version,
            "prediction": jsonable(self.prediction),
            "state_seq": self.state_seq,
        }
        if self.id is not None:
            body["id"] = self.id
        return body


@dataclass(frozen=True, slots=True)
class Predicted:
    """One answered prediction, as the "predict" observers get them (serving/observers.py)."""

    version: int
    features: dict
    prediction: Any
    id: Any
    state_seq: int


@dataclass
class Learned:
    model: str
    version: int
    seq: int
    prediction: Any
    ground_truth: Any
    features: dict
    id: Any = None

    def as_dict(self) -> dict:
        body = {
            "model": self.model,
            "version": self.version,
            "seq": self.seq,
            "prediction": jsonable(self.prediction),
            "ground_truth": self.ground_truth,
        }
        if self.id is not None:
            body["id"] = self.id
        return body


# --- input checks -------------------------------------------------------------------------------


#: The smallest integer float() cannot convert: it rounds up to 2**1024 (the largest float is 2**1024 - 2**971).
_INT_LIMIT = 2**1024 - 2**970


def _check_numbers(value: Any, field: str) -> None:
    """Refuse NaN, ±infinity and integers no float can hold, anywhere in ``value`` (nested lists and objects too).

    Python's json reads ``1e400`` as infinity and ``10**400`` as an int that ``float()`` cannot convert; such a
    number would poison the model and its metrics on every replica once logged, so it is refused here, naming
    the field (``features.x0``, ``features.xs[2]``, ``ground_truth``). A loop, not recursion, so any depth the
    JSON parser accepted is checked; on the hot path (a flat object of floats) it costs one type test each."""
    if not isinstance(value, dict | list):
        _check_number(value, field)
        return
    stack = [(value, field)]
    while stack:
        container, name = stack.pop()
        in_dict = isinstance(container, dict)
        for key, item in container.items() if in_dict else enumerate(container):
            kind = type(item)
            if kind is float:
                if math.isfinite(item):
                    continue
            elif kind is int:
                if -_INT_LIMIT < item < _INT_LIMIT:
                    continue
            elif kind is str or kind is bool or item is None:
                continue
            elif kind is dict or kind is list:
                stack.append((item, f"{name}.{key}" if in_dict else f"{name}[{key}]"))
                continue
            _check_number(item, f"{name}.{key}" if in_dict else f"{name}[{key}]")


def _check_number(value: Any, field: str) -> None:
    """Raise for one number no float holds; anything else (a string, a numpy scalar that fits...) passes."""
    if isinstance(value, bool) or not isinstance(value, float | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{field} must be a finite number, not {value!r}", field=field)
    elif not -_INT_LIMIT < value < _INT_LIMIT:
        raise InvalidInput(
            f"{field} is an integer of {value.bit_length()} bits, out of the range of a float (about ±1.8e308)",
            field=field,
        )


def _clean_features(features: Any) -> dict:
    if not isinstance(features, dict):
        raise InvalidInput('features must be a JSON object, like {"x": 1.5, "city": "Paris"}', field="features")
    _check_numbers(features, "features")
    return features


def _clean_id(prediction_id: Any) -> Any:
    if type(prediction_id) is int and -(2**63) <= prediction_id < 2**63:  # the batch path's usual id
        return prediction_id
    if prediction_id is None:
        return None
    if isinstance(prediction_id, bool) or not isinstance(prediction_id, int | str):
        raise InvalidInput(f"id must be an integer or a string, not {prediction_id!r}", field="id")
    if isinstance(prediction_id, str) and not 0 < len(prediction_id) <= 190:
        raise InvalidInput("a string id must have 1 to 190 characters", field="id")
    if isinstance(prediction_id, int) and not -(2**63) <= prediction_id < 2**63:
        # Its JSON text is the stored key (at most 200 characters): a 64-bit integer always fits.
        raise InvalidInput(
            "an integer id must fit in 64 bits (-2**63 to 2**63 - 1); send a long one as a string", field="id"
        )
    return prediction_id


def _clean_ground_truth(entry: ModelEntry, ground_truth: Any) -> Any:
    if ground_truth is None and entry.flavor.ground_truth_required:
        raise InvalidInput(f"ground_truth is required for a {entry.flavor.name} model", field="ground_truth")
    if type(ground_truth) is not float or not math.isfinite(ground_truth):  # a finite float needs no search
        _check_numbers(ground_truth, "ground_truth")
    try:
        return entry.flavor.clean_ground_truth(ground_truth)
    except GroundTruthError as exc:
        raise InvalidInput(str(exc), field="ground_truth") from None


_strict_json = json.JSONEncoder(allow_nan=False).encode


def _checked_prediction(entry: ModelEntry, replica: Replica, prediction: Any) -> Any:
    if type(prediction) is float and math.isfinite(prediction):
        return prediction  # a regressor's answer: JSON as it is (the encoder below would say so, slower)
    try:
        _strict_json(jsonable(prediction))
    except (TypeError, ValueError) as exc:
        if _non_finite(prediction):
            _report_non_finite(entry, replica, prediction)
            raise InvalidInput(
                f"{entry.name} v{replica.number} predicted {prediction!r}, not a finite number: its live state "
                f"has turned non-finite (reported: non_finite_seq on the version, a non_finite event); roll back "
                "or promote another version",
                code="bad_prediction",
            ) from None
        raise InvalidInput(
            f"the model's prediction {prediction!r} cannot be sent as JSON ({exc})", code="bad_prediction"
        ) from None
    return prediction


def _non_finite(prediction: Any) -> bool:
    """A NaN or infinite number, alone or as a probability: what a model's state turned non-finite answers."""
    values = prediction.values() if isinstance(prediction, dict) else (prediction,)
    return any(isinstance(value, float) and not math.isfinite(value) for value in values)


def _report_non_finite(entry: ModelEntry, replica: Replica, prediction: Any) -> None:
    """Tell observers once per replica: the version is flagged, announced and alerted on off the hot path."""
    if replica.non_finite_seq is not None:
        return
    replica.non_finite_seq = entry.applied_seq
    observers.notify(
        "non_finite",
        model=entry.name,
        model_id=entry.model_id,
        version_id=replica.version_id,
        version=replica.number,
        seq=entry.applied_seq,
        prediction=repr(prediction)[:200],
    )


def _predict_with(entry: ModelEntry, replica: Replica, features: dict) -> Any:
    try:
        return _checked_prediction(entry, replica, replica.servable.predict(features))
    except RhythmicError:
        raise
    except Exception as exc:  # the model is user code; its failure on these features is the client's to fix
        raise InvalidInput(
            f"the model could not predict on these features: {type(exc).__name__}: {exc}", field="features"
        ) from None


def _clean_batch(items: Any) -> list:
    if not isinstance(items, list) or not items:
        raise InvalidInput("send a non-empty JSON list of items")
    if len(items) > settings.RHYTHMIC_MAX_BATCH:
        raise InvalidInput(
            f"a batch holds at most {settings.RHYTHMIC_MAX_BATCH} items (RHYTHMIC_MAX_BATCH); got {len(items)}"
        )
    return items


def _served(model: str) -> ModelEntry:
    """The model's entry, if this process serves its location (RHYTHMIC_LOCATION; unset: every location)."""
    entry = current().replicas.entry(model)
    served = settings.RHYTHMIC_LOCATION
    if served and entry.location != served:
        where = f"location {entry.location!r}" if entry.location else "no location"
        raise WrongLocation(
            f"{model} is deployed to {where}; this server process serves location {served!r} only "
            "(send the request to that location's servers, or move the model)"
        )
    return entry


# --- predict ------------------------------------------------------------------------------------


def predict(*, model: str, features: Any = None, id: Any = None, horizon: Any = None) -> Prediction:
    """Predict with the production version (or the canary, for its share); with an ``id``, keep features and
    predictions for a later learn. A forecasting model forecasts ``horizon`` steps (``features``: a list of
    exogenous features, one object per step, or None)."""
    with current().timings.timed(model, "predict"):
        if isinstance(features, dict):  # checked before the model is looked up
            features = _clean_features(features)
        prediction_id = _clean_id(id)
        entry = _loaded(model) if prediction_id is not None else None
        done = None if entry is None else _predict_reading_head(entry, features, horizon, prediction_id)
        if done is not None:
            _predicted(entry, [done], stored=True)
            return done.answer
        entry = _served(model)
        features = _clean_request(entry, features, horizon, prediction_id)
        with entry.lock:
            done = _predict_one(entry, features, prediction_id)
        _predicted(entry, [done])
        return done.answer


def _loaded(model: str) -> ModelEntry | None:
    """The model's entry as this process last saw it, when a predict or learn by id may read the head in the
    statement that writes (``log.one_statement()``, every location served); None: take the plain path."""
    if settings.RHYTHMIC_LOCATION or not log.one_statement():
        return None
    return current().replicas.cached(model)


def _predict_reading_head(entry: ModelEntry, features: Any, horizon: Any, prediction_id: Any) -> "_Predicted | None":
    """predict(id) in one round trip: predict with the replicas as they are, store the pending row in the statement
    that reads the head, and keep the answer if the head says nothing was learned or rerouted since (else catch up
    to that head and predict again: what the plain path, reading the head first, would have answered).

    None when the plain path must answer instead (it reads the head first and refuses as it should): the request
    is refused here (say the model changed since), or the model is gone."""
    try:
        features = _clean_request(entry, features, horizon, prediction_id)
        with entry.lock:
            done = _predict_one(entry, features, prediction_id)
            seen = (entry.applied_seq, entry.route())
    except RhythmicError:
        return None
    if done.pending is None:
        return None
    try:
        head = _store_pending(model_id=entry.model_id, rows=[done.pending], read_head=True)
    except IntegrityError:  # the model was deleted since this process loaded it
        head = None
    if head is None:
        return None
    with entry.lock:
        if (head.learn_seq, route_of(head)) == seen:
            entry.pending_labelled, entry.pending_expired = head.pending_labelled, head.pending_expired
            entry.synced_at = time.monotonic()
            return done
        # Learned or rerouted between the prediction and the statement: answer from that head on.
        if entry.applied_seq <= head.learn_seq:
            entry.sync(head)
        try:
            done = _predict_one(entry, features, prediction_id)
        except RhythmicError:
            log.pending_drop(model_id=entry.model_id, key=done.pending[0])
            raise
    _store_pending(model_id=entry.model_id, rows=[done.pending])
    return done


def _clean_request(entry: ModelEntry, features: Any, horizon: Any, prediction_id: Any) -> Any:
    """The features of one predict as the model's flavor takes them (a Forecast for a forecaster)."""
    if entry.flavor.learn_style == "forecast":
        return flavored.clean_forecast(entry, features, horizon, prediction_id, _check_numbers)
    flavored.refuse_horizon(entry, horizon)
    features = _clean_features(features)
    flavored.check_features(entry, features)
    return features


def predict_many(*, model: str, items: Any, handoff: "Handoff | None" = None) -> list[dict]:
    """Predict a list of ``{"features", "id"?, "horizon"?}``; one result per item, each with its own error.
    ``handoff``: the pending predictions go to the learn_many called next with it, not to the database yet."""
    items = _clean_batch(items)
    with current().timings.timed(model, "predict_many"):
        entry = _served(model)
        results: list = []
        with entry.lock:
            for item in items:
                try:
                    if not isinstance(item, dict):
                        raise InvalidInput("each item must be a JSON object with features and an optional id")
                    prediction_id = _clean_id(item.get("id"))
                    features = _clean_request(entry, item.get("features"), item.get("horizon"), prediction_id)
                    results.append(_predict_one(entry, features, prediction_id))
                except RhythmicError as exc:
                    results.append(_item_error(exc))
        _predicted(entry, [r for r in results if isinstance(r, _Predicted)], handoff=handoff)
        return [r.answer.as_dict() if isinstance(r, _Predicted) else r for r in results]


@dataclass
class _Predicted:
    answer: Prediction
    features: dict
    pending: tuple | None  # the row to store when the prediction has an id


def _predict_one(entry: ModelEntry, features: Any, prediction_id: Any) -> _Predicted:
    """One prediction, with the entry's lock held: the answering version answers; with an id, every other
    learning version (production, canary, challengers) predicts too, for the pending row."""
    key = None if prediction_id is None else log.pending_key(prediction_id)
    replica = entry.answering(key)
    if isinstance(features, flavored.Forecast):  # never has an id: nothing is kept for a learn
        prediction = flavored.forecast_with(entry, replica, features, _checked_prediction)
        answer = Prediction(entry.name, replica.number, prediction, entry.applied_seq)
        return _Predicted(answer, features.as_features(), None)
    prediction = _predict_with(entry, replica, features)
    pending = None
    if key is not None:
        shadow = _shadow_predictions(entry, replica.version_id, features)
        pending = (key, replica.version_id, features, encode_prediction(prediction), shadow)
    answer = Prediction(entry.name, replica.number, prediction, entry.applied_seq, prediction_id)
    return _Predicted(answer, features, pending)


def _shadow_predictions(entry: ModelEntry, answering_id: int, features: dict) -> dict[int, Any] | None:
    """{version id: encoded prediction} of the learning versions beside the one answering; None without any.

    A version that cannot predict on these features (or cannot load) has a null prediction: it still learns
    the event (not folded into its metrics), as every replica of it will."""
    if len(entry.learning) < 2:
        return None
    shadow = {}
    for version_id in entry.learning:
        if version_id == answering_id:
            continue
        try:
            shadow[version_id] = encode_prediction(_predict_with(entry, entry.replica(version_id), features))
        except RhythmicError:
            shadow[version_id] = None
        except Exception:  # a challenger that does not load must not take production's answers down
            logger.exception("version %s of %s could not predict beside the answering one", version_id, entry.name)
            shadow[version_id] = None
    return shadow


def _predicted(
    entry: ModelEntry, done: list[_Predicted], *, stored: bool = False, handoff: "Handoff | None" = None
) -> None:
    """Store the pending rows of predictions with an id (unless ``stored``; ``handoff``: hand them to the next
    learn_many instead), then tell observers: after the lock is released."""
    pending = [] if stored else [d.pending for d in done if d.pending is not None]
    if pending:
        rows = _last_per_key(pending)
        if handoff is None or not handoff.hold(model_id=entry.model_id, rows=rows):
            _store_pending(model_id=entry.model_id, rows=rows)
    # One call for the whole batch, as for learns: a predict-many of 500 made 1,000 observer calls.
    predicted = [
        Predicted(d.answer.version, d.features, d.answer.prediction, d.answer.id, d.answer.state_seq) for d in done
    ]
    observers.notify("predict", model=entry.name, predicted=predicted)


def _store_pending(*, model_id: int, rows: list[tuple], read_head: bool = False) -> log.Head | None:
    """Store pending predictions; now and then expire old ones and trim the model's beyond RHYTHMIC_MAX_PENDING.
    ``read_head`` (one row, ``log.one_statement()``): in the statement that reads the model's head, returned."""
    process = current()
    if process.pending_sweep_due():
        # Celery beat expires them hourly in production; without it each process sweeps now and then.
        log.pending_expire()
    head = None
    if read_head:
        head, stored = log.pending_put_reading_head(model_id=model_id, row=rows[0]), 1
    else:
        stored = log.pending_put(model_id=model_id, rows=rows)
    cap = settings.RHYTHMIC_MAX_PENDING
    # Amortized: a trim reads past the newest ``cap`` rows, so run it once per tenth of the cap's worth of ids
    # this process stored, not a COUNT per predict.
    if cap and process.pending_trim_due(model_id=model_id, stored=stored, cap=cap):
        try:
            log.pending_trim(model_id=model_id, cap=cap)
        except DatabaseError:  # say a deadlock with another process's trim: theirs did it, or the next will
            logger.warning("could not trim the pending predictions of model %s", model_id, exc_info=True)
    return head


def _last_per_key(rows: list[tuple]) -> list[tuple]:
    """A batch may name one id twice: the later prediction wins, as it would one request at a time."""
    return list({row[0]: row for row in rows}.values())


class Handoff:
    """Pending predictions a predict_many hands to the learn_many called right after it, in the same thread: a
    stream's frame of predicts, then learns of the same ids (api.consumers). The learn takes them from here
    instead of the database, so they are never inserted and deleted again (two statements per row, and their
    JSON), with the same answers and the same state after as the two calls one after the other: the learn gets
    what pending_take would have (``log.pending_held``: the same JSON text, expiry too), and an older pending row
    of those ids is deleted as the predict's upsert would have replaced it. Whatever the learn does not consume
    (refused, not in it, or the learn failed) is stored when it ends. Nothing is held when the rows would not
    all fit under RHYTHMIC_MAX_PENDING (stored, the newest of them could be trimmed before the learn)."""

    def __init__(self) -> None:
        self.model_id: int | None = None
        self.rows: dict[str, tuple] = {}
        self.created_at: Any = None
        self.taking: list[str] = []

    def hold(self, *, model_id: int, rows: list[tuple]) -> bool:
        """Keep ``rows`` (one per key) for the next learn; False when they must be stored now instead."""
        cap = settings.RHYTHMIC_MAX_PENDING
        if self.rows or (cap and len(rows) > cap):
            return False
        self.model_id, self.created_at = model_id, timezone.now()
        self.rows = {row[0]: row for row in rows}
        return True

    def take(self, keys: list[str]) -> dict[str, log.Pending]:
        """The held rows of ``keys``, as pending_take would answer them; still held until ``settle()``."""
        held = [self.rows[key] for key in keys if key in self.rows]
        self.taking = [row[0] for row in held]
        return log.pending_held(model_id=self.model_id, rows=held, created_at=self.created_at)

    def settle(self) -> None:
        """The transaction that took them committed: they are logged (or stored again, refused)."""
        for key in self.taking:
            self.rows.pop(key, None)
        self.taking = []

    def release(self) -> None:
        """Store what no learn consumed (a predict answered with an id keeps its pending row)."""
        rows, self.rows = list(self.rows.values()), {}
        if not rows:
            return
        try:
            _store_pending(model_id=self.model_id, rows=rows)
        except IntegrityError:  # the model was deleted since: its pending rows went with it
            logger.info("pending predictions of a deleted model %s not stored", self.model_id)


def _item_error(exc: RhythmicError) -> dict:
    return error_body(exc)


# --- learn --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Plan:
    """One learn, checked and ready to append."""

    version_id: int
    number: int
    key: str | None
    features: dict
    ground_truth: Any
    prediction: Any
    id: Any
    #: {version id: encoded prediction} of the other learning versions; None when there are none.
    shadow: dict[int, Any] | None = None
    #: A pending prediction's: the prediction as stored (encoded), and its features' and prediction's JSON text.
    pending: log.Pending | None = None

    def encoded(self) -> Any:
        return self.pending.prediction if self.pending is not None else encode_prediction(self.prediction)

    def entry_row(self) -> dict:
        row = {
            "version_id": self.version_id,
            "key": self.key,
            "features": self.features,
            "ground_truth": self.ground_truth,
            "prediction": self.encoded(),
            "shadow": self.shadow,
        }
        if self.pending is not None:
            row["features_json"], row["prediction_json"] = self.pending.features_json, self.pending.prediction_json
        return row


def learn(*, model: str, ground_truth: Any = None, id: Any = None, features: Any = MISSING) -> Learned:
    """Learn one ground truth. With an ``id`` the stored features and prediction are used (the id wins over
    ``features``) and consumed; without, the production version predicts first. Durable before it returns."""
    with current().timings.timed(model, "learn"):
        learned = None if id is None else _learn_by_id(model, ground_truth, id)
        if learned is None:
            learned = _learn(model, [{"ground_truth": ground_truth, "id": id, "features": features}], single=True)[0]
    retention.maybe_prune()
    return learned


def _learn_by_id(model: str, ground_truth: Any, prediction_id: Any) -> Learned | None:
    """learn(id) in one statement, a transaction of its own (``log.learn_pending``): no head read, no BEGIN or
    COMMIT round trip; the statement returns the head, to which the entry catches up after applying its own.

    None when the plain path must answer instead: the model is not loaded here, the request is refused (the plain
    path refuses it after reading the head, as it should), or the pending row is not one the statement takes (an
    unknown, expired or learned id; one made by a version not loaded here; one with challengers' predictions)."""
    entry = _loaded(model)
    if entry is None:
        return None
    try:
        prediction_id = _clean_id(prediction_id)
        flavored.check_learn(entry, prediction_id)
        ground_truth = _clean_ground_truth(entry, ground_truth)
    except RhythmicError:
        return None
    with entry.lock:
        if len(entry.learning) > 1:
            return None  # its pending rows carry the challengers' or canary's predictions: the plain path
        numbers = {pk: replica.number for pk, replica in entry.replicas.items() if replica.servable.can_learn}
    if not numbers:
        return None
    key = log.pending_key(prediction_id)
    logged = log.learn_pending(model_id=entry.model_id, key=key, ground_truth=ground_truth, version_ids=list(numbers))
    if logged is None:
        return None
    event = logged.event
    with entry.lock:
        entry.apply_logged(logged.head, event)
    number, prediction = numbers[event.version_id], decode_prediction(event.prediction)
    learned = Learned(model, number, event.seq, prediction, ground_truth, event.features, prediction_id)
    if observers.wanted("learn"):
        plan = _Plan(event.version_id, number, key, event.features, ground_truth, prediction, prediction_id)
        _notify_learned(entry, [plan], [learned])
    return learned


def learn_many(*, model: str, items: Any, handoff: Handoff | None = None) -> list[dict]:
    """Learn a list of ``{"ground_truth", "id"?, "features"?}`` in one transaction; one result per item.
    ``handoff``: the predict_many just before it held its pending predictions there (what is left is stored)."""
    try:
        items = _clean_batch(items)
        with current().timings.timed(model, "learn_many"):
            learned = _learn(model, items, single=False, handoff=handoff)
            results = [r if isinstance(r, dict) else r.as_dict() for r in learned]
    finally:
        if handoff is not None:
            handoff.release()
    retention.maybe_prune()
    return results


def _learn(model: str, items: list, *, single: bool, handoff: Handoff | None = None) -> list:
    entry = _served(model)
    plans: list[_Plan | RhythmicError] = []
    by_key: dict[str, int] = {}
    for item in items:
        try:
            if not isinstance(item, dict):
                raise InvalidInput("each item must be a JSON object with ground_truth and an id or features")
            prediction_id = _clean_id(item.get("id"))
            flavored.check_learn(entry, prediction_id)
            ground_truth = _clean_ground_truth(entry, item.get("ground_truth"))
            if prediction_id is None:
                plans.append(_plan_without_id(entry, item.get("features", MISSING), ground_truth))
            else:
                key = log.pending_key(prediction_id)
                if key in by_key:
                    raise Conflict(f"id {prediction_id!r} appears twice in this batch", field="id")
                by_key[key] = len(plans)
                plans.append(_Plan(0, 0, key, {}, ground_truth, None, prediction_id))
        except RhythmicError as exc:
            if single:
                raise
            plans.append(exc)

    with transaction.atomic():
        if by_key:
            taken = _take(entry, list(by_key), handoff)
            for key, index in by_key.items():
                pending = taken.get(key)
                if pending is None:
                    plans[index] = _unknown_id(entry, key, plans[index].id)
                else:
                    plan = plans[index]
                    plan.version_id, plan.features, plan.pending = pending.version_id, pending.features, pending
                    plan.prediction = decode_prediction(pending.prediction)
                    if pending.shadow:
                        plan.shadow = _still_learning(entry, pending)
        replicas: dict[int, Replica] = {}  # a batch's rows share a few versions: one look-up (and lock) each
        for index, plan in enumerate(plans):
            if isinstance(plan, _Plan):
                refusal = _check_learnable(entry, plan, replicas)
                if refusal is not None:
                    plans[index] = refusal
        if single and isinstance(plans[0], RhythmicError):
            raise plans[0]
        _restore_refused(entry, plans, taken if by_key else {})
        ready = [p for p in plans if isinstance(p, _Plan)]
        if ready:
            seqs = log.append(model_id=entry.model_id, entries=[p.entry_row() for p in ready])
    if handoff is not None:
        handoff.settle()  # committed: what it handed over is logged, or stored again (refused)
    if not ready:
        return [_item_error(p) for p in plans]
    _apply_own(entry, seqs, ready)
    learned = {
        id(plan): Learned(model, plan.number, seq, plan.prediction, plan.ground_truth, plan.features, plan.id)
        for seq, plan in zip(seqs, ready, strict=True)
    }
    if observers.wanted("learn"):
        _notify_learned(entry, ready, list(learned.values()))
    return [_item_error(plan) if isinstance(plan, RhythmicError) else learned[id(plan)] for plan in plans]


def _take(entry: ModelEntry, keys: list[str], handoff: Handoff | None) -> dict[str, log.Pending]:
    """pending_take of ``keys``: those a handoff holds from it, the others from the database."""
    if handoff is None or handoff.model_id != entry.model_id:
        return log.pending_take(model_id=entry.model_id, keys=keys)
    taken = handoff.take(keys)
    rest = [key for key in keys if key not in taken and key not in handoff.rows]
    if rest:
        taken.update(log.pending_take(model_id=entry.model_id, keys=rest))
    return taken


def _notify_learned(entry: ModelEntry, plans: list[_Plan], learned: list[Learned]) -> None:
    """Tell the learn observers, with the metrics of every version that learned these entries: those that
    answered and those that learned beside them (canary, challengers: O(batch + versions), so snapshots chart
    them side by side). A version that learned nothing here is left out: its metrics did not change."""
    with entry.lock:
        touched = {p.version_id for p in plans}.union(*(p.shadow or () for p in plans))
        metrics = {
            entry.replicas[pk].number: entry.replicas[pk].metrics.values() for pk in touched if pk in entry.replicas
        }
        state_seq = entry.applied_seq
    observers.notify("learn", model=entry.name, learned=learned, metrics=metrics, state_seq=state_seq)


def _restore_refused(entry: ModelEntry, plans: list, taken: dict) -> None:
    """pending_take consumed every id of the batch; put back those of items refused after it."""
    consumed = {p.key for p in plans if isinstance(p, _Plan) and p.key is not None}
    refused = [
        (key, row.version_id, row.features, row.prediction, row.shadow)
        for key, row in taken.items()
        if key not in consumed
    ]
    if refused:
        _store_pending(model_id=entry.model_id, rows=refused)


def _check_learnable(entry: ModelEntry, plan: _Plan, replicas: dict[int, Replica]) -> RhythmicError | None:
    replica = replicas.get(plan.version_id)
    if replica is None:
        with entry.lock:
            replica = replicas[plan.version_id] = entry.replica(plan.version_id)
    plan.number = replica.number
    if not replica.servable.can_learn:
        return Conflict(
            f"{entry.name} v{replica.number} is predict-only: it has no learn_one or partial_fit", code="predict_only"
        )
    return None


def _plan_without_id(entry: ModelEntry, features: Any, ground_truth: Any) -> _Plan:
    if (features is MISSING or features is None) and entry.flavor.learn_style == "forecast":
        features = {}  # a series without exogenous features
    if features is MISSING or features is None:
        raise InvalidInput("send either the id given to predict, or the features", field="features")
    features = _clean_features(features)
    flavored.check_features(entry, features)
    with entry.lock:
        replica = entry.answering(None)
        try:
            prediction = _predict_with(entry, replica, features)
        except RhythmicError:
            if entry.flavor.learn_style != "forecast":
                raise
            # A forecaster that cannot forecast yet (HoltWinters before its first season) still learns.
            prediction = None
        shadow = _shadow_predictions(entry, replica.version_id, features)
    return _Plan(replica.version_id, replica.number, None, features, ground_truth, prediction, None, shadow)


def _still_learning(entry: ModelEntry, pending: log.Pending) -> dict[int, Any] | None:
    """The pending row's other predictions, of the versions that still learn (a removed challenger does not)."""
    if not pending.shadow:
        return None
    learning = entry.learning
    shadow = {pk: p for pk, p in pending.shadow.items() if pk in learning and pk != pending.version_id}
    return shadow or None


def _unknown_id(entry: ModelEntry, key: str, prediction_id: Any) -> RhythmicError:
    if log.was_learned(model_id=entry.model_id, key=key):
        return Conflict(f"id {prediction_id!r} was already learned; an id is consumed by its first learn", field="id")
    cap = settings.RHYTHMIC_MAX_PENDING
    crowded = f", or sooner when {cap} newer ones wait" if cap else ""
    return NotFound(
        f"no pending prediction with id {prediction_id!r}: predict with this id first, or send the features "
        f"instead (an id waits {settings.RHYTHMIC_PENDING_TTL} s at most{crowded}; an id learned longer ago "
        "than the learn log's retention is not remembered)",
        field="id",
    )


def _apply_own(entry: ModelEntry, seqs: list[int], plans: list[_Plan]) -> None:
    events = [
        log.Event(seq, p.version_id, p.features, p.ground_truth, p.encoded())
        for seq, p in zip(seqs, plans, strict=True)
    ]
    shadows = {seq: list(p.shadow.items()) for seq, p in zip(seqs, plans, strict=True) if p.shadow}
    with entry.lock:
        if entry.applied_seq >= seqs[-1]:
            return  # another thread of this process already caught up past them
        if not entry.apply_own(seqs, events, shadows):
            head = log.read_head(entry.name)
            if head is not None:
                entry.sync(head)


# --- reading the live state ---------------------------------------------------------------------


def _version_replica(entry: ModelEntry, version: int | None):
    if version is None:
        return entry.production()
    found = ModelVersion.objects.filter(model_id=entry.model_id, number=version).values_list("pk", flat=True).first()
    if found is None:
        raise NotFound(f"{entry.name} has no version {version}")
    return entry.replica(found)


def metrics(*, model: str, version: int | None = None) -> dict:
    """The online metrics of the production version (or of ``version``), identical in every process."""
    entry = current().replicas.entry(model)
    with entry.lock:
        replica = _version_replica(entry, version)
        return {
            "model": model,
            "version": replica.number,
            "state_seq": entry.applied_seq,
            "n_learned": replica.n_learned,
            "n_scored": replica.metrics.n_folded,
            "n_not_scored": replica.metrics.n_skipped,
            "n_learn_errors": replica.metrics.n_learn_errors,
            "metrics": replica.metrics.values(),
            "labels": label_coverage(labelled=entry.pending_labelled, expired=entry.pending_expired),
        }


def rank(*, model: str, user: Any, items: Any, context: Any = None) -> flavored.Ranking:
    """A recommendation model's ``items`` for ``user``, best first (river's ``rank``), by the answering version."""
    if isinstance(context, dict | list):
        _check_numbers(context, "context")
    return flavored.rank(model=model, user=user, items=items, context=context, served=_served)


def label_coverage(*, labelled: int, expired: int) -> dict:
    """Of the model's predictions made with an id, how many got their ground truth and how many expired first."""
    done = labelled + expired
    return {"labelled": labelled, "expired": expired, "coverage": labelled / done if done else None}


def live_state(*, model: str) -> tuple[int, bytes]:
    """(version number, dill bytes) of the production version's current learned state."""
    import dill

    entry = current().replicas.entry(model)
    with entry.lock:
        replica = entry.production()
        return replica.number, dill.dumps(replica.servable.obj)


def snapshot(*, model: str, user=None, message: str = "") -> ModelVersion:
    """Turn the production version's live state into a new version whose parent is that version."""
    entry = current().replicas.entry(model)
    with entry.lock:
        replica = entry.production()
        data = artifacts.dump_state(replica.servable.obj)
        parent = ModelVersion.objects.without_artifact().get(pk=replica.version_id)
        state_seq = entry.applied_seq
    mlmodel = services.get_model_or_404(model)
    version, _ = services.model_version_register(
        model=mlmodel,
        data=data,
        fmt="dill",
        message=message or f"snapshot of v{parent.number} at learn #{state_seq}",
        requirements=parent.requirements,
        input_example=parent.input_example,
        author=user,
        parent=parent,
    )
    return version


def route_stats(*, model: str) -> dict:
    """Per route: this process's answered calls to ``model``, their mean, EWM and percentiles (nanoseconds)."""
    return current().route_stats(model=model)
