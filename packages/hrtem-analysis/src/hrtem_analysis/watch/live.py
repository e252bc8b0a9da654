"""The live page of a watch: the latest frame with its particles outlined, the counts, and
columns, events and particles against time, updated as rows arrive (no reload).

A Starlette app served by uvicorn in a thread of the watching process, on loopback unless told
otherwise. Routes: ``/`` the page; ``/rows`` every row so far (JSON); ``/events?after=N``
server-sent events, one per row after the N-th; ``/frame.png?frame=K`` the latest analysed frame
(at most :data:`PREVIEW` px a side, rows = y as on screen) with its particles outlined. The
watcher calls :meth:`LivePage.publish` after each row; the page's JavaScript draws the rest.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

PREVIEW = 512
"""Largest side [px] of the frame shown on the page (strided from the frame)."""
FIELDS = ("frame", "time", "source", "status", "error", "particles", "zone", "interpretable",
          "columns", "appeared", "vanished", "events")  # fmt: skip
"""Row fields the page gets."""


def _plain(value: Any) -> Any:
    """A JSON value: pandas/NumPy missing values and NaN become None."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def strided(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``image`` ``[nx, ny]`` and ``mask`` (same shape, or None) strided alike to at most
    :data:`PREVIEW` px a side (copies)."""
    step = max(1, math.ceil(max(image.shape) / PREVIEW))
    small = None if mask is None else mask[::step, ::step].copy()
    return image[::step, ::step].copy(), small


def preview_png(image: np.ndarray, mask: np.ndarray | None) -> bytes:
    """PNG of ``image`` ``[nx, ny]`` (abTEM order; shown with rows = y) with the outlines of
    ``mask`` ``[nx, ny]`` in orange, strided to at most :data:`PREVIEW` px a side."""
    from PIL import Image

    small, inside = strided(image, mask)
    small = np.asarray(small, dtype=np.float32).T
    low, high = np.percentile(small, [1, 99])
    grey = np.clip((small - low) / max(high - low, 1e-12), 0, 1)
    rgb = np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)
    if inside is not None:
        inside = np.asarray(inside, dtype=bool).T
        edge = inside & ~ndimage.binary_erosion(inside, iterations=2)
        rgb[edge] = (255, 140, 0)
    stream = io.BytesIO()
    Image.fromarray(rgb).save(stream, format="PNG")
    return stream.getvalue()


@dataclass
class _Latest:
    frame: int
    image: np.ndarray
    mask: np.ndarray | None
    png: bytes | None = None


class LivePage:
    """The page of one watch; :meth:`start` serves it, :meth:`publish` feeds it rows."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, title: str = "") -> None:
        self.host, self.port, self.title = host, port, title
        self.rows: list[dict] = []
        self.latest: _Latest | None = None
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def publish(self, row: dict, frame: Any, record: Any) -> None:
        """Add a row (keys :data:`FIELDS` kept); an analysed frame becomes the latest shown."""
        plain = {key: _plain(row.get(key)) for key in FIELDS}
        with self._lock:
            self.rows.append(plain)
            if frame.image is not None and row["status"] != "failed":
                image, mask = strided(frame.image[0], record.mask)
                self.latest = _Latest(row["frame"], image, mask)

    def _png(self) -> bytes | None:
        with self._lock:
            latest = self.latest
        if latest is None:
            return None
        if latest.png is None:
            latest.png = preview_png(latest.image, latest.mask)
        return latest.png

    def app(self) -> Any:
        """The Starlette application."""
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
        from starlette.routing import Route

        async def page(request: Request) -> HTMLResponse:
            return HTMLResponse(PAGE.replace("{{title}}", _escape(self.title)))

        async def rows(request: Request) -> JSONResponse:
            with self._lock:
                return JSONResponse({"title": self.title, "rows": list(self.rows)})

        async def events(request: Request) -> StreamingResponse:
            last = request.headers.get("last-event-id") or request.query_params.get("after", "0")
            sent = int(last) if last.isdigit() else 0

            async def stream():  # one "data:" message per new row; a comment keeps it open
                nonlocal sent
                beat = 0
                while not await request.is_disconnected():
                    with self._lock:
                        new = self.rows[sent:]
                    for row in new:
                        sent += 1
                        yield f"id: {sent}\ndata: {json.dumps(row)}\n\n"
                    beat = 0 if new else beat + 1
                    if beat == 50:
                        beat = 0
                        yield ": alive\n\n"
                    await asyncio.sleep(0.2)

            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

        async def frame(request: Request) -> Response:
            png = await asyncio.to_thread(self._png)
            if png is None:
                return Response("no frame yet", status_code=404)
            return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

        routes = [Route("/", page), Route("/rows", rows), Route("/events", events),
                  Route("/frame.png", frame)]  # fmt: skip
        return Starlette(routes=routes)

    def start(self) -> str:
        """Serve in a background thread; returns the page's URL (with the port chosen when 0)."""
        import uvicorn

        config = uvicorn.Config(self.app(), host=self.host, port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="live-page", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError(f"the live page could not listen on {self.host}:{self.port}")
            self._thread.join(0.05)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://{self.host}:{self.port}/"

    def stop(self) -> None:
        """Stop serving (open pages lose their connection)."""
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(5)  # type: ignore[union-attr]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hrtem watch: {{title}}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.2em; color: #222; }
.stats b { font-size: 1.3em; margin-right: 1.2em; }
.panels { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
img { width: 512px; max-width: 90vw; background: #eee; image-rendering: pixelated; }
svg text { font-size: 11px; } #errors { color: #a00; }
</style></head><body>
<h1>hrtem watch: {{title}}</h1>
<p class="stats">frames <b id="frames">0</b> selected (on a zone axis) <b id="selected">0</b>
failed <b id="failed">0</b> diffusion events <b id="events">0</b></p>
<div class="panels">
<figure><img id="frame" alt="latest frame"><figcaption id="latest">waiting for the first
frame</figcaption></figure>
<svg id="chart" width="560" height="320" role="img" aria-label="against time"></svg>
</div>
<h2>Errors</h2><ul id="errors"></ul>
<script>
const rows = [];
const series = [["particles", "#1f77b4"], ["columns", "#2ca02c"], ["cumulative events", "#d62728"]];
function line(points, w, h, xmax, ymax, colour) {
  const p = points.map(([x, y]) => [40 + x / xmax * (w - 60), h - 30 - y / ymax * (h - 50)]);
  const dots = p.map(([x, y]) => `<circle cx="${x}" cy="${y}" r="2" fill="${colour}"/>`);
  return `<polyline fill="none" stroke="${colour}" stroke-width="1.5" ` +
    `points="${p.map(q => q.join(",")).join(" ")}"/>` + dots.join("");
}
function chart() {
  const svg = document.getElementById("chart"), w = 560, h = 320;
  let total = 0;
  const ok = rows.filter(r => r.status !== "failed");
  const data = {particles: [], columns: [], "cumulative events": []};
  for (const r of ok) {
    if (r.particles !== null) data.particles.push([r.time, r.particles]);
    if (r.columns !== null) data.columns.push([r.time, r.columns]);
    total += r.events || 0; data["cumulative events"].push([r.time, total]);
  }
  const xmax = Math.max(1e-9, ...ok.map(r => r.time));
  const ymax = Math.max(1, ...Object.values(data).flat().map(p => p[1]));
  let out = `<line x1="40" y1="${h - 30}" x2="${w - 20}" y2="${h - 30}" stroke="#888"/>` +
    `<line x1="40" y1="20" x2="40" y2="${h - 30}" stroke="#888"/>` +
    `<text x="${w - 20}" y="${h - 12}" text-anchor="end">time [s] (0 - ${xmax.toFixed(1)})</text>` +
    `<text x="36" y="24" text-anchor="end">${ymax}</text>`;
  series.forEach(([name, colour], i) => {
    out += line(data[name], w, h, xmax, ymax, colour) +
      `<text x="${50 + i * 130}" y="14" fill="${colour}">${name}</text>`;
  });
  svg.innerHTML = out;
}
function add(r) {
  rows.push(r);
  const failed = rows.filter(x => x.status === "failed");
  document.getElementById("frames").textContent = rows.length;
  document.getElementById("selected").textContent = rows.filter(x => x.interpretable).length;
  document.getElementById("failed").textContent = failed.length;
  document.getElementById("events").textContent = rows.reduce((s, x) => s + (x.events || 0), 0);
  if (r.status === "failed") {
    const li = document.createElement("li"); li.textContent = `frame ${r.frame}: ${r.error}`;
    document.getElementById("errors").prepend(li);
  } else {
    document.getElementById("frame").src = `frame.png?frame=${r.frame}`;
    document.getElementById("latest").textContent = `frame ${r.frame}: ${r.source}, ` +
      `${r.particles} particle(s), zone ${r.zone ?? "-"}` +
      (r.columns !== null ? `, ${r.columns} columns, ${r.events} events` : "");
  }
}
fetch("rows").then(r => r.json()).then(d => {
  d.rows.forEach(add); chart();
  const source = new EventSource(`events?after=${rows.length}`);
  source.onmessage = e => { add(JSON.parse(e.data)); chart(); };
});
</script></body></html>
"""
