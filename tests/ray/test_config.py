"""deploy/ray/serve.yaml is a valid Serve config of this application, and the flags map onto it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bark_webui import build_parser

pytest.importorskip("ray.serve", reason="Ray Serve is an optional extra (pip install '.[ray]'): not tested")

from ray.serve.schema import ServeDeploySchema

from webui.ray_serve import GENERATOR, INGRESS, ClusterSettings, app_builder

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "ray" / "serve.yaml"


def test_the_serve_config_is_valid_and_builds_the_application():
    config = yaml.safe_load(CONFIG.read_text())
    ServeDeploySchema.parse_obj(config)
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
