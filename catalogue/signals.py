"""Signals of the catalogue, sent after the change has committed (monitoring turns them into live events)."""

from django.dispatch import Signal

#: deployment: the Deployment row (promote, rollback or retire).
deployment_changed = Signal()
#: version: the ModelVersion whose validation just finished (ready or failed).
version_validated = Signal()
