"""The process helpers: the collector tuned for a long-running gateway (startup's objects frozen, young objects
collected less often), the first of several waits, stop signals, and uvicorn served in a task."""

import asyncio
import gc
import os
import signal

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from quantdesk.broker import free_port
from quantdesk.process import (COLLECTOR_THRESHOLDS, STOP_SIGNALS, CollectorPaused, first_of, serving, stop_signal,
                               tune_collector)


def test_tuning_freezes_startup_objects_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        gc.unfreeze()
        tune_collector()
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # this test session's modules, functions and classes
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_collector_is_paused_over_a_burst_and_handed_back_even_when_it_fails() -> None:
    assert gc.isenabled()
    with CollectorPaused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), CollectorPaused():
        raise ValueError("the burst failed")
    assert gc.isenabled()
    gc.disable()  # a caller that turned it off keeps it off
    try:
        with CollectorPaused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


async def test_first_of_returns_with_the_first_wait_done_and_cancels_only_the_waits_it_wrapped() -> None:
    stop, cancelled = asyncio.Event(), []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
    given = asyncio.create_task(forever("given"))
    waiting = asyncio.create_task(first_of(stop.wait(), forever("wrapped"), given))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    stop.set()
    await asyncio.wait_for(waiting, 5)
    await asyncio.sleep(0)
    assert cancelled == ["wrapped"] and not given.done(), "a task given keeps running"
    given.cancel()


async def test_first_of_returns_once_a_given_task_ends() -> None:
    ended = asyncio.create_task(asyncio.sleep(0.01))
    await asyncio.wait_for(first_of(asyncio.Event().wait(), ended), 5)
    assert ended.done()


async def test_a_stop_signal_sets_the_event_and_does_not_stop_the_process() -> None:
    loop = asyncio.get_running_loop()
    try:
        for sig in STOP_SIGNALS:
            stop = stop_signal()
            os.kill(os.getpid(), sig)
            await asyncio.wait_for(stop.wait(), 5)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


async def test_serving_listens_in_the_block_and_stops_after_it_leaving_signals_alone() -> None:
    async def hello(_: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/", hello)]), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    handlers = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    async with serving(server, "test-hello") as task, httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/")).text == "hello"
        assert not task.done() and {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} == handlers
    assert task.done() and task.exception() is None
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"http://127.0.0.1:{port}/")
