"""The model page's panel of challengers and canary: each learning version's metrics side by side."""

from django import template

import serving
from catalogue import selectors
from catalogue.artifacts import ArtifactError
from catalogue.errors import RhythmicError

register = template.Library()


def _row(model, number: int, role: str, note: str = "") -> dict:
    try:
        body = serving.metrics(model=model.name, version=number)
    except (RhythmicError, ArtifactError):  # a version that no longer loads: shown without figures
        body = {"n_learned": None, "metrics": {}}
    return {"number": number, "role": role, "note": note, "n_learned": body["n_learned"], "metrics": body["metrics"]}


@register.inclusion_tag("dashboard/_lifecycle.html")
def lifecycle_panel(model) -> dict:
    """Production, the canary and the challengers with their online metrics (nothing when there are neither)."""
    rows = []
    challengers = list(selectors.challenger_list(model=model))
    if model.production_version_id is not None and (challengers or model.canary_version_id):
        rows.append(_row(model, model.production_version.number, "production"))
        if model.canary_version_id is not None:
            canary = selectors.canary_version(model=model)
            rows.append(_row(model, canary.number, "canary", f"{model.canary_percent:g}% of predictions"))
        rows.extend(_row(model, c.version.number, "challenger") for c in challengers)
    names = list(rows[0]["metrics"]) if rows else []
    return {"model": model, "rows": rows, "names": names}
