"""The model Dashboard's Backtests card: ``{% load backtest_tags %}{% backtests_card model %}``."""

from django import template

from catalogue.models import ModelVersion
from serving import backtests

register = template.Library()

#: The newest backtests shown on the card (the API lists them all).
SHOWN = 20

BADGES = {"queued": "wait", "running": "wait", "succeeded": "ok", "failed": "bad", "cancelled": "muted"}


@register.inclusion_tag("dashboard/_backtests.html", takes_context=True)
def backtests_card(context, model) -> dict:
    runnable = (ModelVersion.Status.READY, ModelVersion.Status.RETIRED)
    rows = []
    for backtest in backtests.backtest_list(model=model)[:SHOWN]:
        replayed = (backtest.metrics or {}).get("values", {})
        baseline = (backtest.baseline or {}).get("values", {})
        rows.append(
            {
                "backtest": backtest,
                "badge": BADGES.get(backtest.status, "muted"),
                "percent": round(backtest.progress * 100),
                "figures": [(name, value, baseline.get(name)) for name, value in replayed.items()],
            }
        )
    return {
        "model": model,
        "rows": rows,
        "versions": model.versions.without_artifact().filter(status__in=runnable).order_by("-number"),
        "learn_seq": model.learn_seq,
        "perms": context.get("perms"),
        "csrf_token": context.get("csrf_token"),
        "live": any(not row["backtest"].finished for row in rows),
    }
