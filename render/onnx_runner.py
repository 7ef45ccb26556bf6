"""The published U^2-Net export run by onnxruntime, for CPU workers.

Same weights as the torch network (their outputs agree within 1e-4, tests/render/test_render_weights),
but onnxruntime's CPU convolutions ran u2netp 3.5x faster than torch's on the 2-core worker box
(interleaved medians, bench note in issue 12), and the network is most of a render's time. CUDA
workers keep torch. Used only when onnxruntime is installed and the file's checksum matches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class OnnxNetwork:
    """The fused map (sigmoid, N x H x W) of a U^2-Net export whose input is 1 x 3 x 320 x 320."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One small image at a time: the arena and memory patterns only hold on to memory (they
        # added ~380 MB to a worker's peak RSS in bench/render.py).
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        # Idle threads sleep instead of spinning: workers share a few cores with each other and the front,
        # and spinning threads took cycles the others needed (a whole render measured ~17 % faster
        # without it on the loaded 2-core box, interleaved medians).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        maps = [self.session.run(None, {self.input: batch[i : i + 1]})[0][0, 0] for i in range(batch.shape[0])]
        return np.stack(maps).astype(np.float32, copy=False)


def onnx_network(models_dir: Path, model: str, *, threads: int | None = None) -> OnnxNetwork | None:
    """The runner for a fetched published model, or None (no onnxruntime, no file, wrong checksum)."""
    from render.weights import PUBLISHED, sha256_file

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    spec = PUBLISHED.get(model)
    path = models_dir / f"{model}.onnx"
    if spec is None or not path.is_file() or path.stat().st_size != spec.size or sha256_file(path) != spec.sha256:
        return None
    return OnnxNetwork(path, threads=threads)
