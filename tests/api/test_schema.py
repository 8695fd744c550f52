"""Schemathesis fuzzes every route of /openapi.json on a live server with all of its checks: no 500,
every status and body as documented (errors included), headers, methods, content types; and on a
server with a key, that no guarded route answers without it.

Bounded: a few examples per route, and the test engine keeps every generation tiny.

The schema gives each option's type, range and choices (from core.fields), so a value out of range is
refused by the schema's own rules. What no schema can say is still a 422 for schema-valid data, and
the positive-data check is told so: options that do not fit together (stream with mp3, coarse history
plus window over 767, a goal over the max length), an upload that is not audio or a voice, settings
with which Bark speaks no sample.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from webui.server import create_server
from webui.studio import Studio

from .conftest import make_engine, serve

schema = schemathesis.pytest.from_fixture("api_schema")
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis's default
CONFIG = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 422]}}})


@pytest.fixture(scope="module")
def fuzz_url(tiny_models, tmp_path_factory):
    """A server of its own: the fuzzer may delete voices and fill the line."""
    engine = make_engine(tiny_models, tmp_path_factory.mktemp("fuzz-prompts"))
    engine.max_project_texts = 2
    projects = tmp_path_factory.mktemp("fuzz-projects")
    with serve(
        create_server(
            Studio(engine, None, allow_paths=False, projects_dir=projects),
            api_key=None,
            cors_origins=[],
            max_queue=64,
            max_upload_bytes=100_000,
        )
    ) as url:
        yield url


@pytest.fixture()
def api_schema(fuzz_url):
    return schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json", config=CONFIG)


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_route_answers_as_its_schema_says(case):
    case.call_and_validate(timeout=60)


KEY = "fuzz-key"
guarded_schema = schemathesis.pytest.from_fixture("guarded_api_schema")


@pytest.fixture(scope="module")
def guarded_url(tiny_models, tmp_path_factory):
    """A server that asks for a key: every route the schema says is guarded must refuse a request
    without it (schemathesis's ignored-auth check), and answer as documented with it."""
    engine = make_engine(tiny_models, tmp_path_factory.mktemp("fuzz-guarded-prompts"))
    engine.max_project_texts = 2
    studio = Studio(engine, None, allow_paths=False, projects_dir=tmp_path_factory.mktemp("fuzz-guarded-projects"))
    with serve(create_server(studio, api_key=KEY, max_queue=64, max_upload_bytes=100_000)) as url:
        yield url


@pytest.fixture()
def guarded_api_schema(guarded_url):
    headers = {"Authorization": f"Bearer {KEY}"}
    return schemathesis.openapi.from_url(f"{guarded_url}/openapi.json", config=CONFIG, headers=headers)


@guarded_schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_a_guarded_server_answers_as_its_schema_says(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
