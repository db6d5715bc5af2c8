"""Embedding on a real local Ray cluster of two nodes (`ray start --head` and a second `ray
start --address`, one CPU each): the index it writes is the one a local ingest writes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.config import load_settings
from assistant.errors import ConfigError
from assistant.ingest import ingest
from assistant.service import Service

from .conftest import CORPUS, run_cli

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory) -> Iterator[str]:
    """Two Ray nodes on this machine, stopped afterwards."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray_bin is None:
        pytest.skip("the ray command is not on PATH")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus", "1", "--disable-usage-stats", "--object-store-memory", str(300 * 2**20)]
    temp = tmp_path_factory.mktemp("ray")
    head = subprocess.run([ray_bin, "start", "--head", "--port", str(port), "--node-ip-address",
                           "127.0.0.1", "--include-dashboard=false", f"--temp-dir={temp}", *common],
                          capture_output=True, text=True, env=env, timeout=120)
    if head.returncode != 0:
        pytest.skip(f"ray start --head failed here: {head.stderr[-500:]}")
    try:
        second = subprocess.run([ray_bin, "start", "--address", address, "--node-ip-address",
                                 "127.0.0.1", *common], capture_output=True, text=True, env=env,
                                timeout=120)
        assert second.returncode == 0, second.stderr[-2000:]
        yield address
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=env, timeout=120)


def _vectors(settings) -> tuple[dict[tuple[str, int], np.ndarray], dict]:
    """Chunk vectors by (doc, start), and each document's stored sentences with their vectors."""
    from assistant.index import open_backend

    reader = open_backend(settings).reader()
    try:
        out = {}
        for doc in reader.store.iter_documents():
            for row in reader.store.document_chunks(doc.doc_id):
                out[(doc.doc_id, row["char_start"])] = reader.vectors.reconstruct(row["chunk_id"])
        spans = reader.store.sentences([(d.doc_id, 0, len(d.text))
                                        for d in reader.store.iter_documents()])
        return out, spans
    finally:
        reader.close()


def test_a_ray_ingest_writes_what_a_local_ingest_writes(ray_cluster, embedder, tmp_path):
    # Exact vectors (flat), so that the two ingests' vectors compare to 1e-5, not to the
    # rounding of the default's half precision.
    local = load_settings(index=tmp_path / "local", vector_index="flat")
    remote = load_settings(index=tmp_path / "ray", vector_index="flat")
    ingest([CORPUS], settings=local, embedder=embedder, progress=False)
    report = ingest([CORPUS], settings=remote, embedder=embedder, progress=False,
                    ray_address=ray_cluster, ray_workers=2)
    assert (report.documents, report.chunks, report.errors) == (2, 17, [])
    (a, sa), (b, sb) = _vectors(local), _vectors(remote)
    assert a.keys() == b.keys() and len(a) == 17
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 1e-5
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k][0] == sb[k][0] and np.allclose(sa[k][1], sb[k][1], atol=1e-5)
    q = "Who builds the Bushehr nuclear power plant?"
    assert Service(remote, embedder).load().ask(q).quotes[0].text == \
        Service(local, embedder).load().ask(q).quotes[0].text
    # Nothing changed: nothing is sent to the cluster, nothing is written.
    again = ingest([CORPUS], settings=remote, embedder=embedder, progress=False,
                   ray_address=ray_cluster)
    assert (again.documents, again.skipped) == (0, 2)


def test_the_cli_ingests_on_ray_and_names_a_bad_address(ray_cluster, tmp_path):
    done = run_cli("ingest", str(CORPUS), "--index", str(tmp_path / "i"), "--ray", ray_cluster,
                   "--json")
    assert done.returncode == 0, done.stderr
    assert '"documents": 2' in done.stdout
    bad = run_cli("ingest", str(CORPUS), "--index", str(tmp_path / "j"), "--ray", "127.0.0.1:1",
                  timeout=180)
    assert bad.returncode != 0 and "Ray cluster at '127.0.0.1:1'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_workers_must_be_positive(embedder, tmp_path):
    with pytest.raises(ConfigError, match="--ray-workers"):
        ingest([CORPUS], settings=load_settings(index=tmp_path / "k"), embedder=embedder,
               progress=False, ray_address="127.0.0.1:1", ray_workers=0)
