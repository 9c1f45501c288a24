"""The gateway's Prometheus metrics."""

from fastapi import APIRouter, Request, Response

from quantdesk.metrics import CONTENT_TYPE, render

router = APIRouter(tags=["health"])
PAGE = {200: {"description": "every family in the Prometheus text format",
              "content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}}


@router.get("/metrics", response_class=Response, responses=PAGE)
async def metrics(request: Request) -> Response:
    """Show the gateway's metrics (`gateway_*`: requests by route template, method and status; Socket.IO
    connections, subscriptions, emits and drops; rate-limit refusals; sign-ins), and under `quantdesk up` those of
    the workers in the same process and its child, in the Prometheus text format for a scrape."""
    request.app.state.gateway.measure()
    page = render([request.app.state.metrics.registry, *request.app.state.collectors])
    return Response(page, media_type=CONTENT_TYPE)
