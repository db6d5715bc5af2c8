"""A request hands the event loop's thread over once, for its work: the dependencies every
route uses (the service, the compute runner, the read and write checks) are coroutines, since
FastAPI runs a plain `def` dependency in its thread pool (three hand-overs a search before)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.config import load_settings

from .test_openai_compat import ready

pytestmark = pytest.mark.slow
KEY = "deps-key-1"


@pytest.mark.usefixtures("untuned")
def test_a_search_hands_only_its_work_to_a_thread(seeds_index: Any, embedder: Any,
                                                  monkeypatch: Any) -> None:
    import fastapi.dependencies.utils as dependency_utils

    handed: list[str] = []
    real = dependency_utils.run_in_threadpool

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(dependency_utils, "run_in_threadpool", counting)
    settings = load_settings(index=seeds_index.index, api_keys=KEY, read_auth="key",
                             rate_limit="10000/minute")
    with TestClient(create_app(settings, embedder=embedder)) as c:
        ready(c)
        r = c.post("/v1/search", json={"query": "Bushehr nuclear plant", "k": 3},
                   headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200 and r.json()["results"], r.text
        refused = c.post("/v1/search", json={"query": "Bushehr", "k": 3})
        assert refused.status_code == 401  # the read check still runs, on the loop
        denied = c.delete("/v1/documents/nothing-here")
        assert denied.status_code == 401  # as does the write check
    assert handed == []
