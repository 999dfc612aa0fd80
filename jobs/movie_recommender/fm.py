"""Factorization machines in numpy: one-hot user + one-hot movie + the movie's genres.

For a (user u, movie m) pair the feature vector x has a 1 at u, a 1 at m, and 1/|G| at each of
m's genres G.  The model is Rendle's second-order FM::

    y(x) = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l
         = w0 + sum_j w_j x_j + 1/2 sum_f [ (sum_j v_jf x_j)^2 - sum_j v_jf^2 x_j^2 ]

with a logistic link (binary label ``rating >= 3``), trained by minibatch Adam on the log
loss with L2 regularisation.  Observed ratings give positive and negative examples; for top-N
recommendation, movies a user did not rate are sampled as extra negatives (``negatives`` per
observed rating), so that the score ranks what a user will watch and like.

SageMaker's built-in ``factorization-machines`` learns the same model (one ``w0``, ``w``, ``V``
of shape features x factors) from recordio-protobuf; this is the script-mode equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class FMModel:
    w0: float
    w_user: np.ndarray  # (users,)
    w_movie: np.ndarray  # (movies,)
    w_genre: np.ndarray  # (genres,)
    v_user: np.ndarray  # (users, k)
    v_movie: np.ndarray  # (movies, k)
    v_genre: np.ndarray  # (genres, k)
    genres: np.ndarray  # (movies, genres): each movie's genres, rows summing to 1 (or 0)

    def scores(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        """The logits of (user, movie) index pairs."""
        return _forward(self, users, movies, v_user=self.v_user[users])[0]

    def scores_for_vector(self, w_user: float, v_user: np.ndarray) -> np.ndarray:
        """Logits of every movie for one user given by its weight and factor vector (a new
        user gets these from similar users)."""
        movies = np.arange(len(self.w_movie))
        v = np.broadcast_to(v_user, (len(movies), len(v_user)))
        logits, _ = _forward(self, np.zeros(len(movies), dtype=int), movies, v_user=v)
        return logits - self.w_user[0] + w_user

    def save(self, path: str) -> None:
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in self.__dict__.items()}
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str) -> FMModel:
        with np.load(path) as z:
            values = {k: z[k] for k in z.files}
        values["w0"] = float(values["w0"])
        return cls(**values)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def _forward(
    model: FMModel, users: np.ndarray, movies: np.ndarray, *, v_user: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    g = model.genres[movies]  # (b, genres)
    s = v_user + model.v_movie[movies] + g @ model.v_genre  # sum_j v_j x_j
    sq = v_user**2 + model.v_movie[movies] ** 2 + (g**2) @ (model.v_genre**2)
    linear = model.w0 + model.w_user[users] + model.w_movie[movies] + g @ model.w_genre
    return linear + 0.5 * (s**2 - sq).sum(axis=1), (g, s)


def train(
    users: np.ndarray,
    movies: np.ndarray,
    labels: np.ndarray,
    genres: np.ndarray,
    *,
    n_users: int,
    factors: int = 16,
    epochs: int = 20,
    batch_size: int = 512,
    learning_rate: float = 0.02,
    l2: float = 1e-4,
    negatives: int = 2,
    seed: int = 0,
) -> FMModel:
    """Fit on (user, movie, label) triples; ``negatives`` unrated movies per example are drawn
    afresh each epoch as label-0 examples."""
    rng = np.random.default_rng(seed)
    n_movies, n_genres = genres.shape
    model = FMModel(
        w0=0.0,
        w_user=np.zeros(n_users),
        w_movie=np.zeros(n_movies),
        w_genre=np.zeros(n_genres),
        v_user=rng.normal(0, 0.05, (n_users, factors)),
        v_movie=rng.normal(0, 0.05, (n_movies, factors)),
        v_genre=rng.normal(0, 0.05, (n_genres, factors)),
        genres=genres,
    )
    names = ("w_user", "w_movie", "w_genre", "v_user", "v_movie", "v_genre")
    m1 = {n: np.zeros_like(getattr(model, n)) for n in names}
    m2 = {n: np.zeros_like(getattr(model, n)) for n in names}
    m1_w0 = m2_w0 = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    step = 0
    for _ in range(epochs):
        neg_users = np.repeat(users, negatives)
        neg_movies = rng.integers(0, n_movies, len(neg_users))
        all_users = np.concatenate([users, neg_users])
        all_movies = np.concatenate([movies, neg_movies])
        all_labels = np.concatenate([labels, np.zeros(len(neg_users))])
        order = rng.permutation(len(all_users))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            u, m, y = all_users[idx], all_movies[idx], all_labels[idx]
            logits, (g, s) = _forward(model, u, m, v_user=model.v_user[u])
            d = (sigmoid(logits) - y) / len(idx)  # dLoss/dlogit, averaged
            grads = {
                "w_user": np.bincount(u, d, n_users),
                "w_movie": np.bincount(m, d, n_movies),
                "w_genre": g.T @ d,
                "v_user": _scatter(u, d[:, None] * (s - model.v_user[u]), n_users),
                "v_movie": _scatter(m, d[:, None] * (s - model.v_movie[m]), n_movies),
                "v_genre": g.T @ (d[:, None] * s) - model.v_genre * ((g**2).T @ d)[:, None],
            }
            step += 1
            correction1, correction2 = 1 - beta1**step, 1 - beta2**step
            for name, grad in grads.items():
                param = getattr(model, name)
                grad = grad + l2 * param
                m1[name] = beta1 * m1[name] + (1 - beta1) * grad
                m2[name] = beta2 * m2[name] + (1 - beta2) * grad**2
                param -= (
                    learning_rate
                    * (m1[name] / correction1)
                    / (np.sqrt(m2[name] / correction2) + eps)
                )
            g0 = float(d.sum())
            m1_w0 = beta1 * m1_w0 + (1 - beta1) * g0
            m2_w0 = beta2 * m2_w0 + (1 - beta2) * g0**2
            model.w0 -= learning_rate * (m1_w0 / correction1) / (np.sqrt(m2_w0 / correction2) + eps)
    return model


def _scatter(index: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, rows.shape[1]))
    np.add.at(out, index, rows)
    return out
