"""How much faster is one training step of the MiniLM encoder in bf16 on this CPU? (issue 13)

One forward and backward pass of all-MiniLM-L6-v2's transformer on a batch of 32 texts padded to
32 tokens, timed over 20 steps after 3 warm-up steps: fp32, bf16 autocast (what
``training.fine_tune(..., precision="bf16")`` uses on a CPU) and the weights cast to bf16. The rest
of a training step (tokenising, the loss over both sides, the optimiser) is not in it, so the gain
of a whole fine-tune is smaller (see README.md).

    .venv/bin/python experiments/bench_bf16.py
"""
from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from helpers import models  # noqa: E402


def main(steps: int = 20) -> None:
    model = models.load("all-MiniLM-L6-v2", verbose=False)
    encoder = model[0].auto_model
    texts = [f"chronic kidney disease stage {i} with some words here" for i in range(32)]
    batch = model.tokenizer(texts, padding="max_length", max_length=32, truncation=True,
                            return_tensors="pt")
    print(f"torch threads {torch.get_num_threads()} · native bf16 (oneDNN): "
          f"{torch.ops.mkldnn._is_mkldnn_bf16_supported()}")

    def step(net, autocast):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = net(**batch).last_hidden_state.float().pow(2).mean()
        loss.backward()

    def bench(name, net, autocast=False):
        for _ in range(3):
            step(net, autocast)
        start = time.perf_counter()
        for _ in range(steps):
            step(net, autocast)
        seconds = (time.perf_counter() - start) / steps
        print(f"{name:18s} {seconds * 1000:5.0f} ms per step")
        return seconds

    encoder.train()
    fp32 = bench("fp32", encoder)
    mixed = bench("bf16 autocast", encoder, autocast=True)
    pure = bench("bf16 weights", copy.deepcopy(encoder).to(torch.bfloat16))
    print(f"speed-up over fp32: autocast {fp32 / mixed:.2f}x, bf16 weights {fp32 / pure:.2f}x")


if __name__ == "__main__":
    main()
