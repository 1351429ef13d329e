"""The HTTP side of ``sahit explore``: an aiohttp application serving one :class:`Explorer` and its page.

Routes (all GET): ``/`` and ``/static/NAME`` (the page, from package data, by a fixed list of names: nothing
is served by path), ``/api/info``, ``/api/sample.png``, ``/api/attention.png``, ``/api/attention.json`` and
``/api/interpolate.png`` (docs/explore.md). Bad input gets status 400 and ``{"error": "..."}`` on one line;
unknown paths 404, other methods 405, each as the same JSON. Model work runs on one worker thread, so the
event loop keeps answering (and refusing) while an image is made, and at most :data:`MAX_PENDING` wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

from aiohttp import web

from . import overlay
from .model import Explorer
from .params import MAX_QUERY_CHARS, SEED_MAX, check_names, parse_float, parse_int, parse_query

log = logging.getLogger(__name__)

MAX_PENDING = 64  # model requests waiting at once (a page asks for about 10 + its layers); more get 503
LOOPBACK = ("127.0.0.1", "localhost", "::1")
STATIC = {"index.html": "text/html", "explore.js": "text/javascript", "explore.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
QUERY = ("cls", "seed", "truncation", "off")
EXPLORER: web.AppKey[Explorer] = web.AppKey("explorer", Explorer)


def json_error(status: int, message: str) -> web.Response:
    """``{"error": message}`` on one line with ``status``."""
    return web.Response(status=status, text=json.dumps({"error": " ".join(message.split())}),
                        content_type="application/json")


def create_app(explorer: Explorer, allowed_hosts: tuple[str, ...] | None = LOOPBACK) -> web.Application:
    """The application serving ``explorer``. ``allowed_hosts``: the host names a request's Host header may carry
    (refusing others stops DNS-rebinding pages from reading a loopback server); None allows any."""
    app = web.Application(middlewares=[_guard(allowed_hosts)], handler_args={"max_line_size": 65536})
    app[EXPLORER] = explorer
    work = _Worker()
    app.on_cleanup.append(lambda _app: work.close())
    static = {name: (resources.files(__package__).joinpath("static", name).read_bytes(), kind)
              for name, kind in STATIC.items()}

    async def page(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in static:
            return json_error(404, f"no such file: {name[:60]}")
        body, kind = static[name]
        return web.Response(body=body, content_type=kind, charset="utf-8")

    async def info(request: web.Request) -> web.Response:
        check_names(request.query.items(), (), request.query_string)
        return web.json_response(explorer.info())

    async def sample(request: web.Request) -> web.Response:
        query = _query(request, explorer, ())
        return await _png(work, lambda: explorer.sample_uint8(query))

    async def attention_png(request: web.Request) -> web.Response:
        query, layer, x, y = _attention_args(request, explorer)
        return await _png(work, lambda: explorer.overlay(query, layer, x, y))

    async def attention_json(request: web.Request) -> web.Response:
        query, layer, x, y = _attention_args(request, explorer)
        result = await work.run(lambda: explorer.query_maps(query, layer, x, y))
        return web.json_response({"layer": result.layer.as_dict(), "point": list(result.point),
                                  "maps": {part: m.tolist() for part, m in result.maps.items()}})

    async def interpolate(request: web.Request) -> web.Response:
        query = _query(request, explorer, ("t", "to_seed", "to_cls"))
        t = parse_float("t", request.query.get("t"), 0.0, 1.0)
        to_seed = request.query.get("to_seed")
        to_cls = request.query.get("to_cls")
        seed = None if to_seed is None else parse_int("to_seed", to_seed, 0, SEED_MAX)
        cls = None if to_cls is None else parse_int("to_cls", to_cls, 0, max(explorer.num_classes - 1, 0))
        return await _png(work, lambda: explorer.interpolation(query, t, seed, cls))

    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", page)
    app.router.add_get("/api/info", info)
    app.router.add_get("/api/sample.png", sample)
    app.router.add_get("/api/attention.png", attention_png)
    app.router.add_get("/api/attention.json", attention_json)
    app.router.add_get("/api/interpolate.png", interpolate)
    return app


def _query(request: web.Request, explorer: Explorer, extra: tuple[str, ...]):
    check_names(request.query.items(), QUERY + extra, request.query_string)
    return parse_query(request.query, explorer.num_classes, explorer.knockable)


def _attention_args(request: web.Request, explorer: Explorer):
    query = _query(request, explorer, ("layer", "x", "y"))
    if not explorer.layers:
        raise ValueError("this model has no attention layers")
    last = explorer.resolution - 1
    layer = parse_int("layer", request.query.get("layer"), 0, len(explorer.layers) - 1)
    return query, layer, parse_int("x", request.query.get("x"), 0, last), parse_int("y", request.query.get("y"), 0, last)


async def _png(work: _Worker, make: Callable[[], Any]) -> web.Response:
    pixels = await work.run(make)
    return web.Response(body=overlay.to_png(pixels), content_type="image/png")


class _Worker:
    """One thread for model work, and a bound on how many requests may wait for it."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sahit-explore")
        self._slots = threading.BoundedSemaphore(MAX_PENDING)

    async def run(self, fn: Callable[[], Any]) -> Any:
        if not self._slots.acquire(blocking=False):
            raise _Busy()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn)
        finally:
            self._slots.release()

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Busy(Exception):
    """More model requests are waiting than :data:`MAX_PENDING`."""


def _guard(allowed_hosts: tuple[str, ...] | None):
    """Middleware: Host check, JSON errors (400 for bad input, 404/405, 503 when busy), security headers."""

    @web.middleware
    async def guard(request: web.Request, handler) -> web.StreamResponse:
        try:
            if allowed_hosts is not None and _host_name(request.host) not in allowed_hosts:
                response = json_error(400, "unexpected Host header (the explorer answers on loopback names only)")
            elif len(request.query_string) > MAX_QUERY_CHARS:
                response = json_error(400, f"query string too long (at most {MAX_QUERY_CHARS} characters)")
            else:
                response = await handler(request)
        except ValueError as exc:  # every parameter error, and a model refusing its input
            response = json_error(400, str(exc) or "bad request")
        except _Busy:
            response = json_error(503, "busy: too many requests waiting; try again")
        except web.HTTPException as exc:
            response = json_error(exc.status, exc.reason)
        except Exception as exc:  # logged here, answered in one line: never a traceback
            log.exception("sahit explore: %s %s failed", request.method, request.path_qs[:200])
            response = json_error(500, f"internal error ({type(exc).__name__})")
        response.headers.update(SECURITY_HEADERS)
        return response

    return guard


def _host_name(host: str) -> str:
    """The name of a Host header value, without its port (``[::1]:8000`` -> ``::1``)."""
    if host.startswith("["):
        return host[1:].split("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _start(explorer: Explorer, host: str, port: int) -> tuple[web.AppRunner, str]:
    """A started runner for ``explorer`` on ``host``:``port`` (0: a free port) and its URL.

    On a loopback host only loopback Host headers are answered; on another host, any (the caller warns)."""
    app = create_app(explorer, LOOPBACK if host in LOOPBACK else None)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, f"http://{f'[{host}]' if ':' in host else host}:{bound}/"


def serve(explorer: Explorer, host: str = "127.0.0.1", port: int = 8000,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve ``explorer`` on ``host``:``port`` until interrupted; ``on_ready(url)`` once it listens."""
    # aiohttp logs a traceback for every unparsable request line (it answers them 400 itself); the console
    # stays quiet, as the handlers' own errors go through this module's logger.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)

    async def main() -> None:
        runner, url = await _start(explorer, host, port)
        if on_ready is not None:
            on_ready(url)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())


class BackgroundServer:
    """``with BackgroundServer(explorer) as url:`` serves ``explorer`` from a thread (tests, benchmarks);
    a free loopback port unless ``port`` is given. Stops, and frees the port, on leaving the block."""

    def __init__(self, explorer: Explorer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.explorer, self.host, self.port = explorer, host, port
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sahit-explore-server", daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> str:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(_start(self.explorer, self.host, self.port), self._loop)
        self._runner, self.url = future.result(timeout=60)
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=60)
        self._loop.close()
