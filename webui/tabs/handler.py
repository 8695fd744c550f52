"""Tab handlers as plain functions of the service: `fn(studio, ..., *inputs)`, wired to an event by
`handler(fn, studio, ...)`, so that a test calls them without building any Blocks.

    rename_button.click(handler(rename, studio), [picker, new_name], [message, picker])
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from core.errors import InputError

from ..errors import user_errors
from ..studio import Studio


def handler(fn: Callable, studio: Studio, *args: Any) -> Callable:
    """`fn` with its first arguments (`studio`, `args`) given, as Gradio reads an event handler: the rest
    of its signature (the names of the inputs, gr.Progress, gr.Request) and its docstring (the API
    page's description); a user's mistake shows as a message (webui.errors.user_errors).

    Not functools.partial: Gradio reads gr.Request and gr.SelectData from type hints, which a partial
    hides. The hints are resolved in fn's module, so its annotations must name what it imports.
    """
    given = (studio, *args)
    signature = inspect.signature(fn)
    if inspect.isgeneratorfunction(fn):

        def bound(*inputs, **kwargs):
            yield from fn(*given, *inputs, **kwargs)

    else:

        def bound(*inputs, **kwargs):
            return fn(*given, *inputs, **kwargs)

    functools.update_wrapper(bound, fn)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[len(given) :])
    return user_errors(studio.redact)(bound)


def required(value: str | None, message: str) -> str:
    """`value`, or an InputError "`message` first." when the user has not chosen or typed one."""
    if not value or not str(value).strip():
        raise InputError(f"{message} first.")
    return str(value)
