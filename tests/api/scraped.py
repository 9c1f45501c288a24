"""The gateway's /metrics page, read with prometheus_client's own parser."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from quantdesk.metrics import CONTENT_TYPE


class Page:
    """Every sample of one scrape, by name and labels."""

    def __init__(self, text: str) -> None:
        self.samples = {(sample.name, frozenset(sample.labels.items())): sample.value
                        for family in text_string_to_metric_families(text) for sample in family.samples}

    def value(self, name: str, **labels: str) -> float:
        """Return one sample's value; a missing series fails the test."""
        return self.samples[(name, frozenset(labels.items()))]

    def has(self, name: str, **labels: str) -> bool:
        """Tell whether the page holds a sample."""
        return (name, frozenset(labels.items())) in self.samples


async def scrape(http: httpx.AsyncClient) -> Page:
    """Scrape the gateway as Prometheus does."""
    response = await http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"] == CONTENT_TYPE, response.text
    return Page(response.text)
