"""deploy/ray/serve.yaml is a valid Serve config of this application, and the flags map onto it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

import bark_webui
from bark_webui import build_parser

pytest.importorskip("ray.serve", reason="Ray Serve is an optional extra (pip install '.[ray]'): not tested")

from ray.serve.schema import ServeDeploySchema

from webui.ray_serve import GENERATOR, INGRESS, ClusterSettings, app_builder, serve_cluster

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "ray" / "serve.yaml"


def test_the_serve_config_is_valid_and_builds_the_application():
    config = yaml.safe_load(CONFIG.read_text())
    ServeDeploySchema.model_validate(config)
    (app,) = config["applications"]
    assert app["import_path"] == "webui.ray_serve:app_builder"
    assert {d["name"] for d in app["deployments"]} == {GENERATOR, INGRESS}
    built = app_builder(app["args"])  # binds the deployments (no cluster needed)
    assert type(built).__name__ == "Application"


def test_replicas_are_a_count_or_autoscaling_bounds():
    fixed = ClusterSettings(replicas=3, gpus_per_replica=1).generator_options()
    assert fixed["num_replicas"] == 3 and fixed["ray_actor_options"]["num_gpus"] == 1
    assert fixed["max_ongoing_requests"] == 1 and "autoscaling_config" not in fixed
    scaled = ClusterSettings(replicas=1, max_replicas=4).generator_options()["autoscaling_config"]
    assert (scaled["min_replicas"], scaled["max_replicas"]) == (1, 4) and "num_replicas" not in scaled
    with pytest.raises(ValueError):
        ClusterSettings(replicas=2, max_replicas=1)


def test_the_ray_flags():
    args = build_parser().parse_args(["--api-only", "--ray", "--replicas", "2-8", "--gpus-per-replica", "0.5"])
    assert (args.ray, args.replicas, args.gpus_per_replica) == ("", (2, 8), 0.5)
    assert build_parser().parse_args(["--ray", "head:6379"]).ray == "head:6379"
    assert build_parser().parse_args([]).ray is None and build_parser().parse_args([]).replicas == (1, None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--replicas", "3-2"])


@pytest.fixture
def own_environ(monkeypatch):
    """os.environ as a copy: what the command sets there (RAY_AUTH_MODE) stays in the test. Ray reads
    that variable when it is imported, so a leak would break every later cluster of the session."""
    environ = {
        k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
    }
    monkeypatch.setattr(os, "environ", environ)


def test_a_cluster_that_cannot_be_reached_is_an_error_that_says_what_to_check(
    own_environ, monkeypatch, tiny_models, tmp_path, capsys
):
    def unreachable(**kwargs):
        raise ConnectionError(f"Failed to connect to Ray cluster at {kwargs['address']}")

    monkeypatch.setattr("ray.init", unreachable)
    monkeypatch.setenv("HOME", str(tmp_path))  # no token at hand
    argv = ["--api-only", "--ray", "head:6379", "--models-dir", str(tiny_models), "--offline"]
    assert bark_webui.main(argv) == 2
    error = capsys.readouterr().err
    assert "could not connect to the Ray cluster at head:6379: Failed to connect" in error
    assert "Check the address" in error and "also needs its token here (RAY_AUTH_TOKEN" in error
    (tmp_path / "token").write_text("abc")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "token"))
    assert bark_webui.main(argv) == 2
    assert f"asked with the token of {tmp_path / 'token'}: that must be the cluster's" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "home", None])
def test_a_token_at_hand_turns_rays_token_mode_on(where, own_environ, monkeypatch, tiny_models, tmp_path):
    """Ray turns it on for a cluster it starts, not for one it joins: the command does."""
    monkeypatch.setenv("HOME", str(tmp_path))
    token = tmp_path / ".ray" / "auth_token"
    token.parent.mkdir()
    if where == "RAY_AUTH_TOKEN":
        monkeypatch.setenv(where, "abc")
    elif where == "RAY_AUTH_TOKEN_PATH":
        (tmp_path / "token").write_text("abc")
        monkeypatch.setenv(where, str(tmp_path / "token"))
    elif where == "home":
        token.write_text("abc")
    modes = []
    monkeypatch.setattr("webui.ray_serve.serve_cluster", lambda *a: modes.append(os.environ.get("RAY_AUTH_MODE")))
    assert bark_webui.main(["--api-only", "--ray", "head:6379", "--models-dir", str(tiny_models), "--offline"]) == 0
    assert modes == ([None] if where is None else ["token"])


def test_without_an_address_the_command_starts_a_new_local_cluster(monkeypatch):
    """Never the one a `ray start` left running on this machine, nor its stale address file."""
    started = []

    def init(**kwargs):
        started.append(kwargs["address"])
        raise SystemExit("stop here")

    monkeypatch.setattr("ray.init", init)
    with pytest.raises(SystemExit):
        serve_cluster(ClusterSettings(), None, "127.0.0.1", 8000)
    assert started == ["local"]
