"""The model page's panel of challengers and canary: each learning version's metrics side by side, the
controls to change them (for those who may), their metrics over time on one chart, and the policy."""

from urllib.parse import quote

from django import template
from django.urls import reverse

import serving
from catalogue import selectors
from catalogue.artifacts import ArtifactError
from catalogue.errors import RhythmicError
from catalogue.flavors import get_flavor
from catalogue.models import ModelVersion
from dashboard import history
from monitoring import policies

register = template.Library()


def _row(model, number: int, role: str, note: str = "") -> dict:
    try:
        body = serving.metrics(model=model.name, version=number)
    except (RhythmicError, ArtifactError):  # a version that no longer loads: shown without figures
        body = {"n_learned": None, "metrics": {}}
    return {"number": number, "role": role, "note": note, "n_learned": body["n_learned"], "metrics": body["metrics"]}


def _chart(model, labels: dict[int, str], can_rewind: bool) -> dict:
    """The chart's JSON: a series per learning version, a point per snapshot (x: its state_seq)."""
    flavor = get_flavor(model.flavor)
    metrics = list(flavor.metrics)
    return {
        "metrics": metrics,
        "headline": flavor.headline_metric,
        "series": history.labelled_history(model=model, metrics=metrics, labels=labels),
        "versions": {label: number for number, label in labels.items()},
        "rewind_url": reverse("dashboard:rewind", kwargs={"name": model.name}) if can_rewind else None,
        "ws_metrics": f"/ws/models/{quote(model.name)}/metrics/",
    }


@register.inclusion_tag("dashboard/_lifecycle.html", takes_context=True)
def lifecycle_panel(context, model) -> dict:
    """Production, the canary and the challengers with their online metrics (no rows when there are neither)."""
    rows = []
    challengers = list(selectors.challenger_list(model=model))
    canary = selectors.canary_version(model=model)
    labels: dict[int, str] = {}
    if model.production_version_id is not None:
        labels[model.production_version.number] = f"production v{model.production_version.number}"
        if canary is not None:
            labels[canary.number] = f"canary v{canary.number}"
        for challenger in challengers:
            labels[challenger.version.number] = f"challenger v{challenger.version.number}"
        if challengers or canary is not None:
            rows.append(_row(model, model.production_version.number, "production"))
            if canary is not None:
                rows.append(_row(model, canary.number, "canary", f"{model.canary_percent:g}% of predictions"))
            rows.extend(_row(model, c.version.number, "challenger") for c in challengers)
    perms = context.get("perms")
    can_change = bool(perms and perms["catalogue"]["change_mlmodel"])
    # Ready versions besides production may be the canary; those not learning already, a challenger.
    ready = [
        v.number
        for v in context.get("versions") or []
        if v.status == ModelVersion.Status.READY and v.pk != model.production_version_id
    ]
    busy = {c.version.number for c in challengers} | ({canary.number} if canary else set())
    return {
        "model": model,
        "rows": rows,
        "names": list(rows[0]["metrics"]) if rows else [],
        "can_change": can_change,
        "challenger_choices": [n for n in ready if n not in busy],
        "canary_choices": ready,  # a challenger made the canary stops being a challenger (canary_set)
        "canary": canary,
        "challenger_form": context.get("challenger_form"),
        "canary_form": context.get("canary_form"),
        "lifecycle_error": context.get("lifecycle_error"),
        "chart": _chart(model, labels, can_change) if labels else None,
        "policy": context.get("policy"),
        "policy_refusal": policies.policy_refusal(flavor=model.flavor),
        "perms": perms,
        "csrf_token": context.get("csrf_token"),
    }
