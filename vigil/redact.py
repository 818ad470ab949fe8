"""One redaction function for every URL, error, log record and answer that may carry a secret.

Credentials reach Vigil inside camera and database URLs: `rtsp://user:password@host/…`,
`http://host/cgi?user=admin&pwd=…`, `postgresql://vigil:secret@db/vigil`. They must never leave
the server: not in API answers, pages, error messages, `vigil config`, nor log lines. `redact`
masks them wherever they appear in a text; `install_log_redaction` applies it to every log record
of the process (messages, arguments and tracebacks), whichever library logs it.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

MASK = "***"
# scheme://userinfo@: greedy up to the last "@" before the path, as a password may hold a raw "@"
_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/\s'\"<>]+@", re.IGNORECASE)
# ?key=value / &key=value / ;key=value where key names a credential (cameras' CGI APIs use many)
_SECRET_PARAMS = (
    "user", "username", "usr", "login", "pwd", "pass", "passwd", "password", "token",
    "access_token", "auth", "authorization", "api_key", "apikey", "key", "secret", "sig",
    "signature", "session", "sessionid",
)  # fmt: skip
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:" + "|".join(_SECRET_PARAMS) + r")=)[^&#\s'\"<>]*", re.IGNORECASE
)


# An RTMP URL's last path segment is the stream key, a publishing password (rtmp://host/app/KEY)
_RTMP_KEY = re.compile(r"(?P<app>\brtmps?://[^/\s'\"<>]+/[^/\s'\"<>?]+/)[^\s'\"<>?&]+", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with URL credentials masked: `rtsp://***@host/…`, `…?user=***&pwd=***`,
    `rtmp://host/live/***`."""
    if "://" not in text and "=" not in text:
        return text  # the common case, cheap
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _RTMP_KEY.sub(lambda m: f"{m.group('app')}{MASK}", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('key')}{MASK}", text)


def redact_json(value: Any) -> Any:
    """Every string inside a JSON-like value redacted (settings dumps, answers)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_json(item) for key, item in value.items()}
    return value


_installed = False


def install_log_redaction() -> None:
    """Redact every log record created from now on in this process (idempotent).

    A record factory, not a handler filter: filters on a handler or logger miss records of
    other handlers and of child loggers, a factory sees every record of every library."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        if redact(message) != message:
            _redact_in_place(record)
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters reuse exc_text when set: the traceback's messages are redacted too.
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def _redact_in_place(record: logging.LogRecord) -> None:
    """Redacts the message and its arguments, keeping their shape: formatters such as uvicorn's
    access log unpack `record.args` themselves."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
    elif isinstance(record.args, dict):
        record.args = {key: redact(arg) if isinstance(arg, str) else arg for key, arg in record.args.items()}
    if redact(record.getMessage()) != record.getMessage():  # a secret split across arguments
        record.msg, record.args = redact(record.getMessage()), None
