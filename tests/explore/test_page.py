"""The page in a real headless Chromium (Debian's ``chromium``), driven over the DevTools protocol.

It loads with no console error; a class change and a pixel click update the images; a knock-out and the
interpolation slider too; the download gives a PNG; a click on a sample enlarges it. Skipped without chromium, as the report's screenshot test.
"""

import asyncio
import base64
import json
import shutil
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

aiohttp = pytest.importorskip("aiohttp")

from sahit.explore.server import BackgroundServer

pytestmark = pytest.mark.slow
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1000"]


class DevTools:
    """The smallest DevTools-protocol client: send a command and wait for its answer; keep every event."""

    def __init__(self, ws):
        self.ws, self.next_id, self.events = ws, 0, []

    async def send(self, method, **params):
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), timeout=60)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def js(self, expression):
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def settle(self, timeout=60):
        """Wait until the page has started and no image is loading."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.js("!!document.body && document.body.dataset.ready === '1' && document.body.dataset.pending === '0'"):
                await asyncio.sleep(0.2)  # a debounced request may start just after
                if await self.js("document.body.dataset.pending === '0'"):
                    return
            await asyncio.sleep(0.1)
        raise AssertionError("the page did not settle")

    def errors(self):
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text"))
        return found


IMAGES = """JSON.stringify([...document.querySelectorAll('#grid img, #enlarged, #overlays img, #interp')].map(
    (img) => ({id: img.id, src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0})))"""
PIXELS = """(() => { const img = document.getElementById('enlarged'); const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight; const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0); return Array.from(ctx.getImageData(0, 0, c.width, c.height).data).join(','); })()"""


async def drive(port, url, screenshot, downloads):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            page = next(t for t in await response.json(content_type=None) if t["type"] == "page")
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            cdp = DevTools(ws)
            for domain in ("Runtime", "Log", "Page"):
                await cdp.send(f"{domain}.enable")
            await cdp.send("Page.navigate", url=url)
            await cdp.settle()
            images = json.loads(await cdp.js(IMAGES))
            assert len(images) == 8 + 1 + 1 and all(i["ok"] for i in images), images  # grid, enlarged, interp
            before = await cdp.js(PIXELS)

            # A class change: every image is asked again for class 3 and shows.
            await cdp.js("(() => { const s = document.getElementById('cls'); s.value = '3';"
                         " s.dispatchEvent(new Event('change')); })()")
            await cdp.settle()
            images = json.loads(await cdp.js(IMAGES))
            assert all("cls=3" in i["src"] and i["ok"] for i in images), images
            assert await cdp.js(PIXELS) != before

            # A real mouse click on the enlarged image: one overlay per attention layer, for that pixel.
            rect = json.loads(await cdp.js("JSON.stringify(document.getElementById('enlarged').getBoundingClientRect())"))
            for kind in ("mousePressed", "mouseReleased"):
                await cdp.send("Input.dispatchMouseEvent", type=kind, x=rect["x"] + 100, y=rect["y"] + 50,
                               button="left", clickCount=1)
            await cdp.settle()
            overlays = [i for i in json.loads(await cdp.js(IMAGES)) if i["id"] == "" and "attention.png" in i["src"]]
            assert len(overlays) == 2 and all(o["ok"] for o in overlays), overlays  # G's layer and D's
            assert all("x=12" in o["src"] and "y=6" in o["src"] for o in overlays)  # 100, 50 of 256 px -> 32 px
            assert "x=12&y=6" in await cdp.js("location.hash")

            # Knock G's attention layer out: the image changes; then the interpolation slider.
            before = await cdp.js(PIXELS)
            await cdp.js("document.querySelector('#knockouts input').click()")
            await cdp.settle()
            assert "off=0" in await cdp.js("document.getElementById('enlarged').src")
            assert await cdp.js(PIXELS) != before
            await cdp.js("(() => { const t = document.getElementById('t'); t.value = '0.25';"
                         " t.dispatchEvent(new Event('input')); })()")
            await cdp.settle()
            assert "t=0.25" in await cdp.js("document.getElementById('interp').src")

            # The download: a PNG of the image and its two overlays, saved by the browser into downloads/.
            await cdp.send("Page.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
            await cdp.js("document.getElementById('download').click()")
            deadline = time.monotonic() + 30
            while not list(downloads.glob("*.png")):
                assert time.monotonic() < deadline, "no download"
                await asyncio.sleep(0.1)
            # A click on the third sample of the grid enlarges it (seed 2).
            await cdp.js("document.querySelectorAll('#grid img')[2].click()")
            await cdp.settle()
            assert "seed=2" in await cdp.js("document.getElementById('enlarged').src")
            assert await cdp.js("document.querySelectorAll('#grid img')[2].classList.contains('selected')")
            shot = await cdp.send("Page.captureScreenshot", format="png")
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            return cdp.errors()


def test_page_in_headless_chromium(explorer, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not on PATH (Debian: apt-get install chromium); cannot drive the page")
    profile = tmp_path / "profile"
    with BackgroundServer(explorer) as url:
        process = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                    "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (port_file.is_file() and port_file.read_text().strip()):
                assert time.monotonic() < deadline and process.poll() is None, "chromium did not start"
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            errors = asyncio.run(drive(port, url, tmp_path / "page.png", tmp_path / "downloads"))
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert errors == [], errors
    (download,) = (tmp_path / "downloads").glob("*.png")
    assert download.name == "sahit-sagan-cls3-seed0-x12-y6.png"
    picture = Image.open(download)
    assert picture.format == "PNG"
    # The enlarged image (256 px) and two overlays (256 px each), 8 px apart, under an 18 px caption line.
    assert picture.size == (3 * 256 + 4 * 8, 256 + 18 + 2 * 8)
    pixels = np.asarray(Image.open(tmp_path / "page.png").convert("L"), dtype=np.float64)
    assert pixels.var() > 100, "the screenshot looks blank"
