"""The browser pages the API serves from the web build (``web/dist``, made by
``make install``): the console at ``/console/`` and the GraphQL IDE's page at
``GET /graphql``. Every script, style, font and worker comes from this server; the pages'
policy lets them load nothing from anywhere else."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# Where `make install` builds it; QUANZI_WEB_DIR points elsewhere (the image's build stage).
DEFAULT_WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"

# Same origin only. Monaco (the IDE's editor) and ECharts set inline styles; Monaco's
# workers are files of this build; the IDE's websocket goes to this origin too.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
NOT_BUILT = "The web build is missing ({page}): run `make install` (it runs npm ci and vite build)."


class _Assets(StaticFiles):
    """Hashed file names: a file never changes, so browsers may keep it."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response


class WebBuild:
    """The pages of one build directory."""

    def __init__(self, dist: Path | None = None) -> None:
        self.dist = dist or DEFAULT_WEB_DIST

    def _page(self, name: str) -> Response:
        path = self.dist / name
        if not path.is_file():
            return PlainTextResponse(NOT_BUILT.format(page=path), status_code=503)
        return HTMLResponse(
            path.read_text(encoding="utf-8"),
            headers={"content-security-policy": PAGE_POLICY, "cache-control": "no-cache"},
        )

    def ide_page(self) -> Response:
        """The GraphiQL IDE, from npm's ``graphiql`` built with the console."""
        return self._page("graphiql.html")

    async def console_page(self, request: Request) -> Response:
        """Every console address is the one page (it routes itself): a reload or a shared
        link of ``/console/circles/…`` works."""
        return self._page("index.html")

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/console", _console_root),
            Mount("/console/assets", app=_Assets(directory=self.dist / "assets", check_dir=False)),
            Route("/console/{path:path}", self.console_page),
        ]


async def _console_root(request: Request) -> Response:
    return RedirectResponse("/console/", status_code=308)
