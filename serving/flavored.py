"""What the forecasting, clustering and recommendation flavors add to predict and learn: their input checks,
the forecast of a horizon, and a recommender's ranking. ``serving.inference`` calls the checks; ``rank`` is the
one implementation every interface calls.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from catalogue.errors import InvalidInput, RhythmicError
from catalogue.flavors import MAX_HORIZON, clean_horizon
from serving import observers
from serving.process import current
from serving.replicas import ModelEntry, Replica


@dataclass(frozen=True)
class Forecast:
    """A forecasting request, checked: how many steps, and the exogenous features of each (or none)."""

    horizon: int
    xs: list[dict] | None

    def as_features(self) -> dict:
        """What observers and live events see as the request's features."""
        return {"horizon": self.horizon, "features": self.xs}


def clean_forecast(entry: ModelEntry, features: Any, horizon: Any, prediction_id: Any, check) -> Forecast:
    """A forecaster's predict input: ``horizon`` (1 to MAX_HORIZON) and optional ``features``, a list of one object
    of exogenous features per step. ``check`` refuses non-finite numbers (serving.inference's)."""
    if prediction_id is not None:
        raise InvalidInput(
            f"{entry.name} is a forecasting model: a forecast takes no id (learn each observed value with its "
            "ground_truth and, if the model uses them, its features)",
            field="id",
        )
    if horizon is None:
        raise InvalidInput(
            f'a forecasting model needs the horizon: send {{"horizon": h}} with h from 1 to {MAX_HORIZON}',
            field="horizon",
        )
    try:
        horizon = clean_horizon(horizon)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="horizon") from None
    if features is None:
        return Forecast(horizon, None)
    if not isinstance(features, list) or not all(isinstance(x, dict) for x in features):
        raise InvalidInput(
            "a forecast's features must be a list of JSON objects, one per step of the horizon "
            '(like [{"temperature": 21.5}, {"temperature": 22.0}])',
            field="features",
        )
    if len(features) != horizon:
        raise InvalidInput(
            f"a forecast of horizon {horizon} needs {horizon} objects of features, one per step; got {len(features)}",
            field="features",
        )
    check(features, "features")
    return Forecast(horizon, features)


def refuse_horizon(entry: ModelEntry, horizon: Any) -> None:
    if horizon is not None:
        raise InvalidInput(
            f"horizon is for forecasting models; {entry.name} is a {entry.flavor.name} model", field="horizon"
        )


def check_features(entry: ModelEntry, features: dict) -> None:
    """A recommendation model's features must name the user and the item (the other keys are the context)."""
    if entry.flavor.learn_style != "reco":
        return
    for key in ("user", "item"):
        value = features.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidInput(
                f'a recommendation model\'s features need "{key}" (a string or an integer id), like '
                f'{{"user": "alice", "item": "matrix"}}; got {value!r}',
                field=f"features.{key}",
            )


def check_learn(entry: ModelEntry, prediction_id: Any) -> None:
    if entry.flavor.learn_style == "forecast" and prediction_id is not None:
        raise InvalidInput(
            f"{entry.name} is a forecasting model: it learns the next value of the series (ground_truth, with "
            "its exogenous features if any), not by the id of a forecast",
            field="id",
        )


def forecast_with(entry: ModelEntry, replica: Replica, request: Forecast, checked) -> list:
    """The replica's forecast, checked as every prediction is (``checked``: serving.inference's check)."""
    try:
        return checked(entry, replica, replica.servable.forecast(request.horizon, request.xs))
    except RhythmicError:
        raise
    except Exception as exc:  # the model is user code
        raise InvalidInput(
            f"the model could not forecast: {type(exc).__name__}: {exc}", field="features" if request.xs else None
        ) from None


# --- rank ---------------------------------------------------------------------------------------


@dataclass
class Ranking:
    model: str
    version: int
    user: Any
    items: list
    state_seq: int

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "version": self.version,
            "user": self.user,
            "items": self.items,
            "state_seq": self.state_seq,
        }


def _id(value: Any, field: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(f"{field} must be a string or an integer id, not {value!r}", field=field)
    return value


def rank(*, model: str, user: Any, items: Any, context: Any = None, served) -> Ranking:
    """``items`` for ``user``, best first, by the answering version (river's ``rank``: by predicted rating;
    equal ones keep the order given). ``served`` is serving.inference's location check."""
    with current().timings.timed(model, "rank"):
        entry = served(model)
        if entry.flavor.learn_style != "reco":
            raise InvalidInput(
                f"rank needs a recommendation model; {model} is a {entry.flavor.name} model", code="wrong_flavor"
            )
        user = _id(user, "user")
        if not isinstance(items, list) or not items:
            raise InvalidInput('items must be a non-empty list of item ids, like ["matrix", "alien"]', field="items")
        if len(items) > settings.RHYTHMIC_MAX_BATCH:
            raise InvalidInput(
                f"rank takes at most {settings.RHYTHMIC_MAX_BATCH} items (RHYTHMIC_MAX_BATCH); got {len(items)}",
                field="items",
            )
        items = list(dict.fromkeys(_id(item, f"items[{i}]") for i, item in enumerate(items)))
        if context is not None and not isinstance(context, dict):
            raise InvalidInput("context must be a JSON object of features", field="context")
        with entry.lock:
            replica = entry.answering(None)
            try:
                ranked = replica.servable.rank(user, items, context or None)
            except Exception as exc:
                raise InvalidInput(f"the model could not rank: {type(exc).__name__}: {exc}") from None
            answer = Ranking(model, replica.number, user, ranked, entry.applied_seq)
        observers.notify(
            "predict",
            model=model,
            version=answer.version,
            features={"user": user, "items": items, **(context or {})},
            prediction=ranked,
            id=None,
            state_seq=answer.state_seq,
        )
        return answer
