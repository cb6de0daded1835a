"""What the small heatmap CNNs of the pipeline share (leg localiser, landmark refiner): their convolution
block, their resumable training loop and their float16 weights file.

:func:`train_resumable` runs AdamW with a cosine schedule over ``epochs``; after every epoch it writes a
checkpoint (network, optimiser, schedule, loss history) that a stopped run resumes from, so a killed
worker loses at most one epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["conv_block", "load_half", "save_half", "train_resumable"]


def conv_block(c_in: int, c_out: int, stride: int) -> Any:
    """Two 3 x 3 convolutions with batch norm and ReLU; the first one strided."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


def train_resumable(net: Any, *, n_items: int, batch_loss: Callable[[Sequence[int], np.random.Generator], Any],
                    checkpoint: Path, epochs: int, batch_size: int, lr: float, seed: int, stage: str,
                    progress: Callable[[dict[str, Any]], None] | None = None) -> list[float]:
    """Train ``net`` for ``epochs`` over ``n_items`` items (resuming from ``checkpoint``); return the loss history.

    ``batch_loss(indices, rng)`` returns the mean loss (a tensor) of the items ``indices``; the order is
    drawn from a generator seeded by ``(seed, epoch)``, so a resumed run sees the same batches.
    """
    import torch

    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(n_items / batch_size)
    total = epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, total) / total)))
    history: list[float] = []
    start_epoch = 0
    if checkpoint.is_file():  # resume a stopped run
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start_epoch = list(state["history"]), int(state["epoch"])
    started = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        rng = np.random.default_rng((seed, epoch))
        net.train()
        order = rng.permutation(n_items)
        total_loss = 0.0
        for k in range(steps_per_epoch):
            indices = order[k * batch_size:(k + 1) * batch_size]
            loss = batch_loss(indices, rng)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(indices)
        history.append(total_loss / n_items)
        torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "history": history, "epoch": epoch + 1}, checkpoint)
        if progress is not None:
            progress({"stage": stage, "epoch": epoch + 1, "epochs": epochs, "loss": history[-1],
                      "seconds": round(time.perf_counter() - started, 1)})
    net.eval()
    return history


def save_half(net: Any, path: Path) -> None:
    """``net``'s state dict with its float tensors stored as float16."""
    import torch

    torch.save({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, path)


def load_half(net: Any, path: Path, *, device: str) -> Any:
    """``net`` with the weights of ``path`` (float16 or float32) as float32, in eval mode."""
    import torch

    state = torch.load(path, map_location=device, weights_only=True)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return net.eval()
