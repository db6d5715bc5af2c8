"""How an error reads on the wire: OpenAI's shape on the OpenAI-compatible paths, ours elsewhere.

OpenAI clients parse `{"error": {message, type, param, code}}` and raise by status, so the paths
they call (/v1/chat/completions, /v1/models...) answer in that shape, whichever layer refuses the
request (middleware, security, validation, the library). Every other path keeps
`{"code", "message"}` (`schemas.Error`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.types import Scope

OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")
# OpenAI's own codes, where it has one for the case; elsewhere our stable code is kept.
_OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
# A loc part that names a union member, not a field ("str", "list[ContentPart]", "ContentPart").
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|[A-Z]\w*|\w+\[.*\])$")


def speaks_openai(scope: Scope) -> bool:
    """Whether the request is to one of the OpenAI-compatible paths."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return any(path == p or path.startswith(p + "/") for p in OPENAI_PATHS)


def openai_status(status: int) -> int:
    """OpenAI has no 422: an unusable input is a 400 there."""
    return 400 if status == 422 else status


def error_type(status: int) -> str:
    """OpenAI's error `type` for a status."""
    if status >= 500:
        return "server_error"
    if status == 429:
        return "requests"  # what OpenAI sends for a request-rate limit ("tokens" for TPM)
    return "invalid_request_error"


def openai_error(status: int, message: str, code: str | None = None,
                 param: str | None = None) -> dict[str, Any]:
    """The body of an OpenAI error reply."""
    return {"error": {"message": message, "type": error_type(status), "param": param,
                      "code": _OPENAI_CODES.get(status, code)}}


def error_reply(scope: Scope, status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    """(status, body) of an error, in the shape the request's path speaks."""
    if speaks_openai(scope):
        status = openai_status(status)
        return status, openai_error(status, message, code)
    return status, {"code": code, "message": message}


def param_of(loc: Sequence[str | int]) -> str | None:
    """A validation error's location as OpenAI names a parameter: `messages[0].role`."""
    name = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif _UNION_MEMBER.match(part):
            break  # the rest is inside one member of a union: the field itself is the param
        else:
            name += f".{part}" if name else part
    return name or None


def openai_invalid(error: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a 400 for a request that failed validation, from pydantic's first error."""
    kind = error.get("type")
    if kind == "json_invalid":  # its loc is a character offset, no parameter
        why = (error.get("ctx") or {}).get("error", "")
        return openai_error(400, f"the request body is not valid JSON: {why}".rstrip(": "),
                            "invalid_request")
    msg = str(error.get("msg", "invalid request")).removeprefix("Value error, ")
    param = param_of(error.get("loc", ()))
    code = "missing_required_parameter" if kind == "missing" else "invalid_value"
    return openai_error(400, f"{param}: {msg}" if param else msg, code, param)
