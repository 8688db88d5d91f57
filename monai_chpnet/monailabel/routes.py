"""``POST /infer/<model>`` for the reconstruction task, answered before MONAI Label's own route.

MONAI Label's infer endpoint parses the ``params`` form field with ``json.loads`` and merges it with
``dict.update`` before any task runs: ``params`` that are not JSON, or a JSON list, end in a bare "500 Internal
Server Error". It saves an upload as ``/tmp/tmpXXXX<suffix>`` and deletes it only after a successful answer, so a
failed request leaves the file behind and its errors name the temporary file instead of the upload.

:func:`install_infer_route` puts a route for the given models in front of MONAI Label's: it checks ``params``
(one 422 line naming what is wrong; the keys themselves are checked by the task), saves an upload under the
client's own file name in a private temporary folder that is removed however the request ends, and then runs
MONAI Label's own ``run_inference``, so everything else -- datastore ids, sessions, the answer's formats -- is
MONAI Label's. The sample app installs it when the server has started (``on_init_complete``); another app adds it
the same way.
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoint's annotations, some of which are local

import json
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

from fastapi import BackgroundTasks, Depends, File, Form, HTTPException, UploadFile
from fastapi.routing import APIRoute

from monai_chpnet.monailabel.params import InvalidRequest

__all__ = ["install_infer_route", "parse_params_field", "upload_name"]

logger = logging.getLogger(__name__)


def parse_params_field(text: Optional[str]) -> Dict[str, Any]:
    """The ``params`` form field as a dict: empty means ``{}``.

    Raises:
        InvalidRequest: (422) not JSON, or JSON that is not an object.
    """
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidRequest(
            f"params must be a JSON object, got text that is not JSON ({err.msg} at character {err.pos})."
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequest(
            f'params must be a JSON object ({{"acceleration": 4, ...}}), got a JSON {type(value).__name__}.'
        )
    return value


def upload_name(filename: Optional[str]) -> str:
    """A safe local name for an upload: the client's base name (no folders), ``upload.nii.gz`` without one."""
    name = Path((filename or "").replace("\\", "/")).name
    name = re.sub(r"[^\w.+-]", "_", name).lstrip(".")
    return name or "upload.nii.gz"


def install_infer_route(models: Iterable[str]) -> None:
    """Answer ``POST /infer/<model>`` for ``models`` before MONAI Label's generic ``/infer/{model}`` route (see the
    module docstring). Call it in a running server (the app's ``on_init_complete``); it is a no-op where MONAI
    Label's FastAPI application has no such route."""
    from monailabel.app import app
    from monailabel.config import settings
    from monailabel.endpoints import infer as infer_endpoints
    from monailabel.endpoints.infer import ResultType, run_inference
    from monailabel.endpoints.user.auth import RBAC, User

    prefix = settings.MONAI_LABEL_API_STR
    routes = app.router.routes

    def is_generic(route: Any) -> bool:  # the route itself (FastAPI < 0.165), or its included router
        return getattr(route, "path", "") == f"{prefix}/infer/{{model}}" or (
            getattr(route, "original_router", None) is infer_endpoints.router
        )

    if not any(is_generic(r) for r in routes):
        logger.warning("MONAI Label has no /infer/{model} route: the reconstruction's request checks are not installed")
        return
    for model in models:
        path = f"{prefix}/infer/{model}"
        routes[:] = [r for r in routes if getattr(r, "path", "") != path]  # installed again: replaced
        generic = next(i for i, r in enumerate(routes) if is_generic(r))
        endpoint = _endpoint(model, run_inference, ResultType, Depends(RBAC(settings.MONAI_LABEL_AUTH_ROLE_USER)), User)
        routes.insert(generic, APIRoute(path, endpoint, methods=["POST"], summary=f"Run the {model} reconstruction"))
        logger.info(f"+++ {path}: params and uploads checked before MONAI Label's infer route")


def _endpoint(model: str, run_inference: Any, result_type: Any, user_dependency: Any, user_type: Any) -> Any:
    """The endpoint of one model: MONAI Label's own parameters, ``params`` checked, an upload kept under its name."""

    async def infer(
        background_tasks: BackgroundTasks,
        image: str = "",
        session_id: str = "",
        params: str = Form("{}"),
        file: UploadFile = File(None),
        label: UploadFile = File(None),
        output: Optional[result_type] = None,  # type: ignore[valid-type]
        user: user_type = user_dependency,  # type: ignore[valid-type]
    ) -> Any:
        try:
            checked = parse_params_field(params)
        except InvalidRequest as err:
            raise HTTPException(status_code=err.status_code, detail=str(err)) from None
        folder = None
        try:
            if file:
                folder = Path(tempfile.mkdtemp(prefix="chpnet-upload-"))
                image = str(folder / upload_name(file.filename))
                with open(image, "wb") as out:
                    shutil.copyfileobj(file.file, out)
                file = None
            return run_inference(background_tasks, model, image, session_id, json.dumps(checked), file, label, output)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    return infer
