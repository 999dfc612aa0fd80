"""Recommend step: top titles with IMDb links from the endpoint, for existing and new users.

Event (``events/movie_recommend.json``)::

    {"endpoint_name": "movie-recommender",
     "users": ["1", "2"],                 # existing users (by userId)
     "new_user_likes": ["1", "50"],       # optional: a new user's liked movieIds
     "k": 10}

One ``{"recommend": {...}}`` JSON request per user (the endpoint's contract, see
``jobs/movie_recommender/inference.py``); returns ``{"recommendations": [{"user", "basis",
"items": [{"movieId", "title", "imdb_url", "score"}]}]}``.  An endpoint that is not (yet)
InService, or an unusable answer, raises :class:`EndpointError` (the workflow retries it).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from common.errors import EndpointError, InvalidEventError

CONTENT_TYPE = "application/json"
MAX_USERS = 20


@lru_cache(maxsize=1)
def runtime_client() -> Any:
    from localaws.lambdakit.clients import sagemaker_runtime_client

    return sagemaker_runtime_client()


def ask(client: Any, endpoint: str, request: dict[str, Any]) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        response = client.invoke_endpoint(
            EndpointName=endpoint,
            ContentType=CONTENT_TYPE,
            Accept=CONTENT_TYPE,
            Body=json.dumps({"recommend": request}),
        )
    except ClientError as e:
        error = e.response.get("Error", {})
        raise EndpointError(
            f"endpoint_name: InvokeEndpoint on {endpoint} failed with "
            f"{error.get('Code', 'an error')}: {error.get('Message', '')}"
        ) from e
    body = response["Body"].read()
    try:
        answer = json.loads(body)
        items = answer["recommendations"]
    except (ValueError, KeyError, TypeError) as e:
        raise EndpointError(
            f"endpoint {endpoint}: not a recommendations answer: {body[:200]!r}"
        ) from e
    return {"basis": answer.get("basis"), "items": items}


def recommend(event: dict[str, Any], client: Any = None) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidEventError(f"event: expected a JSON object, got {type(event).__name__}")
    endpoint = event.get("endpoint_name")
    if not isinstance(endpoint, str) or not endpoint:
        raise InvalidEventError(f"endpoint_name: expected a non-empty string, got {endpoint!r}")
    users = event.get("users", [])
    likes = event.get("new_user_likes", [])
    for field, value in (("users", users), ("new_user_likes", likes)):
        if not isinstance(value, list) or len(value) > MAX_USERS:
            raise InvalidEventError(
                f"{field}: expected a list of at most {MAX_USERS} ids, got {value!r:.80}"
            )
    k = event.get("k", 10)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
        raise InvalidEventError(f"k: expected an integer from 1 to 100, got {k!r}")
    client = client if client is not None else runtime_client()
    results = [
        {"user": str(user), **ask(client, endpoint, {"userId": str(user), "k": k})}
        for user in users
    ]
    if likes:
        results.append(
            {
                "user": "new",
                "liked": [str(m) for m in likes],
                **ask(client, endpoint, {"liked": [str(m) for m in likes], "k": k}),
            }
        )
    return {"endpoint_name": endpoint, "recommendations": results}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return recommend(event)
