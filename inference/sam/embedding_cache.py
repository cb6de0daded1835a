"""Image embeddings cached per (image sha256, model): ``<root>/<model>/<sha256>.npz`` plus a small LRU.

A file is written to a temporary name in the same folder and moved into place with ``os.replace``, so
a reader never sees half a file and two workers computing the same embedding both leave a whole one.
Features are stored as float16 (half the disk; the decoder's masks do not change measurably) and come
back as float32. An entry made with other weights (``weights_id``) counts as a miss.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from inference.sam.promptable import Embedding

logger = logging.getLogger(__name__)

__all__ = ["EmbeddingCache"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MODEL_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


class EmbeddingCache:
    """Disk cache of :class:`~inference.sam.promptable.Embedding` objects with an in-process LRU.

    Parameters
    ----------
    root : Path
        Folder of the cache (``MEDIA_ROOT/sam_embeddings`` in the app).
    memory_items : int
        How many embeddings the in-process LRU keeps (LiteMedSAM: about 16 MB each).
    """

    def __init__(self, root: Path, *, memory_items: int = 4) -> None:
        self.root = Path(root)
        self.memory_items = memory_items
        self._memory: OrderedDict[tuple[str, str], Embedding] = OrderedDict()
        self._lock = threading.Lock()

    def path_for(self, *, model: str, sha256: str) -> Path:
        """``<root>/<model>/<sha256>.npz``.

        Raises
        ------
        ValueError
            A model name or sha256 that could escape the folder.
        """
        if not _MODEL_NAME.match(model) or not _SHA256.match(sha256):
            raise ValueError(f"bad cache key ({model!r}, {sha256!r})")
        return self.root / model / f"{sha256}.npz"

    def get(self, *, model: str, sha256: str, weights_id: str) -> Embedding | None:
        """The cached embedding, or ``None`` when there is none for these weights (or it is unreadable)."""
        key = (model, sha256)
        with self._lock:
            cached = self._memory.get(key)
            if cached is not None and cached.weights_id == weights_id:
                self._memory.move_to_end(key)
                return cached
        path = self.path_for(model=model, sha256=sha256)
        try:
            with np.load(path, allow_pickle=False) as data:
                embedding = Embedding(
                    model=str(data["model"]), weights_id=str(data["weights_id"]),
                    features=data["features"].astype(np.float32), windows_xyxy=data["windows_xyxy"].astype(np.int64),
                    input_sizes_hw=data["input_sizes_hw"].astype(np.int64),
                    original_size_hw=(int(data["original_size_hw"][0]), int(data["original_size_hw"][1])),
                )
        except FileNotFoundError:
            return None
        except (OSError, KeyError, ValueError) as exc:
            logger.warning("Ignoring unreadable SAM embedding %s: %s", path, exc)
            return None
        if embedding.weights_id != weights_id or embedding.model != model:
            return None
        self._remember(key, embedding)
        return embedding

    def put(self, embedding: Embedding, *, sha256: str) -> Embedding:
        """Write ``embedding`` atomically and keep it in memory; returns it as a later :meth:`get` will."""
        path = self.path_for(model=embedding.model, sha256=sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = Embedding(model=embedding.model, weights_id=embedding.weights_id,
                           features=embedding.features.astype(np.float16).astype(np.float32),
                           windows_xyxy=embedding.windows_xyxy, input_sizes_hw=embedding.input_sizes_hw,
                           original_size_hw=embedding.original_size_hw)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{sha256}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, model=np.str_(stored.model), weights_id=np.str_(stored.weights_id),
                         features=embedding.features.astype(np.float16), windows_xyxy=stored.windows_xyxy,
                         input_sizes_hw=stored.input_sizes_hw, original_size_hw=np.asarray(stored.original_size_hw))
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._remember((embedding.model, sha256), stored)
        return stored

    def _remember(self, key: tuple[str, str], embedding: Embedding) -> None:
        with self._lock:
            self._memory[key] = embedding
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)
