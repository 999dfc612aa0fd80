"""MovieLens "latest-small"-shaped data: a seeded generator and a reader for the workshop's files.

The files and their schemas are MovieLens's:

* ``ratings.csv`` - ``userId,movieId,rating,timestamp``: ratings 0.5-5.0 in halves, unix seconds;
* ``movies.csv`` - ``movieId,title,genres``: pipe-separated genres from :data:`GENRES` (20,
  ``(no genres listed)`` among them), titles ending in ``(year)``, quoted when they hold a comma;
* ``links.csv`` - ``movieId,imdbId,tmdbId``: imdbId zero-padded to 7 digits, some tmdbId empty;
* ``tags.csv`` - ``userId,movieId,tag,timestamp``.

The generator gives the data the structure a recommender can learn from:

* movies have a popularity (Zipf over a random order: a few blockbusters, a long niche tail),
  a quality (normal) and one to three genres;
* each user has a taste over genres (a Dirichlet draw, concentrated on a few genres), a rating
  bias, and at least :data:`MIN_RATINGS_PER_USER` ratings (log-normal beyond that);
* a user picks movies with probability proportional to popularity times genre affinity, and
  rates them around 3.5 + bias + quality + taste, rounded to halves;
* a user's ratings are spread over an active period between 1996 and 2018.

:func:`split` divides the ratings 80/20 (seeded, by row) into the batch file and the
"partial load" file that the stream simulator sends; :func:`write` writes the workshop's five
files; :func:`read_dir` reads ``--data DIR`` (and splits ``ratings.csv`` itself when there is no
``ratings-partial-load.csv``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from localaws.errors import UserError

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western", "(no genres listed)",
)  # fmt: skip
NO_GENRES = "(no genres listed)"
FILES = {
    "ratings.csv": ("userId", "movieId", "rating", "timestamp"),
    "ratings-partial-load.csv": ("userId", "movieId", "rating", "timestamp"),
    "movies.csv": ("movieId", "title", "genres"),
    "links.csv": ("movieId", "imdbId", "tmdbId"),
    "tags.csv": ("userId", "movieId", "tag", "timestamp"),
}
PARTIAL = "ratings-partial-load.csv"
MIN_RATINGS_PER_USER = 20
STREAM_FRACTION = 0.2
TAGS = {
    "Action": ("explosions", "fight scenes", "car chase"),
    "Comedy": ("funny", "hilarious", "witty"),
    "Drama": ("thought-provoking", "great acting", "slow"),
    "Horror": ("creepy", "gore", "jump scares"),
    "Sci-Fi": ("time travel", "space", "dystopia"),
    "Romance": ("romantic", "love story", "sweet"),
    "Thriller": ("twist ending", "suspense", "dark"),
    "Animation": ("pixar", "beautiful animation", "family"),
}
_WORDS = (
    "Night", "Star", "River", "Last", "Silent", "Golden", "Lost", "City", "Dream", "Storm",
    "Shadow", "Summer", "Secret", "Blue", "Iron", "Wild", "House", "Road", "Heart", "King",
    "Winter", "Ghost", "Fire", "Island", "Garden", "Machine", "Empire", "Kiss", "Game", "Moon",
)  # fmt: skip
_EPOCH_1996 = 820_454_400  # 1996-01-01
_EPOCH_2018 = 1_537_833_600  # 2018-09-25, the last rating of latest-small


@dataclass
class MovieLens:
    """The five tables, as pandas frames of strings and numbers in MovieLens's columns."""

    ratings: pd.DataFrame  # the batch part
    partial: pd.DataFrame  # the streamed part
    movies: pd.DataFrame
    links: pd.DataFrame
    tags: pd.DataFrame
    # The files as given (``--data DIR``), uploaded as they are: malformed rows included, for
    # the full load to reject and report.  Empty for generated data.
    raw: dict[str, bytes] = field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        """Each file's CSV bytes: the user's own, else the frame written as MovieLens does."""
        return {
            name: self.raw.get(name) or to_csv(frame, name) for name, frame in self.frames().items()
        }

    def frames(self) -> dict[str, pd.DataFrame]:
        return {
            "ratings.csv": self.ratings,
            "ratings-partial-load.csv": self.partial,
            "movies.csv": self.movies,
            "links.csv": self.links,
            "tags.csv": self.tags,
        }


def generate(users: int = 200, movies: int = 1000, *, seed: int = 42) -> MovieLens:
    """Seeded MovieLens-shaped data, already split 80/20 (see the module's docstring)."""
    if users < 2 or movies < 2 * MIN_RATINGS_PER_USER:
        raise UserError(
            f"users={users}, movies={movies}: need at least 2 users and "
            f"{2 * MIN_RATINGS_PER_USER} movies (each user rates {MIN_RATINGS_PER_USER} or more)"
        )
    rng = np.random.default_rng(seed)
    genres = np.array(GENRES[:-1])
    n_genres = len(genres)

    # Movies: genres, popularity, quality, year, title.
    genre_prior = rng.dirichlet(np.full(n_genres, 0.8)) * 0.7 + 0.3 / n_genres
    movie_genres = np.zeros((movies, n_genres))
    genre_lists: list[str] = []
    for m in range(movies):
        if rng.random() < 0.01:
            genre_lists.append(NO_GENRES)
            continue
        k = int(rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25]))
        picked = np.sort(rng.choice(n_genres, size=k, replace=False, p=genre_prior))
        movie_genres[m, picked] = 1.0
        genre_lists.append("|".join(genres[picked]))
    popularity = 1.0 / np.arange(1, movies + 1) ** 0.9
    popularity = popularity[rng.permutation(movies)]
    quality = rng.normal(0.0, 0.55, movies)
    years = rng.integers(1920, 2018, movies)
    movie_ids = np.sort(rng.choice(np.arange(1, movies * 20), size=movies, replace=False))
    titles = [_title(rng, int(y)) for y in years]

    # Users: taste over genres, bias, activity.
    taste = rng.dirichlet(np.full(n_genres, 0.25), size=users)
    bias = rng.normal(0.0, 0.35, users)
    extra = np.minimum(rng.lognormal(3.2, 1.0, users).astype(int), movies // 2)
    counts = MIN_RATINGS_PER_USER + extra
    counts = np.minimum(counts, movies - 1)

    genre_norm = np.maximum(movie_genres.sum(axis=1, keepdims=True), 1.0)
    affinity = taste @ (movie_genres / genre_norm).T  # users x movies, in [0, 1]
    rows = []
    for u in range(users):
        weights = popularity * (0.02 + affinity[u]) ** 2
        picked = rng.choice(movies, size=int(counts[u]), replace=False, p=weights / weights.sum())
        aff = affinity[u, picked] / max(affinity[u].max(), 1e-9)
        score = (
            3.5 + bias[u] + quality[picked] + 1.6 * (aff - 0.3) + rng.normal(0, 0.6, len(picked))
        )
        rating = np.clip(np.round(score * 2) / 2, 0.5, 5.0)
        start = int(rng.integers(_EPOCH_1996, _EPOCH_2018 - 86_400 * 30))
        span = int(rng.integers(3600, min(86_400 * 365 * 3, _EPOCH_2018 - start)))
        stamps = np.sort(start + rng.integers(0, span, len(picked)))
        rows.append(
            pd.DataFrame(
                {
                    "userId": u + 1,
                    "movieId": movie_ids[picked],
                    "rating": rating,
                    "timestamp": stamps,
                }
            )
        )
    ratings = pd.concat(rows, ignore_index=True)

    movies_df = pd.DataFrame({"movieId": movie_ids, "title": titles, "genres": genre_lists})
    imdb = rng.choice(np.arange(10_000, 9_000_000), size=movies, replace=False)
    tmdb = [
        "" if rng.random() < 0.01 else str(int(x))
        for x in rng.choice(np.arange(2, 600_000), size=movies, replace=False)
    ]
    links = pd.DataFrame(
        {"movieId": movie_ids, "imdbId": [f"{int(i):07d}" for i in imdb], "tmdbId": tmdb}
    )
    tags = _tags(rng, ratings, dict(zip(movie_ids, genre_lists, strict=True)))
    batch, partial = split(ratings, seed=seed)
    return MovieLens(batch, partial, movies_df, links, tags)


def split(
    ratings: pd.DataFrame, *, fraction: float = STREAM_FRACTION, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(batch, partial load): ``fraction`` of the rows, drawn at random, go to the stream."""
    rng = np.random.default_rng(seed + 1)
    streamed = rng.random(len(ratings)) < fraction
    return (
        ratings[~streamed].reset_index(drop=True),
        ratings[streamed].reset_index(drop=True),
    )


def write(data: MovieLens, directory: str | Path) -> dict[str, Path]:
    """The five workshop files in ``directory``; ratings written as MovieLens does (``4.0``)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in data.frames().items():
        path = out / name
        path.write_bytes(to_csv(frame, name))
        written[name] = path
    return written


def to_csv(frame: pd.DataFrame, name: str) -> bytes:
    """One table as MovieLens's CSV: its header, minimal quoting, ratings with one decimal."""
    frame = frame.loc[:, list(FILES[name])]
    text = frame.to_csv(index=False, float_format="%.1f", quoting=csv.QUOTE_MINIMAL)
    return text.encode("utf-8")


def read_dir(directory: str | Path, *, seed: int = 42) -> MovieLens:
    """``--data DIR``: the workshop's files; ``ratings.csv`` split 80/20 when ``DIR`` has no
    ``ratings-partial-load.csv``.  Every other file is required, with its header; malformed
    rows are kept in the bytes uploaded (:attr:`MovieLens.raw`) and left out of the frames."""
    root = Path(directory)
    raw: dict[str, bytes] = {}
    if not root.is_dir():
        raise UserError(f"--data {directory}: not a directory; pass the folder holding ratings.csv")
    frames: dict[str, pd.DataFrame] = {}
    for name, header in FILES.items():
        path = root / name
        if not path.is_file():
            if name == PARTIAL:
                continue
            raise UserError(
                f"--data {directory}: {name} is missing; the folder needs "
                + ", ".join(n for n in FILES if n != PARTIAL)
            )
        raw[name] = path.read_bytes()
        text = raw[name].decode("utf-8-sig")
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, on_bad_lines="skip"
        )
        if tuple(frame.columns) != header:
            raise UserError(
                f"--data {directory}: {name} has header {','.join(frame.columns)}; "
                f"expected {','.join(header)}"
            )
        frames[name] = frame
    if PARTIAL in frames:
        batch, partial = frames["ratings.csv"], frames[PARTIAL]
    else:  # the split parts are written anew from the frames
        batch, partial = split(frames["ratings.csv"], seed=seed)
        del raw["ratings.csv"]
    return MovieLens(
        batch, partial, frames["movies.csv"], frames["links.csv"], frames["tags.csv"], raw
    )


def _title(rng: np.random.Generator, year: int) -> str:
    words = rng.choice(_WORDS, size=int(rng.integers(1, 4)), replace=False)
    title = " ".join(words)
    roll = rng.random()
    if roll < 0.08:
        title = f"{title}, The"  # MovieLens's "American President, The (1995)"
    elif roll < 0.11:
        title = f'{title} ("{rng.choice(_WORDS)}")'
    return f"{title} ({year})"


def _tags(
    rng: np.random.Generator, ratings: pd.DataFrame, genres_of: dict[int, str]
) -> pd.DataFrame:
    """Free-text tags on about 4 % of ratings, words from the movie's genres."""
    chosen = ratings[rng.random(len(ratings)) < 0.04]
    rows = []
    for row in chosen.itertuples(index=False):
        options = [t for g in genres_of[int(row.movieId)].split("|") for t in TAGS.get(g, ())]
        tag = str(rng.choice(options)) if options else "classic"
        rows.append((int(row.userId), int(row.movieId), tag, int(row.timestamp) + 60))
    return pd.DataFrame(rows, columns=list(FILES["tags.csv"]))
