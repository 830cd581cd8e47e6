"""The API's bodies as pydantic models, so that ``/openapi.json`` tells clients the truth.

Every route lists every status it can answer, each error with :class:`ErrorBody` (issue 28: a client
generated from the schema must not meet an undocumented 404). :func:`errors` builds those entries.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["ABWeights", "AliasChange", "ERROR_TEXT", "ErrorBody", "ExamplesResponse", "FeedbackRequest",
           "FeedbackResponse", "JobEnvelope", "JobView", "ModelsResponse", "PredictResponse", "Rollback",
           "StylesResponse", "errors"]


class ErrorBody(BaseModel):
    """Every error the service answers, whatever the status."""

    error: str = Field(description="One line saying what was wrong and, where it helps, what to do.")
    status: int = Field(description="The HTTP status, repeated.")
    request_id: str = Field(description="The id of the request in the server's log (the X-Request-ID header).")


ERROR_TEXT = {
    401: "The admin token is missing or wrong (Authorization: Bearer ...).",
    400: "The Host header is not a name this server answers to (DNS rebinding guard).",
    403: "A cross-origin POST or DELETE: only this server's own page (or --allow-origin) may send it.",
    404: "No such model, job, image or route.",
    405: "Wrong method for this route.",
    409: "The job has no result (yet), or the request already has its feedback.",
    413: "An upload or the whole request is larger than the limit, or the image has too many pixels.",
    415: "An upload is not an image (the type is found by decoding it).",
    422: "A field is missing, out of range or unknown; an image is corrupt, empty or too thin.",
    429: "Too much work of this kind is queued (or this client's share of the job queue is full); see Retry-After.",
    500: "A bug; the traceback is in the server's log under the request id.",
    503: "The server is overloaded (no answer within the time limit), stopping, or lacks the feature or model files.",
}

_RETRY = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: each status with the JSON error model (and ``Retry-After`` for 429/503)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in (400, *statuses, 500):
        entry: dict[str, Any] = {"model": ErrorBody, "description": ERROR_TEXT[status]}
        if status in (429, 503):
            entry["headers"] = _RETRY
        out[status] = entry
    return out


class Prediction(BaseModel):
    label: str
    prob: float = Field(ge=0, le=1)


class ImageInfo(BaseModel):
    width: int
    height: int
    format: str


class PredictResponse(BaseModel):
    model: str = Field(description="The id of the model that answered (name@version).")
    predictions: list[Prediction] = Field(description="Most probable first.")
    uncertain: bool = Field(description="The top probability is below the model's calibrated 'uncertain_below' "
                                        "(always false for a model without calibration).")
    image: ImageInfo = Field(description="The picture as uploaded (upright).")
    request_id: str = Field(description="This answer's id: what POST /v1/feedback names.")
    arm: str | None = Field(description="The A/B arm that answered (an alias or version), if a test runs.")
    feedback: bool = Field(description="Whether this server records answers and takes feedback on them.")
    latency_ms: float


JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class JobView(BaseModel):
    id: str
    kind: str = Field(description="gatys, or the CAM method of a slow explanation.")
    state: JobState
    progress: float = Field(ge=0, le=1)
    message: str
    error: str | None
    elapsed_s: float
    position: int | None = Field(description="Place in the queue, 1 = next to run; null once running or finished.")
    estimate_s: float = Field(description="The run time guessed before it started, in seconds.")
    info: dict[str, Any] | None = Field(description="What the result shows (a CAM's label and probability), if any.")
    result: str | None = Field(description="The result's URL once done.")


class JobEnvelope(BaseModel):
    job: JobView


class ModelCard(BaseModel):
    summary: str = Field(description="What the model recognises, in a sentence.")
    classes: list[str] = Field(description="The class names, readable.")
    trained_on: str
    accuracy: str = Field(description="How often it is right, in words.")
    uncertain_below: float | None = Field(description="Top probabilities below this are flagged 'uncertain'.")


class ModelInfo(BaseModel):
    id: str
    name: str
    version: str
    task: str
    classes: list[str]
    metrics: dict[str, Any]
    created: str
    backbone: str
    source: Literal["built-in", "models dir"]
    card: ModelCard


class Operations(BaseModel):
    feedback: bool = Field(description="Answers are recorded and POST /v1/feedback is offered.")
    stores_images: bool = Field(description="Uploaded images are kept (for retraining); otherwise only hashes.")
    ab: list[str] = Field(description="A/B tests running: NAME=ARM:WEIGHT,...")
    feedback_per_minute: int


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    defaults: dict[str, str]
    features: dict[str, Any]
    limits: dict[str, Any]
    operations: Operations


class FeedbackRequest(BaseModel):
    """What a visitor says about an answer: the model is the one that answered, never named here."""

    model_config = {"extra": "forbid"}
    request_id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="The request_id of the predict answer.")
    label: str = Field(min_length=1, max_length=200,
                       description="The right class (one of the model's classes), or 'correct' when the top-1 was right.")


class FeedbackResponse(BaseModel):
    request_id: str
    model: str = Field(description="The model that answered the request.")
    predicted: str
    label: str
    correct: bool


class AliasChange(BaseModel):
    model_config = {"extra": "forbid"}
    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}@[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
                       description="NAME@VERSION to point the alias at.")
    alias: Literal["production", "candidate"] = "production"


class Rollback(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
    alias: Literal["production", "candidate"] = "production"


class ABWeights(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
    weights: dict[str, float] = Field(description="ARM -> weight (>= 0; normalised).")


class Example(BaseModel):
    name: str
    url: str
    title: str
    artist: str


class ExamplesResponse(BaseModel):
    examples: list[Example]


class Style(Example):
    licence: str


class StylesResponse(BaseModel):
    styles: list[Style]
