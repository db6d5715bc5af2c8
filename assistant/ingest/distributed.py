"""Embedding on a Ray cluster: Ray Data `map_batches` over an actor pool, one model per actor,
batches of texts of similar length (less padding). Reading, chunking and writing stay local;
only the vectors come back, so a Ray ingest writes exactly what a local one writes.

Every node needs `assistant` installed (`pip install 'assistant[ray]'`) and the same model.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import numpy as np

from assistant.config import Settings
from assistant.errors import ConfigError

# What an actor needs to load the same model as this process.
_MODEL_FIELDS = ("model", "backend", "device", "cache_dir", "embed_batch_size")


class Encoder:
    """A Ray actor: loads the embedding model once, then embeds batch after batch."""

    def __init__(self, model_settings: dict[str, Any]) -> None:
        from assistant.config import load_settings
        from assistant.embedding import load_embedder

        self.embedder = load_embedder(load_settings(**model_settings))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Vectors for one batch, keyed by the texts' positions."""
        vectors = self.embedder.embed([str(t) for t in batch["text"]])
        return {"i": batch["i"], "vector": np.asarray(vectors, dtype=np.float32)}


def _reachable(address: str) -> None:
    """Fail fast on a host:port nobody listens on (Ray itself retries for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", ray://..., left to Ray
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {exc.strerror or exc} "
                          "(start one with `ray start --head`, or give its address)") from None


def embed_on_ray(texts: list[str], *, address: str, settings: Settings, dim: int,
                 workers: int | None = None, batch_size: int = 64,
                 progress: bool = False) -> np.ndarray:
    """One vector per text, computed by `workers` actors (default: one per CPU of the cluster)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'assistant[ray]'") from None
    if workers is not None and workers < 1:
        raise ConfigError(f"--ray-workers must be at least 1, got {workers}")
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if not texts:
        return out
    _reachable(address)
    if not progress:
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False,
                 ignore_reinit_error=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address!r}: "
                          f"{str(exc).strip().splitlines()[0]} (start one with `ray start "
                          "--head`, or give its address)") from None
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress
        ctx.verbose_stats_logs = False
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        model = settings.model_dump(mode="json", include=set(_MODEL_FIELDS))
        # Sorted by length, each batch holds texts of about the same length.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ds = ray.data.from_items([{"i": i, "text": texts[i]} for i in order],
                                 override_num_blocks=max(n * 4, 1))
        ds = ds.map_batches(Encoder, fn_constructor_kwargs={"model_settings": model},
                            batch_size=batch_size,
                            compute=ray.data.ActorPoolStrategy(size=n), num_cpus=1,
                            batch_format="numpy")
        got = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            out[batch["i"]] = batch["vector"]
            got += len(batch["i"])
        if got != len(texts):
            raise ConfigError(f"the Ray cluster returned {got} vectors for {len(texts)} texts")
    finally:
        ray.shutdown()
    return out
