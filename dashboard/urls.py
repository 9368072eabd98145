"""Routes of the server-rendered pages."""

from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [path("", views.home, name="home")]
