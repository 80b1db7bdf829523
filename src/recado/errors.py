"""Typed errors. Services raise these; the API maps each to one JSON shape in one place."""

from __future__ import annotations


class RecadoError(Exception):
    """An error a caller can act on. `code` is stable and documented; `message` is for people."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class ValidationFailed(RecadoError):
    code = "invalid_request"
    status = 422


class InvalidPhoneNumber(ValidationFailed):
    code = "invalid_phone_number"


class NotFound(RecadoError):
    code = "not_found"
    status = 404


class Conflict(RecadoError):
    code = "conflict"
    status = 409


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"


class Unauthorized(RecadoError):
    code = "unauthorized"
    status = 401


class PermissionDenied(RecadoError):
    code = "forbidden"
    status = 403


class InvalidStatusTransition(RecadoError):
    code = "invalid_status_transition"
    status = 409


class RecipientOptedOut(RecadoError):
    """The number said STOP (or was erased): it gets nothing until it says START."""

    code = "recipient_opted_out"
    status = 409


class ConsentRequired(RecadoError):
    """A marketing text to a contact with no recorded opt-in."""

    code = "consent_required"
    status = 409


class FrequencyCapped(RecadoError):
    code = "frequency_capped"
    status = 409


class TooManyRequests(RecadoError):
    code = "too_many_requests"
    status = 429
