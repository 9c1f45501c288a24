"""A fake outside server (a venue, a node, a webhook receiver) listening on the loopback interface."""

from aiohttp import web


async def listen(app: web.Application, port: int, shutdown_s: float = 0.5) -> web.AppRunner:
    """Serve `app` on 127.0.0.1:`port`; return its runner (`cleanup()` stops it)."""
    runner = web.AppRunner(app, shutdown_timeout=shutdown_s)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner
