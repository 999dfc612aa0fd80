"""The FM recommender: the training entry point on generated data, its held-out evaluation
against the popularity baseline, and the endpoint's hooks (recommend, FM-shaped predictions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import inference
import numpy as np
import pandas as pd
import pytest
import train
from fm import FMModel, sigmoid
from fm import train as fit

from workflows import movielens_data as ml


@pytest.fixture(scope="module")
def trained(
    small: ml.MovieLens, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("fm")
    for name, frame in (
        ("rating", pd.concat([small.ratings, small.partial])),
        ("movies", small.movies),
        ("links", small.links),
    ):
        (root / name).mkdir()
        frame.to_csv(root / name / f"{name}.csv", index=False)
    metrics = train.main(
        [f"--{c}={root / c}" for c in ("rating", "movies", "links")]
        + [f"--model-dir={root / 'model'}"]
    )
    return root / "model", metrics


def test_training_beats_the_popularity_baseline(trained: tuple[Path, dict[str, Any]]) -> None:
    model_dir, metrics = trained
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "catalog.json", "evaluation.json", "like.npz", "watch.npz",
    ]  # fmt: skip
    assert json.loads((model_dir / "evaluation.json").read_text()) == metrics
    assert metrics["precision_at_10"] > metrics["baseline_precision_at_10"]
    assert metrics["recall_at_10"] > metrics["baseline_recall_at_10"]
    assert metrics["binary_classification_accuracy"] > 0.7
    assert metrics["users_evaluated"] == 60


def test_fm_learns_a_pairwise_interaction() -> None:
    """Two user groups with opposite tastes on two movie groups: only <v_u, v_m> separates
    them, a linear model cannot."""
    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, 4000)
    movies = rng.integers(0, 40, 4000)
    labels = ((users < 20) == (movies < 20)).astype(float)
    genres = np.zeros((40, 1))
    model = fit(users, movies, labels, genres, n_users=40, factors=4, epochs=30, negatives=0)
    accuracy = ((sigmoid(model.scores(users, movies)) >= 0.5) == labels).mean()
    assert accuracy > 0.95


def test_a_saved_model_loads_the_same(tmp_path: Path) -> None:
    genres = np.eye(3)[[0, 1, 2, 0]]
    model = fit(np.array([0, 1, 2]), np.array([0, 1, 3]), np.ones(3), genres, n_users=3, epochs=2)
    model.save(str(tmp_path / "m.npz"))
    again = FMModel.load(str(tmp_path / "m.npz"))
    assert np.allclose(again.scores(np.array([0, 1]), np.array([3, 2])),
                       model.scores(np.array([0, 1]), np.array([3, 2])))  # fmt: skip


def test_endpoint_hooks_recommend_unseen_titles_with_imdb_links(
    trained: tuple[Path, dict[str, Any]], small: ml.MovieLens
) -> None:
    rec = inference.model_fn(str(trained[0]))
    request = inference.input_fn(
        json.dumps({"recommend": {"userId": "1"}}).encode(), "application/json"
    )
    body, content_type = inference.output_fn(inference.predict_fn(request, rec), "application/json")
    answer = json.loads(body)
    assert content_type == "application/json" and answer["basis"] == "existing user"
    items = answer["recommendations"]
    assert len(items) == 10 and len({i["movieId"] for i in items}) == 10
    titles = dict(zip(small.movies.movieId.astype(str), small.movies.title, strict=True))
    assert all(titles[i["movieId"]] == i["title"] for i in items)
    assert all(i["imdb_url"].startswith("https://www.imdb.com/title/tt") for i in items)
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    every = pd.concat([small.ratings, small.partial])
    rated = set(every[every.userId == 1].movieId.astype(str))
    assert not rated & {i["movieId"] for i in items}  # only movies the user has not rated


def test_a_new_user_gets_recommendations_from_liked_movies(
    trained: tuple[Path, dict[str, Any]],
) -> None:
    rec = inference.model_fn(str(trained[0]))
    liked = rec.catalog.movie_ids[:2]
    answer = inference.predict_fn({"recommend": {"liked": liked, "k": 5}}, rec)
    assert answer["basis"] == "new user: users with the same likes"
    assert len(answer["recommendations"]) == 5
    assert not set(liked) & {i["movieId"] for i in answer["recommendations"]}
    unknown = inference.predict_fn({"recommend": {"liked": ["no-such-movie"]}}, rec)
    assert unknown["basis"] == "new user: popular movies"


def test_predictions_have_the_factorization_machines_json_shape(
    trained: tuple[Path, dict[str, Any]],
) -> None:
    rec = inference.model_fn(str(trained[0]))
    movie = rec.catalog.movie_ids[0]
    answer = inference.predict_fn(
        {"instances": [{"userId": "1", "movieId": movie}, {"userId": "1", "movieId": "nope"}]}, rec
    )
    first, second = answer["predictions"]
    assert 0 <= first["score"] <= 1 and first["predicted_label"] == int(first["score"] >= 0.5)
    assert second == {"score": None, "predicted_label": None}
    with pytest.raises(inference.BadRequest, match="send application/json"):
        inference.input_fn(b"1,2", "text/csv")
