"""The math of the paper's metrics, apart from any feature extractor, so it can be tested exactly.

FVD and FID are Fréchet distances between Gaussians fitted to features (Heusel et al. 2017; Unterthiner
et al. 2018); IS is exp E[KL(p(y|x) || p(y))] over splits (Salimans et al. 2016); CLIPSIM is the mean
raw cosine between frame and prompt embeddings (Wu et al. 2021), on the paper's ~0.29 scale.
"""

from __future__ import annotations

import numpy as np


class FeatureMoments:
    """Running mean and covariance of feature rows in float64: sets of any size, in batches."""

    def __init__(self) -> None:
        self.count = 0
        self.total: np.ndarray | None = None
        self.outer: np.ndarray | None = None

    def add(self, features: np.ndarray) -> None:
        x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)  # (N, D)
        if self.total is None:
            self.total = np.zeros(x.shape[1])
            self.outer = np.zeros((x.shape[1], x.shape[1]))
        self.count += len(x)
        self.total += x.sum(axis=0)
        self.outer += x.T @ x

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean (D,) and the maximum-likelihood covariance (D, D), as StyleGAN-V's FeatureStats."""
        if not self.count:
            raise ValueError("no features were added")
        mean = self.total / self.count
        return mean, self.outer / self.count - np.outer(mean, mean)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix through its eigendecomposition."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^(1/2)), in float64.

    tr((C1 C2)^(1/2)) = tr((S C2 S)^(1/2)) with S = C1^(1/2): a symmetric matrix, so both roots come from
    `eigh` and no complex parts or ill-conditioned `sqrtm` iterations appear.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    root1 = _sqrt_psd(cov1)
    middle = root1 @ cov2 @ root1
    values = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_root = np.sqrt(np.clip(values, 0, None)).sum()
    distance = np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * trace_root
    return float(max(distance, 0.0))


def to_probabilities(outputs: np.ndarray) -> np.ndarray:
    """Class probabilities from a classifier's outputs: kept if rows already sum to 1, else a softmax."""
    x = np.asarray(outputs, dtype=np.float64)
    if (x >= 0).all() and np.allclose(x.sum(axis=1), 1, atol=1e-3):
        return x
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Mean and standard deviation over splits of exp(mean KL(p(y|x) || p(y))) (Salimans et al. 2016)."""
    p = np.asarray(probs, dtype=np.float64)
    splits = max(1, min(splits, len(p)))
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.where(
            part > 0, part * (np.log(np.clip(part, 1e-30, None)) - np.log(np.clip(marginal, 1e-30, None))), 0
        )
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def clipsim(frame_embeddings: np.ndarray, text_embedding: np.ndarray) -> float:
    """Mean raw cosine between each frame's image embedding (T, D) and its prompt's text embedding (D,)."""
    images = np.asarray(frame_embeddings, dtype=np.float64)
    text = np.asarray(text_embedding, dtype=np.float64).reshape(-1)
    images = images / np.linalg.norm(images, axis=1, keepdims=True)
    text = text / np.linalg.norm(text)
    return float((images @ text).mean())
