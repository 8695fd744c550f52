"""Errors as the page shows them: a user's mistake is a gr.Error message, never a stack trace."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable

import gradio as gr

from core.errors import BarkError

log = logging.getLogger("webui")

UNEXPECTED = "Something went wrong ({}). The details are in the server's log."


def user_errors(redact: Callable[[str], str]) -> Callable[[Callable], Callable]:
    """A decorator for a handler (plain or generator): BarkError becomes gr.Error with its message, with
    the server's folders named by `redact` (webui.redact.Redactor), and anything unexpected becomes a
    short gr.Error, its traceback going to the server's log."""

    def decorate(fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def generator(*args, **kwargs):
                try:
                    yield from fn(*args, **kwargs)
                except Exception as e:
                    raise _as_gr_error(e, redact) from e

            return generator

        @functools.wraps(fn)
        def handler(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                raise _as_gr_error(e, redact) from e

        return handler

    return decorate


def _as_gr_error(e: Exception, redact: Callable[[str], str]) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, BarkError):
        return gr.Error(redact(str(e)), print_exception=False)
    log.exception("unexpected error in a web handler")
    return gr.Error(UNEXPECTED.format(type(e).__name__), print_exception=False)
