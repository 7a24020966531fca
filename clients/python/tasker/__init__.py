"""tasker's Python client and HTTP worker.

    from tasker import Client, Worker

A `Client` submits tasks and reads them; a `Worker` runs the tasks of the types it serves,
leasing them over HTTP from a tasker coordinator.
"""

from .client import Client
from .errors import (BadRequest, Conflict, InvalidParams, MethodNotAllowed, NotFound,
                     Overloaded, PayloadTooLarge, RequestTimeout, ServerError, TaskerError,
                     Unauthorized, Unavailable, UnsupportedMediaType)
from .worker import PermanentError, Task, Worker

__all__ = [
    "Client", "Worker", "Task", "PermanentError", "TaskerError", "BadRequest", "Unauthorized",
    "NotFound", "MethodNotAllowed", "Conflict", "PayloadTooLarge", "UnsupportedMediaType",
    "InvalidParams", "Overloaded", "Unavailable", "RequestTimeout", "ServerError",
]
