"""A background job's status, cancelling it, and its result (``/v1/jobs/{id}``, from a 202 answer)."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path as PathParam
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from ..jobs import Job
from ..schemas import JobEnvelope, JobView, errors
from ..service import Service, cam_headers

__all__ = ["router"]

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def _unknown(job_id: str) -> HTTPException:
    return HTTPException(404, f"unknown job {job_id[:40]!r} (finished jobs are kept for a while, "
                              "not forever; the server may also have restarted)")


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["jobs"])
    jobs = service.jobs
    # Patterns shown in the schema, checked by the route: any other id is simply unknown (404).
    job_id_param = PathParam(description="The id a 202 answer gave.", json_schema_extra={"pattern": _JOB_ID.pattern})

    def find(job_id: str) -> Job:
        job = jobs.get(job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            raise _unknown(job_id)
        return job

    @routes.get("/v1/jobs/{job_id}", response_model=JobView, responses=errors(404))
    def job_status(job_id: Annotated[str, job_id_param]) -> dict[str, Any]:
        """State (queued, running, done, failed, cancelled), queue position, estimated and elapsed
        seconds, progress 0..1, and the result URL when done."""
        return find(job_id).to_dict()

    @routes.delete("/v1/jobs/{job_id}", response_model=JobEnvelope,
                   responses={202: {"model": JobEnvelope, "description": "Running: it stops at its next step."},
                              **errors(403, 404)})
    def cancel_job(job_id: Annotated[str, job_id_param]) -> Any:
        """Cancel a job: a queued one is removed (200, state ``cancelled``), a running one stops at its
        next step (202, poll it), a finished one is forgotten with its result (200)."""
        job = jobs.cancel(job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            raise _unknown(job_id)
        return JSONResponse({"job": job.to_dict()}, status_code=202 if job.state == "running" else 200)

    @routes.get("/v1/jobs/{job_id}/result", response_class=Response,
                responses={200: {"content": {"image/png": {}}, "description": "The result; a CAM's label in X-Label."},
                           **errors(404, 409)})
    def job_result(job_id: Annotated[str, job_id_param]) -> Response:
        """The finished job's image; 409 while it is queued or running, or if it failed or was cancelled."""
        job = find(job_id)
        if job.state != "done" or job.result is None:
            why = f": {job.error}" if job.error else f" ({job.progress:.0%}); poll /v1/jobs/{job.id}"
            raise HTTPException(409, f"job {job.id} is {job.state}{why}")
        return Response(job.result, media_type=job.media_type, headers=cam_headers(job.info))

    return routes
