"""The exporter's HTTP API (Flask), built by :func:`create_app`.

Routes (documented in ``projects/exporter/openapi.yaml``)::

    GET  /health             alive, Triton live/ready, pipeline ready
    GET  /versions           every version and its role
    POST /versions           {"run": "<start>-<stop>"} -> 202 + job
    GET  /jobs/<id>          queued / running / done / failed
    POST /production         {"version": n} -> promote
    GET  /openapi.yaml       the API description

POSTs need ``Authorization: Bearer <token>`` and a JSON object body. One
error handler turns every refusal into ``{"error", "detail"}`` with a 4xx;
input is checked completely before anything changes.
"""

from __future__ import annotations

import logging
from typing import Callable

from flask import Flask
from flask import Response
from flask import jsonify
from flask import request
from werkzeug.exceptions import HTTPException

from exporter import validation
from exporter.errors import NotFound
from exporter.errors import status_of
from exporter.service import AppConfig
from exporter.service import ExporterService
from utils.errors import DeepCleanError

logger = logging.getLogger(__name__)
EXTENSION = "deepclean_exporter"


def service_of(app: Flask) -> ExporterService:
    """The :class:`ExporterService` behind ``app`` (tests close it)."""
    return app.extensions[EXTENSION]


def _error(status: int, error: str, detail: str) -> tuple[Response, int]:
    response = jsonify({"error": error, "detail": detail})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="deepclean"'
    return response, status


def _register_errors(app: Flask) -> None:
    @app.errorhandler(DeepCleanError)
    def domain_error(exc: DeepCleanError) -> tuple[Response, int]:
        status = status_of(exc)
        log = logger.warning if status < 500 else logger.error
        log(
            "%s %s -> %d %s: %s",
            request.method,
            request.path,
            status,
            type(exc).__name__,
            exc,
        )
        return _error(status, type(exc).__name__, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return _error(exc.code or 400, exc.name, exc.description or "")

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> tuple[Response, int]:
        logger.exception("%s %s crashed", request.method, request.path)
        return _error(500, "InternalError", f"{type(exc).__name__}")


def _post(config: AppConfig) -> Callable[[], dict]:
    def authorised_json() -> dict:
        validation.check_token(
            request.headers.get("Authorization"), config.api_token
        )
        return validation.json_object(request, config.max_content_length)

    return authorised_json


def create_app(config: AppConfig) -> Flask:
    """Build the app and start its service (repository, threads).

    Args:
        config: the exporter's configuration.

    Returns:
        The Flask app; ``service_of(app).close()`` stops its threads.
    """
    app = Flask("exporter")
    app.config["MAX_CONTENT_LENGTH"] = config.max_content_length
    service = ExporterService(config)
    service.start()
    app.extensions[EXTENSION] = service
    _register_errors(app)
    body = _post(config)

    @app.get("/health")
    def health() -> Response:
        return jsonify(service.health())

    @app.get("/versions")
    def versions() -> Response:
        return jsonify(service.describe_versions())

    @app.post("/versions")
    def export() -> tuple[Response, int]:
        run = validation.only_keys(body(), "run")
        run_dir = validation.resolve_run(run, config.train_dir)
        existing = service.repository.find_run(run)
        job = service.jobs.submit(run, run_dir, existing)
        response = jsonify(job.to_dict())
        response.headers["Location"] = f"/jobs/{job.id}"
        return response, 202

    @app.get("/jobs/<job_id>")
    def job(job_id: str) -> Response:
        found = service.jobs.get(job_id)
        if found is None:
            raise NotFound(f"no job {job_id[:64]!r}")
        return jsonify(found.to_dict())

    @app.post("/production")
    def promote() -> Response:
        request = validation.keys_of(body(), "version", ("reason",))
        version = validation.positive_version(request["version"])
        reason = validation.reason_text(request.get("reason"))
        state = service.manager.promote(version, reason)
        return jsonify(
            {"production": state.production, "canary": state.canary}
        )

    @app.get("/openapi.yaml")
    def openapi() -> Response:
        text = config.openapi_path.read_text()
        return Response(text, mimetype="application/yaml")

    return app
