"""Run uvicorn servers and background tasks inside an asyncio program, and stop them cleanly."""

import asyncio

import uvicorn


async def serve(server: uvicorn.Server, name: str) -> asyncio.Task[None]:
    """Start uvicorn in a task and wait until it listens (or fails)."""
    task = asyncio.create_task(server.serve(), name=name)
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"{name} stopped while starting")
        await asyncio.sleep(0.02)
    return task


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Ask uvicorn to stop and wait for its lifespan to finish."""
    server.should_exit = True
    await task


async def cancel(*tasks: asyncio.Task[None]) -> None:
    """Cancel background tasks and wait for them."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
