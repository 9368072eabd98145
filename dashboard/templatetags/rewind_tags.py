"""The model page's rewind panel: its suggested log entry and the model's recent rewinds."""

from django import template

from dashboard import history
from serving.rewind import rewind_list

register = template.Library()


@register.simple_tag
def rewind_panel(model) -> dict:
    """Suggest the entry before the newest drift point (else the log head); the newest rewinds."""
    drifts = history.drift_points(model=model, limit=1)
    suggested = max(0, drifts[0]["seq"] - 1) if drifts else model.learn_seq
    production = model.production_version.number if model.production_version_id else None
    return {"suggested": suggested, "production": production, "rewinds": list(rewind_list(model=model)[:10])}
