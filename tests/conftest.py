"""Shared fixtures: the real embedding model, a built seeds index, and a CLI runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SEEDS = ("000_2f93d0e16d5e9d82.txt", "001_fdf6e125b4f7dd26.txt")

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder():
    """The real default embedder (all-MiniLM-L6-v2 from the offline package), loaded once."""
    from assistant.config import load_settings
    from assistant.embedding import load_embedder

    return load_embedder(load_settings())


@pytest.fixture
def make_settings(tmp_path):
    """Settings with the index in a fresh temporary directory."""
    from assistant.config import load_settings

    def make(**overrides):
        overrides.setdefault("index", tmp_path / "index")
        return load_settings(**overrides)

    return make


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory, embedder):
    """An index of corpus/ built once; tests must not write to it."""
    from assistant.config import load_settings
    from assistant.ingest import ingest

    root = tmp_path_factory.mktemp("seeds") / "index"
    settings = load_settings(index=root)
    report = ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    assert report.documents == 2 and not report.errors
    return settings


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, embedder):
    """The directory of an index of corpus/ built for one test module (which may write to it)."""
    from assistant.config import load_settings
    from assistant.ingest import ingest

    settings = load_settings(index=tmp_path_factory.mktemp("module") / "index")
    ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    return settings.index


def run_cli(*args: str, input: str | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m assistant ARGS` the way a user would, capturing output."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], input=input, capture_output=True, text=True,
        env=full_env, cwd=REPO, timeout=timeout,
    )


def json_lines(out: str) -> list[dict]:
    """Parse one JSON object per non-empty line."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def corpus_copy(tmp_path):
    """A writable copy of corpus/."""
    dst = tmp_path / "corpus"
    shutil.copytree(CORPUS, dst)
    return dst


@pytest.fixture
def untuned(monkeypatch):
    """CPython's collector and switch interval, nothing frozen and no settle hook, for a test
    that starts a server's tuning (`Service.start`) or checks it; the process's own settings
    come back afterwards, so later tests are not run under a server's tuning."""
    import gc

    from assistant.index import store as store_module

    monkeypatch.setattr(store_module, "_AFTER_MEMORY_READS", [])
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    sys.setswitchinterval(0.005)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    sys.setswitchinterval(interval)
