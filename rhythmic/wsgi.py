"""WSGI entry point (gunicorn or any WSGI server): the fastest path for the REST API."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rhythmic.settings")
application = get_wsgi_application()
