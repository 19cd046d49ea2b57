"""aiozk's column: ZKClient, ``asyncio.gather`` to pipeline."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict

from .async_client import AsyncClientAdapter


class AiozkAdapter(AsyncClientAdapter):
    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        import aiozk

        logging.getLogger("aiozk").setLevel(logging.CRITICAL)
        self.loop = asyncio.new_event_loop()
        self.zk = aiozk.ZKClient(hosts, session_timeout=30, read_timeout=30)
        self.run(self.zk.start())

    def set_call(self, path: str, data: bytes) -> Any:
        return self.zk.set(path, data, -1)

    def delete_call(self, path: str) -> Any:
        return self.zk.delete(path, force=True)

    def start_call(self, aw: Any) -> Any:
        return asyncio.ensure_future(aw)  # aiozk's calls are coroutines: schedule them
