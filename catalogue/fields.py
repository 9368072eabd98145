"""Model fields of the catalogue."""

import json

from django.db import models


class JSONTextField(models.TextField):
    """JSON kept as text, exactly as written.

    Postgres ``jsonb`` reorders object keys; feature order decides the order in which a model sums its
    inputs, so replicas replaying the learn log must see the client's order to reach bit-identical states.
    """

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(value)

    def to_python(self, value):
        return json.loads(value) if isinstance(value, str) else value

    def get_prep_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"))
