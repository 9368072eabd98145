"""The Monitoring page of a model: live metric and latency charts, event feed, drift points, alerts.

The page renders the current state; monitoring.js then follows the model's WebSockets (events, metrics)
and polls the request statistics, so the charts move without a reload.
"""

from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from catalogue import services
from catalogue.flavors import get_flavor
from dashboard import history
from dashboard import selectors as pages
from dashboard.views import CHANGE_MODEL, page
from monitoring import services as monitoring_services

LATENCY_ROUTES = ("predict", "learn", "predict_many", "learn_many")


@page()
def monitoring(request, name: str):
    model = services.get_model_or_404(name)
    flavor = get_flavor(model.flavor)
    live = pages.live_metrics(model=model.name) if model.production_version_id else None
    current = {}
    if live is not None and not live.unavailable:
        current[str(live.version)] = pages.jsonable_metrics(live.values)
    # A clusterer's metrics are named after its clusters (cluster_0, ...): chart each one the live state has.
    names = list(dict.fromkeys([*flavor.metrics, *(live.values if live is not None and not live.unavailable else ())]))
    series = history.metrics_history(model=model, metrics=names)
    drift = history.drift_points(model=model)
    config = {
        "model": model.name,
        "metrics": names,
        "production": model.production_version.number if model.production_version_id else None,
        "current": current,
        "state_seq": live.state_seq if live is not None else 0,
        "history": {
            metric: {str(n): [[t.isoformat(), v] for t, v in points] for n, points in by_version.items()}
            for metric, by_version in series.items()
        },
        "drift": [{"version": d["version"], "seq": d["seq"], "at": d["at"].isoformat()} for d in drift],
        "ws_events": f"/ws/events/?model={quote(model.name)}",
        "ws_metrics": f"/ws/models/{quote(model.name)}/metrics/",
        "stats_url": reverse("dashboard:monitoring-stats", kwargs={"name": model.name}),
        "latency_routes": list(LATENCY_ROUTES),
    }
    context = {
        "model": model,
        "flavor": flavor,
        "metric_names": names,
        "live": live,
        "stats": pages.route_stats(model=model.name),
        "alerts": history.alerts(model=model),
        "drift": drift,
        "config": config,
        "tab": "monitoring",
        "push_seconds": settings.RHYTHMIC_METRICS_PUSH_SECONDS,
    }
    return render(request, "monitoring/model.html", context)


@page()
def monitoring_stats(request, name: str):
    """This process's request statistics of the model, as JSON for the page's latency chart."""
    model = services.get_model_or_404(name)
    routes = pages.route_stats(model=model.name)
    return JsonResponse({"model": model.name, "at": timezone.now().isoformat(), "routes": routes})


@require_POST
@page(CHANGE_MODEL, "acknowledging an alert")
def alert_acknowledge(request, name: str, alert_id: int):
    model = services.get_model_or_404(name)
    alert = history.alert_get(model=model, alert_id=alert_id)
    monitoring_services.alert_acknowledge(alert=alert, user=request.user)
    messages.success(request, f"Acknowledged the alert {alert.rule.name}: it stops notifying until it resolves.")
    return redirect(reverse("dashboard:monitoring", kwargs={"name": model.name}) + "#alerts")
