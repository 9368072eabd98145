"""WSGI entry point (gunicorn, or the threads of rhythmic/onesite.py): the fastest path for the REST API."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rhythmic.settings")
django.setup(set_prefix=False)

from rhythmic.handlers import WSGIApplication  # noqa: E402 - needs the settings above

application = WSGIApplication()
