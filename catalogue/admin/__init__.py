"""Django admin for the catalogue: every write goes through catalogue services, their errors become messages.

Versions are immutable (uploads only, through ``services.model_version_upload``); deployments are
append-only history, read-only here.
"""

from catalogue.admin import datasets, deployments, locations, mlmodels, pipelines, versions  # noqa: F401 - registers the admins
from catalogue.admin.common import ServiceErrorsAsMessages

__all__ = ["ServiceErrorsAsMessages"]
