"""WSGI entry point (gunicorn, or the threads of rhythmic/onesite.py): the fastest path for the REST API."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rhythmic.settings")
django.setup(set_prefix=False)

from rhythmic.handlers import WSGIApplication  # noqa: E402 - needs the settings above
from serving import instances  # noqa: E402

application = WSGIApplication()
# A production instance (RHYTHMIC_REGISTER_INSTANCES): gunicorn imports this in each worker, after the fork (the
# topology does not preload the app), so each worker registers as itself. rhythmic/onesite.py names its own kind.
instances.start(os.environ.get("RHYTHMIC_SERVER_KIND", "wsgi"))
