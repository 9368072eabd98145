"""Server-rendered pages."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from catalogue import selectors


@login_required
def home(request):
    return render(request, "dashboard/home.html", {"models": selectors.model_list()})
