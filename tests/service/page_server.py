"""The approval page alone, served by uvicorn for the browser test: ``uvicorn page_server:app --factory``
with ``CERTSOAR_CONFIG`` naming the config."""

from __future__ import annotations

from fastapi import FastAPI

from certsoar.config import load_config
from certsoar.service.page import router


def app() -> FastAPI:
    served = FastAPI()
    served.state.config = load_config()
    served.include_router(router)
    return served
