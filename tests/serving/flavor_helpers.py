"""Shared by the flavor tests: a live model of a flavor, and the river streams they are checked on."""

import itertools

import dill
from river import datasets

from catalogue import services
from tests import factories


def live_model(obj, *, flavor: str, name: str = "live", options: dict | None = None):
    """A model of ``flavor`` whose production version is ``obj``."""
    model = services.model_create(name=name, flavor=flavor, options=options)
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
    services.deployment_promote(version=version)
    return model, version


def airline(n: int = 144) -> list[tuple[dict, float]]:
    """AirlinePassengers (bundled with river) as JSON-able (exogenous features, next value) pairs."""
    return [({"month": x["month"].month}, float(y)) for x, y in itertools.islice(datasets.AirlinePassengers(), n)]
