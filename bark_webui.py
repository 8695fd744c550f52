"""The web app: Bark Studio in the browser.

    python bark_webui.py                         # http://127.0.0.1:7860, this machine only
    python bark_webui.py --listen --auth me:secret --port 8080
    BARK_WEBUI_AUTH=me:secret python bark_webui.py --listen
    python bark_webui.py --api-only --api-key KEY  # the REST API alone
    python bark_webui.py --api-only --ray --replicas 2  # the REST API from a Ray Serve cluster (pip install ".[ray]")

With --auth or --api-key (or both) every page and route but /health asks for the login or the key:
the browser asks for it, API clients send `Authorization: Bearer KEY` or HTTP Basic (`curl -u USER:PASS`).

Generation, cloning, the voice library, the history of outputs and the model settings, each in a tab,
and the REST API (docs at /docs) on the same server.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import webbrowser
from pathlib import Path

import huggingface_hub

from core.engine import Engine, EngineSettings
from core.errors import BarkError, InputError
from core.flags import HelpFormatter, add_engine_flags, engine_flag_names, engine_settings, naming_flag
from webui.api.routes import API_KEY_ENV, DEFAULT_MAX_QUEUE, api_key_from
from webui.door import Credentials

AUTH_ENV = "BARK_WEBUI_AUTH"
DEFAULT_PORT = 7860


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bark_webui.py", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    server = parser.add_argument_group("server")
    server.add_argument("--listen", action="store_true", help="accept connections from other machines (0.0.0.0)")
    server.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to serve on")
    server.add_argument(
        "--share", action="store_true", help="serve the web UI on a public gradio.live link (without the REST API)"
    )
    server.add_argument("--auth", metavar="USER:PASS", help=f"ask for this login (or set {AUTH_ENV})")
    server.add_argument("--inbrowser", action="store_true", help="open the app in the browser")
    api = parser.add_argument_group("REST API")
    api.add_argument("--api-only", action="store_true", help="serve the REST API without the web UI")
    api.add_argument("--api-key", metavar="KEY", help=f"bearer token the API asks for (or set {API_KEY_ENV})")
    api.add_argument("--cors", nargs="*", default=[], metavar="ORIGIN", help="web origins allowed to call the API")
    api.add_argument("--max-queue", type=_count, default=DEFAULT_MAX_QUEUE, metavar="N", help="requests that may wait")
    cluster = parser.add_argument_group("cluster (Ray Serve: pip install '.[ray]')")
    cluster.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="serve the REST API (--api-only) from a Ray cluster: a new local one, or the one at ADDRESS",
    )
    cluster.add_argument(
        "--replicas",
        type=_replicas,
        default=(1, None),
        metavar="N|MIN-MAX",
        help="generation replicas (MIN-MAX: autoscale)",
    )
    cluster.add_argument("--gpus-per-replica", type=float, default=0.0, metavar="G", help="GPUs each replica holds")
    output = parser.add_argument_group("output")
    output.add_argument("--output-dir", type=Path, default=Path("outputs"), metavar="DIR", help="outputs and history")
    output.add_argument("--projects-dir", type=Path, default=Path("projects"), metavar="DIR", help="long-form projects")
    add_engine_flags(parser)
    return parser


def _count(value: str) -> int:
    """argparse type: a whole number, 0 or more."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more; got {value!r}")
    return int(value)


def _replicas(value: str) -> tuple[int, int | None]:
    """argparse type: "N" (that many replicas) or "MIN-MAX" (autoscaling bounds), each 1 or more."""
    low, sep, high = value.partition("-")
    if not low.isdigit() or int(low) < 1 or (sep and (not high.isdigit() or int(high) < int(low))):
        raise argparse.ArgumentTypeError(f"must be N or MIN-MAX, whole numbers 1 or more; got {value!r}")
    return int(low), int(high) if sep else None


def settings_from_args(args: argparse.Namespace) -> EngineSettings:
    """The EngineSettings of the engine flags, the same as bark_perform.py's (core.flags)."""
    try:
        return engine_settings(args)
    except InputError as e:
        raise naming_flag(e, engine_flag_names()) from e


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """'user:pass' -> ("user", "pass"); None when no login is asked for."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise BarkError(f"--auth (or {AUTH_ENV}) must be USER:PASSWORD with neither part empty")
    return user, password


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        auth = parse_auth(args.auth or os.environ.get(AUTH_ENV))
        engine = Engine(settings_from_args(args))
    except BarkError as e:
        print(f"bark_webui.py: error: {e}", file=sys.stderr)
        return 2
    if args.ray is not None:
        return serve_on_ray(args, engine.settings, auth)
    serve(args, engine, auth)
    return 0


def serve_on_ray(args: argparse.Namespace, settings: EngineSettings, auth: tuple[str, str] | None) -> int:
    """The REST API as a Ray Serve application (webui.ray_serve), on a new local cluster or at --ray ADDRESS."""
    if not args.api_only:
        print("bark_webui.py: error: --ray serves the REST API only; add --api-only", file=sys.stderr)
        return 2
    token = ray_token_at_hand()
    if args.ray and "RAY_AUTH_MODE" not in os.environ and token:
        # Ray reads this when it is imported. A cluster that `ray start` made where a token was at
        # hand asks for it, but Ray itself turns token mode on only for a cluster it starts (and a
        # cluster without token authentication takes a client in token mode too).
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        from webui.ray_serve import ClusterSettings, ClusterUnreachable, serve_cluster
    except ImportError:
        print("bark_webui.py: error: --ray needs Ray Serve: pip install '.[ray]'", file=sys.stderr)
        return 2
    cluster = ClusterSettings(
        engine=settings,
        replicas=args.replicas[0],
        max_replicas=args.replicas[1],
        gpus_per_replica=args.gpus_per_replica,
        max_queue=args.max_queue,
        projects_dir=args.projects_dir,
        api_key=api_key_from(args.api_key),
        login=auth,
        cors_origins=tuple(args.cors),
        local_only=not args.listen,
    )
    host = "0.0.0.0" if args.listen else "127.0.0.1"
    where = f"the Ray cluster at {args.ray}" if args.ray else "a new local Ray cluster"
    print(f"bark_webui.py: the REST API from {where} at http://{host}:{args.port}/ (docs at /docs)", file=sys.stderr)
    try:
        serve_cluster(cluster, args.ray or None, host, args.port)
    except ClusterUnreachable as e:
        if not args.ray:
            hint = ""
        elif os.environ.get("RAY_AUTH_MODE") == "token":
            hint = f" It was asked with the token of {token or 'RAY_AUTH_TOKEN'}: that must be the cluster's token."
        else:
            hint = (
                " A cluster with token authentication also needs its token here (RAY_AUTH_TOKEN, "
                "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, as on its nodes)."
            )
        print(f"bark_webui.py: error: {e}{hint}", file=sys.stderr)
        return 2
    return 0


def ray_token_at_hand() -> str | None:
    """Where this machine has a Ray cluster token, of the places Ray looks for one; None: nowhere."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    return str(path) if path.is_file() else None


def serve(args: argparse.Namespace, engine: Engine, auth: tuple[str, str] | None) -> None:
    """The UI and the API on one server; with --share, Gradio's own server (UI only) for the public link."""
    # the web stack loads only once the arguments are good
    from webui.app import create_app, launch_options
    from webui.server import create_server, run
    from webui.studio import Studio

    host = "0.0.0.0" if args.listen else "127.0.0.1"
    # the one service behind the tabs and the REST routes; the models folder is changed only from this machine
    studio = Studio(
        engine,
        None if args.api_only else args.output_dir,
        allow_paths=not (args.listen or args.share),
        projects_dir=args.projects_dir,
    )
    credentials = Credentials(api_key_from(args.api_key), auth)
    blocks = None
    if not args.api_only:
        blocks = create_app(studio)
        if args.share:
            print("bark_webui.py: with --share only the web UI is served (the REST API stays off)", file=sys.stderr)
            studio.projects.resume()  # create_server's lifespan does this for its own server
            blocks.launch(
                server_name=host,
                server_port=args.port,
                share=True,
                auth=credentials.accepts_login if credentials.required else None,
                inbrowser=args.inbrowser,
                **launch_options(args.output_dir, args.projects_dir),
            )
            return
    app = create_server(
        studio,
        ui=blocks,
        api_key=credentials.api_key,
        login=credentials.login,
        cors_origins=args.cors,
        local_only=not args.listen,
        max_queue=args.max_queue,
    )
    local_url = f"http://127.0.0.1:{args.port}/"
    for line in startup_report(engine, args, local_url):
        print(f"bark_webui.py: {line}", file=sys.stderr, flush=True)
    if credentials.required:
        print(f"bark_webui.py: {_login_hint(credentials)}", file=sys.stderr)
    if args.inbrowser:
        threading.Timer(2.0, open_browser, [local_url]).start()
    run(app, engine, host, args.port)


def startup_report(engine: Engine, args: argparse.Namespace, url: str) -> list[str]:
    """What the person who started the server wants to know: where it answers, on what device, where
    models and voices are read from, and whether the model files are here yet."""
    what = "the REST API (docs at /docs)" if args.api_only else "Bark Studio"
    reach = "other machines too: every address of this one" if args.listen else "this machine only (--listen: others)"
    settings = engine.settings
    small = [stage for stage in ("text", "coarse", "fine") if settings.small(stage)]
    sizes = f"small {', '.join(small)}" if small else "large"
    lines = [
        f"{what} at {url} ({reach})",
        f"device {engine.device}, {str(engine.dtype).removeprefix('torch.')}; models {sizes}"
        + ("; fast mode" if settings.fast else ""),
        f"model files: {_model_places(engine)}; {_model_presence(engine)}",
        f"voices in {engine.library.root}, outputs in {args.output_dir}, projects in {args.projects_dir}",
    ]
    return lines


def _model_places(engine: Engine) -> str:
    cache = huggingface_hub.constants.HF_HUB_CACHE
    folder = engine.locator.models_dir
    return f"{folder}, then the Hugging Face cache ({cache})" if folder else f"the Hugging Face cache ({cache})"


def _model_presence(engine: Engine) -> str:
    missing = engine.missing_model_files()
    if not missing:
        return "all here"
    names = ", ".join(str(f) for f in missing)
    if engine.settings.allow_download:
        ahead = "or ahead of time with Settings, 'Download and check the models'"
        return f"{len(missing)} to download on first use ({ahead}): {names}"
    return f"{len(missing)} missing and downloads are off (--offline), so generating will fail: {names}"


def open_browser(url: str) -> None:
    if not webbrowser.open(url):
        print(f"bark_webui.py: no web browser found here; open {url} yourself", file=sys.stderr, flush=True)


def _login_hint(credentials: Credentials) -> str:
    if credentials.login is not None:
        return f"log in as {credentials.login[0]!r} (the browser asks); API clients may use the login or the key"
    return "the browser asks for a login: any user name, the API key as the password"


if __name__ == "__main__":
    sys.exit(main())
