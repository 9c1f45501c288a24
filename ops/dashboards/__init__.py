"""The operators' dashboards, each built by a function of its own module; file name -> builder."""

from typing import Callable

from grafana_foundation_sdk.builders.dashboard import Dashboard

from ops.dashboards.markets import markets
from ops.dashboards.mikey import mikey
from ops.dashboards.risk import risk
from ops.dashboards.services import services

DASHBOARDS: dict[str, Callable[[], Dashboard]] = {"markets": markets, "risk": risk, "mikey": mikey, "ops": services}
