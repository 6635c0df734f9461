"""`tryvoha serve` freezes its start-up heap, so a full collection no longer walks it."""

from __future__ import annotations

import asyncio
import gc

from tryvoha.serve import freeze_startup_heap

from ..waiting import until


def test_the_start_up_heap_is_left_out_of_collections() -> None:
    built = [{"region": i} for i in range(5000)]  # what start-up builds, tracked by the collector
    gc.unfreeze()
    try:
        freeze_startup_heap()
        frozen = gc.get_freeze_count()
        assert frozen >= len(built)
        oldest = {id(o) for o in gc.get_objects(generation=2)}
        assert not any(id(o) in oldest for o in built)  # in the permanent generation instead
        garbage = [[]]
        garbage[0].append(garbage)  # a cycle made while serving is still collected
        del garbage
        assert gc.collect() >= 1
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


async def test_the_server_freezes_once_the_app_has_started() -> None:
    import uvicorn

    from tryvoha.serve import Server

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})

    gc.unfreeze()
    server = Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started, "the server started")
        assert gc.get_freeze_count() > 0
    finally:
        server.should_exit = True
        await serving
        gc.unfreeze()
