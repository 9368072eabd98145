"""Template helpers of the pages: metric numbers, status badges, inline SVG sparklines."""

from django import template
from django.utils.html import format_html

register = template.Library()

STATUS_CLASSES = {
    "ready": "ok",
    "passed": "ok",
    "failed": "bad",
    "pending": "wait",
    "validating": "wait",
    "retired": "muted",
    "skipped": "muted",
    # deploys and the instances serving a model
    "succeeded": "ok",
    "preloading": "wait",
    "asked": "wait",
    "lagging": "wait",
    "lost": "bad",
}


@register.filter
def metric(value) -> str:
    """A metric value with 4 significant digits; "—" when there is none."""
    if value is None or value == "":
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number == 0:
        return "0"
    if abs(number) >= 1e5 or abs(number) < 1e-3:
        return f"{number:.3e}"
    return f"{number:.4g}"


@register.filter
def get_item(mapping, key):
    if not mapping:
        return None
    return mapping.get(key, mapping.get(str(key)))


@register.simple_tag
def status_badge(status: str):
    return format_html('<span class="badge badge-{}">{}</span>', STATUS_CLASSES.get(status, "muted"), status)


@register.filter
def duration_ms(nanoseconds) -> str:
    """Nanoseconds (as route_stats reports them) -> milliseconds with 3 significant digits."""
    if nanoseconds in (None, ""):
        return "—"
    return f"{float(nanoseconds) / 1e6:.3g} ms"


@register.simple_tag
def sparkline(values, width: int = 120, height: int = 28, label: str = "trend"):
    """An inline SVG polyline of ``values`` (oldest first); nothing for fewer than two points."""
    values = [float(v) for v in values or [] if v is not None]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 2) / (len(values) - 1)
    points = " ".join(
        f"{1 + i * step:.1f},{height - 2 - (value - low) / span * (height - 4):.1f}" for i, value in enumerate(values)
    )
    return format_html(
        '<svg class="sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>',
        width,
        height,
        width,
        height,
        f"{label}: {values[0]:.4g} to {values[-1]:.4g} over {len(values)} snapshots",
        points,
    )
