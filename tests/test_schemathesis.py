"""Property-based API testing: schemathesis fuzzes every operation of the live server's OpenAPI
schema (fetched over HTTP from a real `assistant serve`) and no request may get a 5xx.

schemathesis 4.32's own pytest wiring (`from_fixture(...).parametrize()`) writes
`request.node._nodeid`, which pytest 9 removed, so each operation is driven here through the
public `APIOperation.as_strategy()` under Hypothesis, one pytest subtest per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.schemas import OpenApiSchema

from assistant.ingest import ingest

from .conftest import CORPUS
from .test_api import Server, served

pytestmark = pytest.mark.slow
KEY = "fuzz-key-123"
# The write key goes with every request, so the keyed write endpoints are fuzzed past auth.
HEADERS = {"Authorization": f"Bearer {KEY}"}
# Examples per operation and mode. Cheap operations get many: an unbounded integer is only
# drawn past SQLite's 64-bit range in ~3% of examples. Answering is the slow part, so the
# endpoints that answer get fewer; the module stays around two minutes on two cores.
MAX_EXAMPLES = 100
ANSWERING = {"POST /v1/ask": 20, "POST /v1/chat": 20, "POST /v1/search": 40, "POST /v1/check": 10,
             "POST /v1/check/claimreview": 10}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, embedder: object) -> Iterator[Server]:
    """A server on its own copy of corpus/ (fuzzed writes change it); limits set so that
    generated bodies stay cheap and the rate limiter never answers for the handlers."""
    from assistant.config import load_settings

    root = tmp_path_factory.mktemp("fuzz")
    index_settings = load_settings(index=root / "index")
    ingest([CORPUS], settings=index_settings, embedder=embedder, progress=False)
    with served(index_settings.index, root, env={
            "ASSISTANT_API_KEYS": KEY, "ASSISTANT_RATE_LIMIT": "100000/minute",
            "ASSISTANT_MAX_BODY_MB": "1", "ASSISTANT_CORS_ORIGINS": "http://news.example"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def api_schema(fuzz_server: Server) -> OpenApiSchema:
    """The schema the running server publishes, not one built in-process."""
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json", timeout=30)


def operations(schema: OpenApiSchema) -> list[APIOperation]:
    """Every operation in the schema; one that fails to load fails the test."""
    return [result.ok() for result in schema.get_all_operations()]


def log_tail(srv: Server, lines: int = 60) -> str:
    """The end of the server's log, where a 5xx's traceback lands."""
    srv.log.flush()
    return "\n".join(Path(srv.log.name).read_text(errors="replace").splitlines()[-lines:])


def fuzz(operation: APIOperation, mode: GenerationMode, srv: Server) -> None:
    """Send generated requests for one operation; Hypothesis shrinks any failure it finds."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=ANSWERING.get(operation.label, MAX_EXAMPLES), deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=srv.url, headers=HEADERS, timeout=60,
                               checks=[not_a_server_error])

    run()


def test_schema_lists_every_endpoint(api_schema: OpenApiSchema) -> None:
    """Guards against a vacuous pass: the fuzzed schema really has the whole API in it."""
    labels = {op.label for op in operations(api_schema)}
    for label in ("POST /v1/search", "POST /v1/ask", "POST /v1/check", "POST /v1/chat",
                  "POST /v1/chat/completions",
                  "POST /v1/documents", "POST /v1/documents/upload",
                  "DELETE /v1/documents/{doc_id}", "POST /v1/widget/token"):
        assert label in labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["positive", "negative"])
def test_no_server_errors(api_schema: OpenApiSchema, fuzz_server: Server, mode: GenerationMode,
                          subtests: pytest.Subtests) -> None:
    """Valid and invalid requests alike, to every operation: never a 5xx."""
    for operation in operations(api_schema):
        with subtests.test(operation.label):
            try:
                fuzz(operation, mode, fuzz_server)
            except Unsatisfiable:
                # No input, or only a free-form path string: no request would be invalid.
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid requests"
                pytest.skip("nothing to make invalid")
            except Exception as exc:
                # The traceback of a 5xx is in the server's log, not in the reply.
                exc.add_note(f"--- server log ({fuzz_server.log.name}) ---\n{log_tail(fuzz_server)}")
                raise
