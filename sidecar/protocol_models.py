"""Wire types of the model lifecycle methods (protocol 1, additive): show, running, pull, delete,
load, unload, and `cancel_request`, which cancels any request in flight.

A module of its own beside protocol.py (which keeps the envelopes, chat and the shared types) so
neither passes 400 lines. The `model:pull_progress` notification's params (`PullProgressParams`)
live in protocol.py, because an error's `data.progress` carries them too.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from .protocol import RequestId

ModelName = Annotated[str, Meta(min_length=1)]


class ModelParams(Struct):
    """The params of show_model, delete_model and unload_model."""

    model: ModelName


class ShowModelResult(Struct):
    name: str  # the name the request gave
    capabilities: list[str]
    context_length: int | None  # the trained context (model_info's <arch>.context_length)
    family: str
    parameter_size: str
    quantization: str
    modified_at: str


class RunningModel(Struct):
    name: str
    size: int
    size_vram: int
    expires_at: str
    context_length: int | None  # the context the model was loaded with


class RunningModelsResult(Struct):
    models: list[RunningModel]


class PullModelParams(Struct):
    model: ModelName
    insecure: bool | UnsetType = UNSET


class PullModelResult(Struct, omit_defaults=True):
    """`status` "success", or "cancelled" with the bytes done so far."""

    model: str
    status: str
    total: int | UnsetType = UNSET
    completed: int | UnsetType = UNSET


class LoadModelParams(Struct):
    model: ModelName
    keep_alive: int | float | str | UnsetType = UNSET


class LoadModelResult(Struct):
    model: str
    load_ms: int  # measured by the sidecar


class CancelRequestParams(Struct):
    id: RequestId


class CancelRequestResult(Struct):
    cancelled: list[RequestId]
