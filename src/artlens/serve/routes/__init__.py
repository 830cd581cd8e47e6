"""The service's routes, one :class:`fastapi.APIRouter` per feature, each built from the app's
:class:`~artlens.serve.service.Service` by its module's ``router(service)``:

* :mod:`.page` - the one-page app (``/``; its files under ``/static`` are mounted by the app)
* :mod:`.health` - ``/healthz``
* :mod:`.models` - the model list and ``/v1/predict``
* :mod:`.catalogue` - the example paintings and preset styles
* :mod:`.explain` - class activation maps (slow methods as jobs)
* :mod:`.style` - AdaIN (immediate) and Gatys (a job)
* :mod:`.jobs` - a job's status, cancelling it, its result
* :mod:`.detect` - Human or AI? (``/v1/detect``)
* :mod:`.feedback` - ``POST /v1/feedback`` (with ``--db``)
* :mod:`.monitoring` - ``/metrics`` (Prometheus)
* :mod:`.admin` - promote, rollback, A/B weights, feedback export (with ``--admin-token``)
"""

from . import admin, catalogue, detect, explain, feedback, health, jobs, models, monitoring, page, style

#: In the order their paths appear in ``/openapi.json``.
FEATURES = (page, health, models, catalogue, explain, style, jobs, detect, feedback, monitoring, admin)

__all__ = ["FEATURES"]
