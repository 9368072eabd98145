"""The errors the core raises; every interface turns them into its own shape (HTTP status, CommandError…)."""


class RhythmicError(Exception):
    """A request the core refuses, with a message that says what to fix."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class InvalidInput(RhythmicError):
    """The input is malformed or does not fit the model."""


class NotFound(RhythmicError):
    status = 404
    code = "not_found"


class UnknownModel(NotFound):
    """No model has the requested name: the name comes from the client, so it must not become a label."""


class WrongLocation(RhythmicError):
    """The model is deployed to another location than the one this process serves (RHYTHMIC_LOCATION)."""

    status = 421  # Misdirected Request: the load balancer should send it to that location's processes
    code = "wrong_location"


class Conflict(RhythmicError):
    """The input is fine but the current state forbids it (e.g. promoting a version that failed validation)."""

    status = 409
    code = "conflict"


class TooLarge(RhythmicError):
    status = 413
    code = "too_large"
