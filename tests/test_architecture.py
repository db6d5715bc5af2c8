"""The package's architecture holds: layers point down, the core never imports a face, and no
module cycle exists anywhere (import-linter's contracts in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO


def test_import_contracts_are_kept(tmp_path):
    exe = Path(sys.executable).with_name("lint-imports")
    assert exe.exists() or shutil.which("lint-imports"), "import-linter is not installed"
    run = subprocess.run([str(exe) if exe.exists() else "lint-imports", "--no-cache"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "3 kept, 0 broken" in run.stdout


def test_result_types_are_defined_once():
    """HTTP schemas and MCP outputs are the models of assistant.models, not copies."""
    from assistant.api import schemas
    from assistant.models import Answer, Citation, Quote, SearchHit, Verdict

    for name in ("Answer", "Citation", "Quote", "Verdict", "EvidenceOut", "EarlierCheck",
                 "SearchResult", "ChatResponse", "TextVerdicts"):
        assert not hasattr(schemas, name) or getattr(schemas, name) in (
            Answer, Citation, Quote, Verdict), name
    assert schemas.SearchResponse.model_fields["results"].annotation == list[SearchHit]
    mcp_source = (REPO / "assistant" / "mcp.py").read_text(encoding="utf-8")
    assert "TypedDict" not in mcp_source


def test_dockerfile_keeps_data_runs_unprivileged_and_caches_dependencies():
    # No Docker engine runs here, so the image's promises are checked by reading it.
    from pathlib import Path

    lines = [ln.strip() for ln in (Path(__file__).parent.parent / "Dockerfile").read_text(
        encoding="utf-8").splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    at = {key: next(i for i, ln in enumerate(lines) if ln.startswith(key))
          for key in ("COPY pyproject.toml", "COPY assistant", "USER ", "VOLUME /data",
                      "RUN assistant ingest")}
    assert at["COPY pyproject.toml"] < at["COPY assistant"]  # dependencies in their own layer
    assert lines[at["USER "]] != "USER root" and at["USER "] < at["RUN assistant ingest"]
    assert at["VOLUME /data"] > at["RUN assistant ingest"]  # a new volume starts with the index
    assert not any("ALLOWED_HOSTS=*" in ln for ln in lines)
