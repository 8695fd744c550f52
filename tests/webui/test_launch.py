"""`python bark_webui.py`: flags, login, where it listens (the server's run is replaced by a recorder)."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import huggingface_hub
import pytest
from starlette.testclient import TestClient

import bark_perform
import bark_webui
import webui.server
from bark_webui import AUTH_ENV, build_parser, main, parse_auth, settings_from_args
from core.engine import EngineSettings
from core.errors import BarkError


@pytest.fixture()
def launched(monkeypatch, tiny_models, tmp_path):
    """Run main() offline on the tiny models with the servers replaced by recorders.

    Returns what was served: {"host", "port", "app" (the whole server), "launch" (kwargs of Gradio's
    own launch, with --share), "opened" (pages opened in a browser)}.
    """
    served = {}
    monkeypatch.setattr(
        webui.server, "run", lambda app, engine, host, port: served.update(app=app, host=host, port=port)
    )
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: served.update(launch=kwargs))
    monkeypatch.setattr(bark_webui.threading, "Timer", lambda delay, fn, args: SimpleNamespace(start=lambda: fn(*args)))
    monkeypatch.setattr(bark_webui.webbrowser, "open", lambda url: served.setdefault("opened", []).append(url) or True)
    monkeypatch.delenv(AUTH_ENV, raising=False)
    base = ["--models-dir", str(tiny_models), "--offline", "--device", "cpu"]
    base += ["--prompts-dir", str(tmp_path / "prompts"), "--output-dir", str(tmp_path / "out")]

    def run(*args: str) -> dict:
        served.clear()
        assert main([*base, *args]) == 0
        return dict(served)

    return run


def routes(app) -> set[str]:
    return set(app.openapi()["paths"])


def local(app) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1:7860")


def test_defaults_serve_ui_and_api_on_this_machine_only(launched, tmp_path):
    served = launched()
    assert (served["host"], served["port"]) == ("127.0.0.1", 7860)
    assert {"/health", "/v1/audio/speech", "/generate-audio/"} <= routes(served["app"])
    client = local(served["app"])
    assert client.get("/voices").status_code == 200 and client.get("/config").status_code == 200
    # listening on this machine only, it answers to this machine's names only (no DNS rebinding)
    assert TestClient(served["app"], base_url="http://rebound.example:7860").get("/voices").status_code == 421
    assert "opened" not in served


def test_listen_port_login_and_browser(launched, monkeypatch):
    served = launched("--listen", "--port", "9000", "--auth", "me:pa:ss", "--inbrowser")
    assert (served["host"], served["port"]) == ("0.0.0.0", 9000)
    assert served["opened"] == ["http://127.0.0.1:9000/"]
    client = TestClient(served["app"], base_url="http://studio.lan:9000")  # any name, with --listen
    assert client.get("/config").status_code == 401 and client.get("/config", auth=("me", "pa:ss")).status_code == 200
    monkeypatch.setenv(AUTH_ENV, "env:secret")
    assert local(launched()["app"]).get("/config", auth=("env", "secret")).status_code == 200
    flag = local(launched("--auth", "flag:wins")["app"])
    assert flag.get("/config", auth=("env", "secret")).status_code == 401
    assert flag.get("/config", auth=("flag", "wins")).status_code == 200


def test_the_login_guards_the_api_as_well_as_the_ui(launched):
    for flags in [("--auth", "me:pw"), ("--api-only", "--auth", "me:pw")]:
        client = local(launched(*flags)["app"])
        assert client.get("/voices").status_code == 401
        assert client.get("/voices", auth=("me", "pw")).status_code == 200
    assert local(launched()["app"]).get("/voices").status_code == 200


def test_a_negative_queue_length_is_a_usage_error(launched, capsys):
    with pytest.raises(SystemExit) as exit_info:
        launched("--max-queue", "-1")
    assert exit_info.value.code == 2 and "whole number, 0 or more" in capsys.readouterr().err


def test_api_only_mounts_no_ui(launched):
    served = launched("--api-only", "--api-key", "k", "--cors", "http://a.example")
    client = local(served["app"])
    assert "/v1/audio/voices" in routes(served["app"])
    assert client.get("/config", headers={"Authorization": "Bearer k"}).status_code == 404


def test_share_serves_the_ui_through_gradio(launched):
    served = launched("--share", "--inbrowser")
    assert served["launch"]["share"] is True and "app" not in served
    assert served["launch"]["inbrowser"] is True and served["launch"]["auth"] is None


def test_share_asks_for_the_login_or_the_key(launched):
    check = launched("--share", "--api-key", "k")["launch"]["auth"]
    assert check("anyone", "k") and not check("anyone", "nope")
    check = launched("--share", "--auth", "me:pw")["launch"]["auth"]
    assert check("me", "pw") and not check("me", "k") and not check("you", "pw")


def test_a_bad_login_is_refused(monkeypatch, capsys):
    monkeypatch.setenv(AUTH_ENV, "no-colon")
    assert main(["--offline"]) == 2
    assert "USER:PASSWORD" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["", None])
def test_no_login(value):
    assert parse_auth(value) is None


@pytest.mark.parametrize("value", ["user", ":pass", "user:"])
def test_parse_auth_refuses(value):
    with pytest.raises(BarkError):
        parse_auth(value)


def test_engine_flags():
    args = build_parser().parse_args(["--small-models", "--offload-cpu", "--device", "cpu", "--offline"])
    settings = settings_from_args(args)
    assert settings == EngineSettings.all_small(offload_cpu=True, device="cpu", allow_download=False)
    assert settings_from_args(build_parser().parse_args(["--fast"])).fast is True
    assert settings_from_args(build_parser().parse_args(["--cuda-graphs"])).cuda_graphs is True
    assert bark_webui.DEFAULT_PORT == 7860


def test_the_two_launchers_take_the_same_engine_flags():
    """bark_webui.py once lacked --dtype, --max-batch and --small-text/coarse/fine that bark_perform.py has."""

    def engine_flags(parser) -> set[str]:
        group = next(g for g in parser._action_groups if g.title == "models and device")
        return {flag for action in group._group_actions for flag in action.option_strings}

    assert engine_flags(build_parser()) == engine_flags(bark_perform.build_parser())
    args = build_parser().parse_args(["--dtype", "float32", "--max-batch", "2", "--small-text", "--small-fine"])
    assert settings_from_args(args) == EngineSettings(dtype="float32", max_batch=2, small_text=True, small_fine=True)


def test_the_start_says_where_it_answers_on_what_device_and_what_it_reads(launched, capsys, tiny_models, tmp_path):
    """It once printed nothing at all (uvicorn at warning level)."""
    launched()
    err = capsys.readouterr().err
    assert "bark_webui.py: Bark Studio at http://127.0.0.1:7860/ (this machine only" in err
    assert "device cpu, float32; models large" in err
    assert f"model files: {tiny_models}, then the Hugging Face cache" in err and "; all here" in err
    assert f"voices in {tmp_path / 'prompts'}, outputs in {tmp_path / 'out'}" in err
    launched("--api-only", "--listen", "--small-models", "--fast")
    err = capsys.readouterr().err
    assert "the REST API (docs at /docs) at http://127.0.0.1:7860/ (other machines too" in err
    assert "models small text, coarse, fine; fast mode" in err


def test_the_start_names_the_model_files_that_are_missing(launched, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    (tmp_path / "no-models").mkdir()
    launched("--models-dir", str(tmp_path / "no-models"))
    err = capsys.readouterr().err
    assert "6 missing and downloads are off (--offline), so generating will fail" in err
    assert "suno/bark/text_2.pt" in err and "facebook/encodec_24khz/model.safetensors" in err


def test_inbrowser_without_a_browser_says_so(launched, capsys, monkeypatch):
    monkeypatch.setattr(bark_webui.webbrowser, "open", lambda url: False)
    launched("--inbrowser")
    assert "no web browser found here; open http://127.0.0.1:7860/ yourself" in capsys.readouterr().err


def test_help_shows_the_defaults_and_what_share_leaves_out():
    text = " ".join(build_parser().format_help().split())
    for default in ("(default: 16)", "(default: prompts)", "(default: outputs)", "(default: 7860)"):
        assert default in text
    assert "public gradio.live link (without the REST API)" in text
