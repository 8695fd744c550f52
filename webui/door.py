"""The server's one door: every request passes here before any route (REST, docs, the web UI, Gradio's API).

    app = Door(app, Credentials(api_key="KEY", login=("me", "secret")), local_only=True, origins=[])

- Credentials: with an API key or a login (or both), nothing but PUBLIC_PATHS answers without one of
  them: `Authorization: Bearer KEY`, or HTTP Basic with the login (`curl -u USER:PASS`), or HTTP Basic
  with any user name and the key as the password. A browser asks for the Basic login itself (the
  401 carries a Basic challenge), then sends it with every request of the page.
- Origins: a request a web page of another origin sends (it carries `Origin`) is refused unless that
  origin was allowed (--cors), so a page open in the user's browser cannot drive this server. Behind a
  reverse proxy that passes its own Host (nginx's default), name the public origin with --cors.
- Host: a server that listens on this machine only answers to this machine's names alone, so a
  page cannot reach it by pointing its own domain name at 127.0.0.1 (DNS rebinding).
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers

PUBLIC_PATHS = frozenset({"/health"})
LOCAL_NAMES = frozenset({"localhost"})  # and loopback addresses (127.0.0.1, [::1], 0.0.0.0 as browsers send it)
REALM = "Bark Studio"

HeaderList = list[tuple[str, str]]
Respond = Callable[..., Callable[..., Awaitable[None]]]  # (status, message, headers=...) -> an ASGI response


@dataclass(frozen=True)
class Credentials:
    """What the server asks for; nothing when both are None."""

    api_key: str | None = None
    login: tuple[str, str] | None = None

    @property
    def required(self) -> bool:
        return self.api_key is not None or self.login is not None

    def accepts(self, authorization: str | None) -> bool:
        """Does this Authorization header carry the key or the login? The secrets are compared in
        constant time, user and password both, so timing tells nothing about which part was wrong."""
        scheme, _, value = (authorization or "").partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer":
            return self.api_key is not None and _same(value, self.api_key)
        if scheme != "basic":
            return False
        user, password = _basic(value)
        return user is not None and self.accepts_login(user, password)

    def accepts_login(self, user: str, password: str) -> bool:
        """The login, or any user name with the API key as the password (also Gradio's own login form
        when it serves the UI itself, with --share)."""
        login_ok = self.login is not None and (_same(user, self.login[0]) & _same(password, self.login[1]))
        key_ok = self.api_key is not None and _same(password, self.api_key)
        return login_ok | key_ok

    def refusal(self) -> tuple[str, list[str]]:
        """The 401's message and its WWW-Authenticate challenges."""
        ways = [] if self.api_key is None else ["the API key as Authorization: Bearer KEY"]
        if self.login is not None:
            ways.append("the login as HTTP Basic credentials (curl -u USER:PASS)")
        elif self.api_key is not None:
            ways.append("HTTP Basic credentials with the API key as the password (any user name)")
        challenges = ["Bearer"] if self.api_key is not None else []
        return f"this server asks for {' or '.join(ways)}", [*challenges, f'Basic realm="{REALM}", charset="UTF-8"']


def _basic(value: str) -> tuple[str | None, str]:
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
        return None, ""
    return (user, password) if sep else (None, "")


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


class Door:
    """ASGI middleware: host, origin and credential checks, in that order, for every HTTP and
    WebSocket request; `respond(status, message, headers)` makes the refusal (the API's error shape)."""

    def __init__(
        self,
        app: Any,
        credentials: Credentials,
        *,
        local_only: bool,
        origins: Iterable[str],
        respond: Respond,
    ):
        self.app = app
        self.credentials = credentials
        self.local_only = local_only
        self.origins = frozenset(o.rstrip("/") for o in origins)
        self.respond = respond

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.check(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            status, message, headers = refusal
            await self.respond(status, message, headers=headers)(scope, receive, send)

    def check(self, scope) -> tuple[int, str, HeaderList] | None:
        """None to let the request in, else (status, message, headers) of the refusal."""
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.local_only and not _is_local(_hostname(host)):
            return 421, f"this server answers on this machine only: open http://127.0.0.1:{_port(host)}/", []
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin.rstrip("/"), host):
            return 403, f"requests from web pages of {origin} are not allowed here (see --cors)", []
        if scope.get("path", "") in PUBLIC_PATHS or not self.credentials.required:
            return None
        if self.credentials.accepts(headers.get("authorization")):
            return None
        message, challenges = self.credentials.refusal()
        return 401, message, [("www-authenticate", c) for c in challenges]

    def _origin_allowed(self, origin: str, host: str) -> bool:
        """The page's own server (same host and port; the scheme may differ behind a TLS proxy) or --cors."""
        same = origin.partition("://")[2].lower() == host.lower() and bool(host)
        return same or origin in self.origins or "*" in self.origins


def _is_local(name: str) -> bool:
    """localhost, or an address of this machine's loopback written as such (no domain to rebind)."""
    if name in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _hostname(host: str) -> str:
    """ "127.0.0.1:7860" -> "127.0.0.1"; "[::1]:7860" -> "[::1]"."""
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0].lower() if ":" in host else host.lower()


def _port(host: str) -> str:
    tail = host.rsplit("]", 1)[-1]
    return tail.rsplit(":", 1)[1] if ":" in tail else "80"
