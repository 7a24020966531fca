"""The API's errors as exceptions: one class per error code (docs/API.md, "Errors")."""


class TaskerError(Exception):
    """An error answer of tasker: `status` (HTTP), `code` (the API's) and `message`."""

    def __init__(self, status, code, message):
        super().__init__("%s %s: %s" % (status, code, message))
        self.status = status
        self.code = code
        self.message = message


class BadRequest(TaskerError):
    pass


class Unauthorized(TaskerError):
    pass


class NotFound(TaskerError):
    pass


class MethodNotAllowed(TaskerError):
    pass


class RequestTimeout(TaskerError):
    pass


class Conflict(TaskerError):
    pass


class PayloadTooLarge(TaskerError):
    pass


class UnsupportedMediaType(TaskerError):
    pass


class InvalidParams(TaskerError):
    pass


class Overloaded(TaskerError):
    pass


class Unavailable(TaskerError):
    pass


class ServerError(TaskerError):
    pass


_BY_CODE = {
    "bad_request": BadRequest, "unauthorized": Unauthorized, "not_found": NotFound,
    "method_not_allowed": MethodNotAllowed, "request_timeout": RequestTimeout,
    "conflict": Conflict, "payload_too_large": PayloadTooLarge,
    "unsupported_media_type": UnsupportedMediaType, "invalid_params": InvalidParams,
    "overloaded": Overloaded, "unavailable": Unavailable, "internal": ServerError,
}


def error_from(response):
    """The exception for an error answer (any non-2xx httpx response)."""
    try:
        err = response.json()["error"]
        code, message = err["code"], err["message"]
    except (ValueError, KeyError, TypeError):
        code, message = "internal", response.text[:500]
    return _BY_CODE.get(code, TaskerError)(response.status_code, code, message)
