"""The Instances page: every server process registered as a production instance, with its status, location,
kind, last heartbeat, and the models it holds with their lag (serving.instances)."""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from dashboard.views import page
from serving import instances

#: The packages the page names beside Python (every installed one is in the REST API's runtime).
SHOWN_PACKAGES = ("river", "scikit-learn", "onnxruntime", "numpy", "dill")
BADGES = {instances.LIVE: "ok", instances.LOST: "bad", instances.STOPPED: "muted"}


@require_http_methods(["GET", "HEAD"])
@page()
def instance_list(request):
    status = request.GET.get("status")
    if status not in instances.STATUSES:
        status = None  # a stale or hand-typed filter shows them all
    rows = []
    for instance in instances.instance_list(status=status):
        state = instances.status_of(instance)
        packages = instance.runtime.get("packages", {})
        rows.append(
            {
                "instance": instance,
                "status": state,
                "badge": BADGES[state],
                "python": instance.runtime.get("python", ""),
                "packages": [(name, packages[name]) for name in SHOWN_PACKAGES if name in packages],
                "models": sorted(instance.models.items()),
            }
        )
    context = {
        "rows": rows,
        "status": status,
        "statuses": instances.STATUSES,
        "heartbeat": settings.RHYTHMIC_HEARTBEAT_SECONDS,
        "lost_beats": settings.RHYTHMIC_INSTANCE_LOST_BEATS,
    }
    return render(request, "dashboard/instances.html", context)
