"""The endpoint's hooks (scikit-learn framework container, script mode).

``application/json`` requests, two shapes:

* ``{"instances": [{"userId": "12", "movieId": "50"}, ...]}`` -> ``{"predictions":
  [{"score": 0.83, "predicted_label": 1}, ...]}`` - the built-in factorization machines'
  JSON response shape, from the ``like`` model (an unknown user scores from the movie and
  its genres; an unknown movie has no score);
* ``{"recommend": {"userId": "12", "liked": ["1", "50"], "seen": [], "k": 10}}`` ->
  ``{"user_id", "basis", "recommendations": [{"movieId", "title", "imdb_url", "score"}]}``:
  an existing user's top k unseen movies, or a new user's from the movies they liked.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from fm import FMModel, sigmoid
from recommender import Catalog, Recommender, recommend

JSON = "application/json"
MAX_K = 100


class BadRequest(ValueError):
    """The request's JSON does not have one of the two shapes."""


def model_fn(model_dir: str) -> Recommender:
    with open(os.path.join(model_dir, "catalog.json")) as fh:
        catalog = Catalog.from_json(json.load(fh))
    return Recommender(
        like=FMModel.load(os.path.join(model_dir, "like.npz")),
        watch=FMModel.load(os.path.join(model_dir, "watch.npz")),
        catalog=catalog,
    )


def input_fn(body: bytes, content_type: str) -> dict[str, Any]:
    if content_type != JSON:
        raise BadRequest(f"Content-Type {content_type}: send {JSON}")
    request = json.loads(body)
    if not isinstance(request, dict) or not ({"instances", "recommend"} & set(request)):
        raise BadRequest('expected {"instances": [...]} or {"recommend": {...}}')
    return request


def predict_fn(request: dict[str, Any], rec: Recommender) -> dict[str, Any]:
    model, catalog = rec.like, rec.catalog
    if "recommend" in request:
        ask = request["recommend"] or {}
        k = int(ask.get("k", 10))
        if not 1 <= k <= MAX_K:
            raise BadRequest(f"recommend.k: {k}; expected 1 to {MAX_K}")
        user = ask.get("userId")
        return recommend(
            rec,
            user_id=None if user is None else str(user),
            liked=[str(m) for m in ask.get("liked", [])],
            seen=[str(m) for m in ask.get("seen", [])],
            k=k,
        )
    uidx, midx = catalog.user_index(), catalog.movie_index()
    predictions: list[dict[str, Any]] = []
    for instance in request["instances"]:
        u = uidx.get(str(instance.get("userId")))
        m = midx.get(str(instance.get("movieId")))
        if m is None:
            predictions.append({"score": None, "predicted_label": None})
            continue
        v = model.v_user[u] if u is not None else np.zeros(model.v_user.shape[1])
        w = float(model.w_user[u]) if u is not None else 0.0
        score = float(sigmoid(model.scores_for_vector(w, v)[m]))
        predictions.append({"score": round(score, 6), "predicted_label": int(score >= 0.5)})
    return {"predictions": predictions}


def output_fn(prediction: dict[str, Any], accept: str) -> tuple[str, str]:
    return json.dumps(prediction), JSON
