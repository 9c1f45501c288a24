"""A small Grafana: the HTTP API endpoints `quantdesk dashboards push` calls, with their real paths, methods,
status codes and response shapes, checking each request's auth header and body, and keeping what it is given.

Shapes from Grafana's HTTP API docs (v11):
- data sources: https://grafana.com/docs/grafana/latest/developers/http_api/data_source/
  (GET /api/datasources/uid/:uid, POST /api/datasources, PUT /api/datasources/uid/:uid)
- folders: https://grafana.com/docs/grafana/latest/developers/http_api/folder/
  (GET /api/folders/:uid, POST /api/folders, PUT /api/folders/:uid)
- dashboards: https://grafana.com/docs/grafana/latest/developers/http_api/dashboard/
  (GET /api/dashboards/uid/:uid, POST /api/dashboards/db)
- alerting provisioning: https://grafana.com/docs/grafana/latest/developers/http_api/alerting_provisioning/
  (GET/PUT /api/v1/provisioning/alert-rules/:uid, POST /api/v1/provisioning/alert-rules answering 201)
"""

import re
from typing import Any, Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.Response]]
RULE_FIELDS = ("title", "ruleGroup", "folderUID", "condition", "data", "for", "noDataState", "execErrState")
NO_DATA_STATES, ERROR_STATES = {"Alerting", "NoData", "OK"}, {"Alerting", "Error", "OK"}


def duration(text: str) -> str:
    """Return a duration as Grafana writes a rule's `for` back (Prometheus style: "0m" -> "0s", "90s" -> "1m30s")."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    seconds = sum(int(n) * units[unit] for n, unit in re.findall(r"(\d+)([smhd])", text))
    parts = [(seconds // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def refuse(status: int, message: str) -> web.Response:
    """Return Grafana's error shape."""
    return web.json_response({"message": message}, status=status)


class FakeGrafana:
    """One organisation's data sources, folders, dashboards and alert rules, and every write made to them."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.datasources: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.rules: dict[str, dict] = {}
        self.writes: list[str] = []  # "METHOD path" of every request that changed something
        self.ids = 0

    def next_id(self) -> int:
        """Return a fresh numeric id, as Grafana gives every stored object."""
        self.ids += 1
        return self.ids

    def app(self) -> web.Application:
        """Return the aiohttp application serving the endpoints."""
        app = web.Application(middlewares=[self.authorised])
        app.router.add_get("/api/datasources/uid/{uid}", self.get_datasource)
        app.router.add_post("/api/datasources", self.add_datasource)
        app.router.add_put("/api/datasources/uid/{uid}", self.update_datasource)
        app.router.add_get("/api/folders/{uid}", self.get_folder)
        app.router.add_post("/api/folders", self.add_folder)
        app.router.add_put("/api/folders/{uid}", self.update_folder)
        app.router.add_get("/api/dashboards/uid/{uid}", self.get_dashboard)
        app.router.add_post("/api/dashboards/db", self.save_dashboard)
        app.router.add_get("/api/v1/provisioning/alert-rules/{uid}", self.get_rule)
        app.router.add_post("/api/v1/provisioning/alert-rules", self.add_rule)
        app.router.add_put("/api/v1/provisioning/alert-rules/{uid}", self.update_rule)
        return app

    @web.middleware
    async def authorised(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer 401 unless the request carries the service account token; record every write it lets through."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return refuse(401, "Unauthorized")
        response = await handler(request)
        if request.method != "GET" and response.status < 300:
            self.writes.append(f"{request.method} {request.path}")
        return response

    async def get_datasource(self, request: web.Request) -> web.Response:
        held = self.datasources.get(request.match_info["uid"])
        return web.json_response(held) if held else refuse(404, "Data source not found")

    def datasource_error(self, body: dict) -> str | None:
        """Return why Grafana would refuse a data source body, if it would."""
        if not all(isinstance(body.get(k), str) and body[k] for k in ("name", "type", "access")):
            return "name, type and access are required"
        if body["type"] == "prometheus" and not body.get("url"):
            return "a Prometheus data source needs its url"
        return None

    async def add_datasource(self, request: web.Request) -> web.Response:
        body = await request.json()
        if error := self.datasource_error(body):
            return refuse(400, error)
        if body.get("uid") in self.datasources or any(d["name"] == body["name"] for d in self.datasources.values()):
            return refuse(409, "data source with the same name already exists")
        stored = {"orgId": 1, "basicAuth": False, "readOnly": False, "secureJsonFields": {}, "version": 1,
                  **body, "id": self.next_id()}
        self.datasources[body["uid"]] = stored
        return web.json_response({"datasource": stored, "id": stored["id"], "message": "Datasource added",
                                  "name": stored["name"]})

    async def update_datasource(self, request: web.Request) -> web.Response:
        held = self.datasources.get(request.match_info["uid"])
        if held is None:
            return refuse(404, "Data source not found")
        body = await request.json()
        if error := self.datasource_error(body):
            return refuse(400, error)
        held.update(body, version=held["version"] + 1)
        return web.json_response({"datasource": held, "id": held["id"], "message": "Datasource updated",
                                  "name": held["name"]})

    async def get_folder(self, request: web.Request) -> web.Response:
        held = self.folders.get(request.match_info["uid"])
        return web.json_response(held) if held else refuse(404, "folder not found")

    async def add_folder(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not body.get("title"):
            return refuse(400, "folder title cannot be empty")
        if body.get("uid") in self.folders:
            return refuse(409, "a folder with the same uid already exists")
        folder = {"id": self.next_id(), "uid": body["uid"], "title": body["title"],
                  "url": f"/dashboards/f/{body['uid']}", "hasAcl": False, "canSave": True, "canEdit": True,
                  "canAdmin": True, "version": 1}
        self.folders[body["uid"]] = folder
        return web.json_response(folder)

    async def update_folder(self, request: web.Request) -> web.Response:
        held = self.folders.get(request.match_info["uid"])
        if held is None:
            return refuse(404, "folder not found")
        body = await request.json()
        if not body.get("title") or not (body.get("overwrite") or body.get("version") == held["version"]):
            return refuse(412, "the folder has been changed by someone else")
        held.update(title=body["title"], version=held["version"] + 1)
        return web.json_response(held)

    async def get_dashboard(self, request: web.Request) -> web.Response:
        held = self.dashboards.get(request.match_info["uid"])
        return web.json_response(held) if held else refuse(404, "Dashboard not found")

    async def save_dashboard(self, request: web.Request) -> web.Response:
        body = await request.json()
        dashboard: dict[str, Any] = body.get("dashboard") or {}
        if not dashboard.get("uid") or not dashboard.get("title") or not isinstance(dashboard.get("panels"), list):
            return refuse(400, "Dashboard title cannot be empty")
        if body.get("folderUid") not in self.folders:
            return refuse(400, "Folder not found")
        held = self.dashboards.get(dashboard["uid"])
        if held and not body.get("overwrite"):
            return refuse(412, "A dashboard with the same uid already exists")
        version = held["dashboard"]["version"] + 1 if held else 1
        ident = held["dashboard"]["id"] if held else self.next_id()
        self.dashboards[dashboard["uid"]] = {
            "dashboard": {**dashboard, "id": ident, "version": version},
            "meta": {"type": "db", "canSave": True, "slug": dashboard["title"].lower().replace(" ", "-"),
                     "folderUid": body["folderUid"], "folderTitle": self.folders[body["folderUid"]]["title"],
                     "provisioned": False}}
        slug = self.dashboards[dashboard["uid"]]["meta"]["slug"]
        return web.json_response({"id": ident, "uid": dashboard["uid"], "url": f"/d/{dashboard['uid']}/{slug}",
                                  "status": "success", "version": version, "slug": slug})

    async def get_rule(self, request: web.Request) -> web.Response:
        held = self.rules.get(request.match_info["uid"])
        return web.json_response(held) if held else web.Response(status=404)  # Grafana answers no body here

    def rule_error(self, rule: dict) -> str | None:
        """Return why Grafana would refuse an alert rule, if it would."""
        if missing := [f for f in RULE_FIELDS if f not in rule or rule[f] in ("", None, [])]:
            return f"missing {missing}"
        if rule["folderUID"] not in self.folders:
            return "folder does not exist"
        if rule["condition"] not in {q["refId"] for q in rule["data"]}:
            return "condition refers to no query"
        if unknown := {q["datasourceUid"] for q in rule["data"]} - set(self.datasources) - {"__expr__"}:
            return f"data source not found: {sorted(unknown)}"
        if rule["noDataState"] not in NO_DATA_STATES or rule["execErrState"] not in ERROR_STATES:
            return "unknown no-data or error state"
        return None

    def stored_rule(self, rule: dict, ident: int) -> dict:
        """Return the rule as Grafana answers it: its fields and the ones Grafana keeps."""
        return {**rule, "for": duration(rule["for"]), "id": ident, "orgID": 1, "updated": "2026-12-03T00:00:00Z",
                "provenance": "api"}

    async def add_rule(self, request: web.Request) -> web.Response:
        rule = await request.json()
        if error := self.rule_error(rule):
            return refuse(400, error)
        if rule.get("uid") in self.rules:
            return refuse(409, "an alert rule with the same uid already exists")
        self.rules[rule["uid"]] = self.stored_rule(rule, self.next_id())
        return web.json_response(self.rules[rule["uid"]], status=201)

    async def update_rule(self, request: web.Request) -> web.Response:
        held = self.rules.get(request.match_info["uid"])
        if held is None:
            return web.Response(status=404)
        rule = await request.json()
        if error := self.rule_error(rule):
            return refuse(400, error)
        self.rules[held["uid"]] = self.stored_rule(rule, held["id"])
        return web.json_response(self.rules[held["uid"]])
