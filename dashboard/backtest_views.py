"""The Backtests card's actions on the model Dashboard: start and cancel (the card itself is a template tag,
``dashboard/templatetags/backtest_tags.py``). Each checks the form, calls one function of ``serving.backtests``
and goes back to the card, where the progress follows live."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from catalogue import services
from catalogue.errors import InvalidInput, NotFound, RhythmicError
from dashboard.views import CHANGE_MODEL, dashboard_url, page
from serving import backtests


def _seq(request, field: str) -> int | None:
    raw = request.POST.get(field, "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.lstrip("-").isdigit():
        raise InvalidInput(f"{field} must be a whole number, not {raw[:40]!r}", field=field)
    return int(raw)


@require_POST
@page(CHANGE_MODEL, "starting a backtest")
def backtest_start(request, name: str):
    model = services.get_model_or_404(name)
    try:
        backtest = backtests.backtest_start(
            model=model,
            version=_seq(request, "version"),
            from_seq=_seq(request, "from_seq"),
            to_seq=_seq(request, "to_seq"),
            user=request.user,
        )
    except RhythmicError as exc:
        messages.error(request, f"Backtest not started: {exc.message}")
    else:
        messages.success(
            request,
            f"Backtest #{backtest.pk} of v{backtest.version.number} started over learn "
            f"#{backtest.from_seq} to #{backtest.to_seq}.",
        )
    return redirect(dashboard_url(model, "backtests"))


@require_POST
@page(CHANGE_MODEL, "cancelling a backtest")
def backtest_cancel(request, name: str, pk: int):
    model = services.get_model_or_404(name)
    backtest = backtests.backtest_get(model=model, backtest_id=pk, recover=False)  # a stale one cancels at once
    if backtest is None:
        raise NotFound(f"{model.name} has no backtest {pk}")
    try:
        backtest = backtests.backtest_cancel(backtest=backtest, user=request.user)
    except RhythmicError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Backtest #{backtest.pk}: cancel requested ({backtest.status}).")
    return redirect(dashboard_url(model, "backtests"))
