"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe).

One launch per page gives everything a test needs: the DOM after load (what --dump-dom
prints), a 1280x800 screenshot and its pixel statistics, every console error and
uncaught exception, and where an element sits. No driver, no websocket, no network:
the protocol's JSON messages go over file descriptors 3 (to Chromium) and 4 (back),
each ended by a NUL byte.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WIDTH, HEIGHT = 1280, 800
LOAD_TIMEOUT_S = 30.0

#: Runs in the page: load the screenshot into a canvas and count what is not background.
_PIXELS_JS = """
new Promise(function (resolve) {
  var img = new Image();
  img.onload = function () {
    var c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
    var ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
    var d = ctx.getImageData(0, 0, c.width, c.height).data, bg = [d[0], d[1], d[2]];
    var other = 0, colors = new Set();
    for (var i = 0; i < d.length; i += 16) {
      if (Math.abs(d[i] - bg[0]) + Math.abs(d[i + 1] - bg[1]) + Math.abs(d[i + 2] - bg[2]) > 30)
        other++;
      colors.add((d[i] >> 4) * 256 + (d[i + 1] >> 4) * 16 + (d[i + 2] >> 4));
    }
    resolve({width: img.width, height: img.height, non_background: other / (d.length / 16),
             colors: colors.size});
  };
  img.src = 'data:image/png;base64,' + SHOT;
})
"""

#: Runs in the page: the verdict's box and every chart's declared and drawn series.
_LAYOUT_JS = """
(function () {
  var v = document.getElementById('verdict'), r = v ? v.getBoundingClientRect() : null;
  var charts = Array.from(document.querySelectorAll('figure.chart')).map(function (f) {
    return {kind: f.dataset.kind, declared: +f.dataset.series,
            drawn: f.querySelectorAll('g.series').length,
            title: (f.querySelector('svg > title') || {}).textContent || ''};
  });
  return {verdict: r && {top: r.top, bottom: r.bottom, height: r.height,
                         text: v.textContent, cls: v.className},
          charts: charts, html: document.documentElement.outerHTML,
          scrollHeight: document.documentElement.scrollHeight};
})()
"""


@dataclass
class PageReport:
    """What one page load showed."""

    layout: dict[str, Any]
    pixels: dict[str, Any]
    screenshot_png: bytes
    errors: list[str] = field(default_factory=list)


class _Pipe:
    def __init__(self, proc: subprocess.Popen[bytes], to_browser: int, from_browser: int) -> None:
        self.proc, self._out, self._in = proc, to_browser, from_browser
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = LOAD_TIMEOUT_S,
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = LOAD_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe (exit {self.proc.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


def chromium_path() -> str:
    path = shutil.which("chromium")
    assert path, (
        "chromium is not installed: the README's test command installs it "
        "(command -v chromium || apt-get install chromium)"
    )
    return path


def _launch(profile: str) -> _Pipe:
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()

    def wire() -> None:  # in the child: its fd 3 reads commands, fd 4 writes replies
        commands, replies = os.dup(to_r), os.dup(from_w)  # safe if either already is 3 or 4
        os.dup2(commands, 3)
        os.dup2(replies, 4)

    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--remote-debugging-pipe",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--hide-scrollbars",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    proc = subprocess.Popen(
        [chromium_path(), *args],
        preexec_fn=wire,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(3, 4),
    )  # kept open: set up by wire() before the close
    os.close(to_r)
    os.close(from_w)
    return _Pipe(proc, to_w, from_r)


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(json.dumps(params.get("args", []))[:500])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", "")[:500])
    return errors


def inspect_page(path: Path) -> PageReport:
    """Load ``path`` in one headless Chromium at 1280x800 and report what it showed."""
    with tempfile.TemporaryDirectory(prefix="agentperf-chromium-") as profile:
        pipe = _launch(profile)
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Page", "Runtime", "Log"):
                pipe.call(f"{domain}.enable", session=session)
            pipe.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            pipe.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
            pipe.wait_event("Page.loadEventFired")
            layout = _evaluate(pipe, session, _LAYOUT_JS)
            shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)
            pixels = _evaluate(pipe, session, _PIXELS_JS.replace("SHOT", json.dumps(shot["data"])))
            errors = _console_errors(pipe.events)
            pipe.call("Browser.close")
        finally:
            _stop(pipe.proc)
    import base64

    return PageReport(layout, pixels, base64.b64decode(shot["data"]), errors)


def _evaluate(pipe: _Pipe, session: str, expression: str) -> Any:
    result = pipe.call(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True, "awaitPromise": True},
        session=session,
    )
    if "exceptionDetails" in result:
        raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
    return result["result"]["value"]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
