"""Schemathesis fuzzes every route of /openapi.json on a live server: no input may cause a 500.

Bounded: a few examples per route, and the test engine keeps every generation tiny.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from webui.api import create_api

from .conftest import make_engine, serve

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def fuzz_url(tiny_models, tmp_path_factory):
    """A server of its own: the fuzzer may delete voices and fill the line."""
    engine = make_engine(tiny_models, tmp_path_factory.mktemp("fuzz-prompts"))
    with serve(create_api(engine, api_key=None, cors_origins=[], max_queue=64, max_upload_bytes=100_000)) as url:
        yield url


@pytest.fixture()
def api_schema(fuzz_url):
    return schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_causes_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error], timeout=60)
