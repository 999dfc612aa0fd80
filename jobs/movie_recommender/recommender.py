"""The recommender around the FM model: encoding, the held-out split, evaluation, top-N.

Shared by the training entry point (``train.py``) and the endpoint's hooks (``inference.py``);
everything here is plain numpy/pandas on the ETL's output tables:

* ``rating``: ``userId,movieId,rating,timestamp``;
* ``movies``: ``movieId,title,genres`` (pipe-separated);
* ``links``: ``movieId,imdbId,tmdbId``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from fm import FMModel, sigmoid

LIKED = 3.0  # label: rating >= 3
IMDB = "https://www.imdb.com/title/tt{}/"


@dataclass
class Catalog:
    """Ids <-> indices, and what a recommendation shows."""

    user_ids: list[str]
    movie_ids: list[str]
    genre_names: list[str]
    titles: list[str]
    imdb: list[str]
    popularity: np.ndarray  # liked ratings per movie in the training split
    fans: dict[int, list[int]] = field(default_factory=dict)  # movie -> users who liked it
    rated: dict[int, list[int]] = field(default_factory=dict)  # user -> movies rated (all data)

    def user_index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.user_ids)}

    def movie_index(self) -> dict[str, int]:
        return {m: i for i, m in enumerate(self.movie_ids)}

    def to_json(self) -> dict[str, Any]:
        return {
            "user_ids": self.user_ids,
            "movie_ids": self.movie_ids,
            "genre_names": self.genre_names,
            "titles": self.titles,
            "imdb": self.imdb,
            "popularity": self.popularity.tolist(),
            "fans": {str(m): users for m, users in self.fans.items()},
            "rated": {str(u): movies for u, movies in self.rated.items()},
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Catalog:
        return cls(
            **{
                **body,
                "popularity": np.asarray(body["popularity"], dtype=float),
                "fans": {int(m): users for m, users in body.get("fans", {}).items()},
                "rated": {int(u): movies for u, movies in body.get("rated", {}).items()},
            }
        )


def read_tables(rating_dir: str, movies_dir: str, links_dir: str) -> tuple[pd.DataFrame, ...]:
    def read(directory: str) -> pd.DataFrame:
        files = sorted(
            os.path.join(directory, f)
            for f in os.listdir(directory)
            if not f.startswith(".") and os.path.isfile(os.path.join(directory, f))
        )
        if not files:
            raise ValueError(f"channel {directory}: no files")
        return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files])

    return read(rating_dir), read(movies_dir), read(links_dir)


def encode(
    ratings: pd.DataFrame, movies: pd.DataFrame, links: pd.DataFrame
) -> tuple[Catalog, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(catalog, user index, movie index, rating, genre matrix) of the rating table."""
    movies = movies.drop_duplicates("movieId")
    movie_ids = [str(m) for m in movies["movieId"]]
    known = set(movie_ids)
    ratings = ratings[ratings["movieId"].isin(known)]
    user_ids = sorted(set(ratings["userId"]), key=lambda u: (len(u), u))
    genre_lists = [g.split("|") if g else [] for g in movies["genres"]]
    genre_names = sorted({g for gs in genre_lists for g in gs})
    gidx = {g: i for i, g in enumerate(genre_names)}
    genres = np.zeros((len(movie_ids), len(genre_names)))
    for row, gs in enumerate(genre_lists):
        for g in gs:
            genres[row, gidx[g]] = 1.0 / len(gs)
    imdb_of = dict(zip(links["movieId"].astype(str), links["imdbId"].astype(str), strict=True))
    catalog = Catalog(
        user_ids=user_ids,
        movie_ids=movie_ids,
        genre_names=genre_names,
        titles=[str(t) for t in movies["title"]],
        imdb=[imdb_of.get(m, "") for m in movie_ids],
        popularity=np.zeros(len(movie_ids)),
    )
    uidx, midx = catalog.user_index(), catalog.movie_index()
    users = ratings["userId"].map(uidx).to_numpy(dtype=int)
    items = ratings["movieId"].map(midx).to_numpy(dtype=int)
    values = ratings["rating"].astype(float).to_numpy()
    return catalog, users, items, values, genres


def split(users: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean test mask: ``fraction`` of each user's ratings, at random (at least one)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(users), dtype=bool)
    order = np.argsort(users, kind="stable")
    bounds = np.flatnonzero(np.diff(users[order])) + 1
    for group in np.split(order, bounds):
        if len(group) < 2:
            continue
        k = max(1, round(len(group) * fraction))
        test[rng.choice(group, size=k, replace=False)] = True
    return test


def top_n(scores: np.ndarray, exclude: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` best scores, ``exclude`` (indices) left out."""
    scores = scores.astype(float).copy()
    scores[exclude] = -np.inf
    n = min(n, int(np.isfinite(scores).sum()))
    best = np.argpartition(-scores, n - 1)[:n] if n else np.array([], dtype=int)
    return best[np.argsort(-scores[best], kind="stable")]


@dataclass
class Recommender:
    """Two FMs on the same features: ``like`` (P(rating >= 3) of a rated movie, the
    classifier) and ``watch`` (P(a user rates the movie), trained with sampled unrated movies);
    a movie's ranking score is log P(watch) + log P(like)."""

    like: FMModel
    watch: FMModel
    catalog: Catalog

    def rank_scores(self, user: int) -> np.ndarray:
        movies = np.arange(len(self.catalog.movie_ids))
        users = np.full(len(movies), user)
        return _log_sigmoid(self.like.scores(users, movies)) + _log_sigmoid(
            self.watch.scores(users, movies)
        )

    def rank_scores_for_fans(self, fans: np.ndarray) -> np.ndarray:
        like = self.like.scores_for_vector(
            float(self.like.w_user[fans].mean()), self.like.v_user[fans].mean(axis=0)
        )
        watch = self.watch.scores_for_vector(
            float(self.watch.w_user[fans].mean()), self.watch.v_user[fans].mean(axis=0)
        )
        return _log_sigmoid(like) + _log_sigmoid(watch)


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def evaluate(
    rec: Recommender,
    users: np.ndarray,
    movies: np.ndarray,
    ratings: np.ndarray,
    test: np.ndarray,
    *,
    k: int = 10,
) -> dict[str, Any]:
    """Binary accuracy of the ``like`` model on the held-out ratings; precision@k / recall@k
    of the recommender's top k and of the popularity baseline (liked counts in training),
    among movies the user did not rate in training."""
    model, catalog = rec.like, rec.catalog
    labels = ratings[test] >= LIKED
    probabilities = sigmoid(model.scores(users[test], movies[test]))
    predicted = probabilities >= 0.5
    accuracy = float((predicted == labels).mean()) if len(labels) else 0.0
    seen: dict[int, list[int]] = {}
    for u, m in zip(users[~test], movies[~test], strict=True):
        seen.setdefault(int(u), []).append(int(m))
    relevant: dict[int, set[int]] = {}
    for u, m, r in zip(users[test], movies[test], ratings[test], strict=True):
        if r >= LIKED:
            relevant.setdefault(int(u), set()).add(int(m))
    hits = {"model": [0.0, 0.0], "popularity": [0.0, 0.0]}
    for u, wanted in relevant.items():
        exclude = np.asarray(seen.get(u, []), dtype=int)
        ranked = {
            "model": top_n(rec.rank_scores(u), exclude, k),
            "popularity": top_n(catalog.popularity, exclude, k),
        }
        for name, top in ranked.items():
            found = len(wanted & {int(i) for i in top})
            hits[name][0] += found / k
            hits[name][1] += found / len(wanted)
    n_users = max(len(relevant), 1)
    return {
        "binary_classification_accuracy": round(accuracy, 4),
        "test_ratings": int(test.sum()),
        "test_positive_fraction": round(float(labels.mean()) if len(labels) else 0.0, 4),
        "users_evaluated": len(relevant),
        f"precision_at_{k}": round(hits["model"][0] / n_users, 4),
        f"recall_at_{k}": round(hits["model"][1] / n_users, 4),
        f"baseline_precision_at_{k}": round(hits["popularity"][0] / n_users, 4),
        f"baseline_recall_at_{k}": round(hits["popularity"][1] / n_users, 4),
    }


def recommend(
    rec: Recommender,
    *,
    user_id: str | None = None,
    liked: list[str] = (),  # type: ignore[assignment]
    seen: list[str] = (),  # type: ignore[assignment]
    k: int = 10,
) -> dict[str, Any]:
    """Top ``k`` titles for an existing user (the movies they rated left out), or for a new
    user from a few liked movies (the mean factors of the users who liked them; the popular
    movies when none is known)."""
    catalog = rec.catalog
    uidx, midx = catalog.user_index(), catalog.movie_index()
    exclude = [midx[m] for m in (*seen, *liked) if m in midx]
    if user_id is not None and user_id in uidx:
        scores, kind = rec.rank_scores(uidx[user_id]), "existing user"
        exclude += catalog.rated.get(uidx[user_id], [])
    else:
        liked_idx = [midx[m] for m in liked if m in midx]
        fans = _fans(catalog, liked_idx)
        if fans is None:
            scores, kind = catalog.popularity.astype(float), "new user: popular movies"
        else:
            scores, kind = rec.rank_scores_for_fans(fans), "new user: users with the same likes"
    top = top_n(scores, np.asarray(exclude, dtype=int), k)
    return {
        "user_id": user_id,
        "basis": kind,
        "recommendations": [
            {
                "movieId": catalog.movie_ids[i],
                "title": catalog.titles[i],
                "imdb_url": IMDB.format(catalog.imdb[i]) if catalog.imdb[i] else None,
                "score": round(float(np.exp(scores[i])), 4)
                if kind != "new user: popular movies"
                else None,
            }
            for i in top
        ],
    }


def _fans(catalog: Catalog, liked: list[int]) -> np.ndarray | None:
    found = sorted({u for m in liked for u in catalog.fans.get(m, [])})
    return np.asarray(found, dtype=int) if found else None


def learn_popularity(
    catalog: Catalog, users: np.ndarray, movies: np.ndarray, ratings: np.ndarray
) -> None:
    """Liked counts per movie (the baseline, and new users' fallback) and each movie's fans."""
    liked = ratings >= LIKED
    catalog.popularity = np.bincount(movies[liked], minlength=len(catalog.movie_ids)).astype(float)
    catalog.fans = {}
    for u, m in zip(users[liked], movies[liked], strict=True):
        catalog.fans.setdefault(int(m), []).append(int(u))


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
