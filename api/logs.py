"""Logging that never holds a token, a phone number or a post body.

The app logs no request content itself (``schema/extensions.py`` logs error paths, not
messages). What the libraries would log is held back here: the Neo4j driver's wire log
(it prints query parameters), websocket frames (they carry the token), and the query
string of access-log lines (a GET request's variables).
"""

from __future__ import annotations

import logging

from starlette.websockets import WebSocketDisconnected as SentAfterClose
from strawberry.http.exceptions import WebSocketDisconnected

from api.settings import Settings

# Libraries whose debug output quotes what clients sent: never below WARNING.
QUIET = ("neo4j", "websockets", "redis", "httpx", "httpcore", "hpack", "strawberry")


class _NoQueryString(logging.Filter):
    """uvicorn's access line is ``client - "METHOD path HTTP/v" status``: the path keeps
    its route and loses its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


class _ClientWentAway(logging.Filter):
    """Strawberry logs a traceback at ERROR whenever a message is on its way to a socket
    that is gone: the subscriber hung up, or the server closed it (a cap, a suspension)
    and Starlette refuses to send after the close. Neither is a server error, and hostile
    clients could flood the log with them. Every other exception in its tasks still logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, WebSocketDisconnected | SentAfterClose)


def configure(settings: Settings) -> None:
    level = settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in QUIET:
        library = logging.getLogger(name)
        library.setLevel(max(logging.WARNING, library.getEffectiveLevel()))
    tasks = logging.getLogger("strawberry.ws.task")
    if not any(isinstance(f, _ClientWentAway) for f in tasks.filters):
        tasks.addFilter(_ClientWentAway())
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _NoQueryString) for f in access.filters):
        access.addFilter(_NoQueryString())
