"""The HTTP API: equal to the library, 400 + one-line JSON for bad input, correct under concurrency."""

import asyncio
import io
import json
import random
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

from sahit.explore.model import Explorer
from sahit.explore.params import Query
from sahit.metrics.extractor import to_uint8
from sahit.viz.attention_figure import attention_figure

aiohttp = pytest.importorskip("aiohttp")
from yarl import URL

from sahit.explore.server import BackgroundServer


@pytest.fixture(scope="module")
def server(explorer):
    with BackgroundServer(explorer) as url:
        yield url


def fetch_all(base: str, paths: list[str], concurrency: int = 50) -> list[tuple[int, str, bytes]]:
    """GET every path (sent exactly as written: no re-encoding), ``concurrency`` at a time."""
    async def main():
        async with aiohttp.ClientSession() as session:
            async def one(path):
                async with session.get(URL(base.rstrip("/") + path, encoded=True)) as response:
                    return response.status, response.content_type, await response.read()

            results = []
            for start in range(0, len(paths), concurrency):
                results += await asyncio.gather(*(one(p) for p in paths[start:start + concurrency]))
            return results

    return asyncio.run(main())


def png(body: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG" and image.mode == "RGB"
    return np.asarray(image)


def reference_uint8(G, cls, seed, truncation):
    return to_uint8(G.sample(1, classes=cls, seed=seed, truncation=truncation))[0].permute(1, 2, 0).numpy()


def test_info(server):
    ((status, kind, body),) = fetch_all(server, ["/api/info"])
    info = json.loads(body)
    assert status == 200 and kind == "application/json"
    assert {"family", "resolution", "num_classes", "class_names", "attention_layers"} <= set(info)
    assert info["attention_layers"] == ["attention.1", "D.attention.0"] and len(info["class_names"]) == 10


def test_sample_png_is_G_sample(server, sagan_nets):
    G, _ = sagan_nets
    cases = [(0, 0, None), (5, 77, 0.5), (9, 2**31 - 1, 4.0)]
    paths = [f"/api/sample.png?cls={c}&seed={s}" + ("" if t is None else f"&truncation={t}") for c, s, t in cases]
    for (status, kind, body), (c, s, t) in zip(fetch_all(server, paths), cases):
        assert status == 200 and kind == "image/png"
        np.testing.assert_array_equal(png(body), reference_uint8(G, c, s, t))


def test_attention_is_sahit_attentions(server, explorer, sagan_nets):
    G, D = sagan_nets
    for layer, name in enumerate(["attention.1", "D.attention.0"]):
        query = f"cls=4&seed=11&layer={layer}&x=21&y=3"
        (status, _, body), (status_png, kind, picture) = fetch_all(
            server, [f"/api/attention.json?{query}", f"/api/attention.png?{query}"])
        assert status == status_png == 200 and kind == "image/png"
        (panel,) = attention_figure(G, n=1, classes=4, seed=11, layers=[name], points=[(21, 3)], D=D).panels
        got = json.loads(body)
        assert got["layer"]["name"] == name and got["point"] == list(panel.points[0])
        np.testing.assert_array_equal(np.array(got["maps"]["map"]), panel.maps[0])
        np.testing.assert_array_equal(png(picture), explorer.overlay(Query(4, 11, None), layer, 21, 3))


def test_knockout_and_interpolation(server, explorer):
    paths = ["/api/sample.png?cls=2&seed=3&off=0", "/api/interpolate.png?cls=2&seed=3&t=0&to_cls=7",
             "/api/interpolate.png?cls=2&seed=3&t=1&to_cls=7&off=0"]
    (s1, _, off), (s2, _, start), (s3, _, end) = fetch_all(server, paths)
    assert s1 == s2 == s3 == 200
    np.testing.assert_array_equal(png(off), explorer.sample_uint8(Query(2, 3, None, (0,))))
    np.testing.assert_array_equal(png(start), explorer.sample_uint8(Query(2, 3, None)))
    np.testing.assert_array_equal(png(end), explorer.sample_uint8(Query(7, 3, None, (0,))))


def test_concurrent_requests_get_correct_answers(explorer):
    fresh = Explorer(explorer.G, explorer.D, source="fresh")  # an empty cache: the burst runs the model
    cases = [(k % 10, 1000 + k, None if k % 2 else 0.75, "&off=0" if k % 3 == 0 else "") for k in range(40)]
    with BackgroundServer(fresh) as url:
        results = fetch_all(url, [f"/api/sample.png?cls={c}&seed={s}{'' if t is None else f'&truncation={t}'}{o}"
                                  for c, s, t, o in cases], concurrency=40)
    for (status, _, body), (c, s, t, o) in zip(results, cases):
        assert status == 200
        np.testing.assert_array_equal(png(body), explorer.sample_uint8(Query(c, s, t, (0,) if o else ())))


HOSTILE_VALUES = ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f", "..\\..\\", "/etc/passwd", "-1", "1.5",
                  "1e9", "abc", "", "%20", "%00", "1%00", "0x10", "NaN", "inf", "-inf", "99999999999999999999",
                  str(2**31), str(10**100), "1,2", "[1]", "{}", "<script>alert(1)</script>", "%0d%0aX:%20y", "%ff%fe",
                  "%E2%80%AE", "true", "null", "1;2", "'", "%22", "5" * 70, "%u0031", "+1", "1+", "0.0", "4.5", "-0"]
ENDPOINTS = {
    "/api/sample.png": {"cls": "1", "seed": "2"},
    "/api/attention.png": {"cls": "1", "seed": "2", "layer": "0", "x": "3", "y": "4"},
    "/api/attention.json": {"cls": "1", "seed": "2", "layer": "1", "x": "3", "y": "4"},
    "/api/interpolate.png": {"cls": "1", "seed": "2", "t": "0.5", "to_seed": "3"},
}


def hostile_paths(n: int) -> list[str]:
    """``n`` malformed requests: every parameter of every endpoint replaced by hostile values, out-of-range
    numbers, missing, repeated and unknown parameters, over-long query strings."""
    rng = random.Random(0)
    paths = []
    for endpoint, good in ENDPOINTS.items():
        for name in good:
            for value in HOSTILE_VALUES:
                if name == "t" and value == "0.0":  # a valid t
                    continue
                query = {**good, name: value}
                paths.append(endpoint + "?" + "&".join(f"{k}={v}" for k, v in query.items()))
            paths.append(endpoint + "?" + "&".join(f"{k}={v}" for k, v in good.items() if k != name))  # missing
        query = "&".join(f"{k}={v}" for k, v in good.items())
        paths += [f"{endpoint}?{query}&truncation={v}" for v in ("0", "0.0", "4.0001", "5", "-1", "1e-3", "abc")]
        paths += [f"{endpoint}?{query}&off={v}" for v in ("1", "0,0", "9", "../0", "0;1", "0,,1", "-0")]
        paths += [f"{endpoint}?{query}&seed=5", f"{endpoint}?{query}&bogus=1", f"{endpoint}?{query}&{query}"]
    out_of_range = {"cls": "10", "seed": "2147483648", "layer": "2", "x": "32", "y": "32", "t": "1.01",
                    "to_seed": "2147483648"}
    while len(paths) < n - 20:
        endpoint, good = rng.choice(list(ENDPOINTS.items()))
        name = rng.choice(list(good))
        value = rng.choice([out_of_range.get(name, "-5"), quote(rng.choice(HOSTILE_VALUES), safe=""),
                            str(rng.randint(2**31, 2**63)), "../" * rng.randint(1, 50)])
        if name == "t" and value == "0.0":  # a valid t
            continue
        paths.append(endpoint + "?" + "&".join(f"{k}={value if k == name else v}" for k, v in good.items()))
    for size in (600, 2_000, 10_000, 60_000):  # very long query strings (the URL parser takes up to 64 KiB)
        paths += [f"/api/sample.png?cls=1&seed={'9' * size}", f"/api/info?{'a=1&' * (size // 4)}",
                  f"/api/attention.png?cls=1&seed=2&layer=0&x=3&y={'../' * (size // 3)}"]
    paths += [f"/api/info?p{i}=1" for i in range(n - len(paths))]  # /api/info takes no parameters
    return paths[:n]


def test_a_thousand_hostile_requests_get_400_and_the_server_still_answers(server, sagan_nets):
    paths = hostile_paths(1000)
    assert len(paths) == 1000 and len(set(paths)) > 900
    results = fetch_all(server, paths, concurrency=100)  # bursts of 100 at once
    for path, (status, kind, body) in zip(paths, results):
        assert status == 400, (path[:120], status, body[:200])
        assert kind == "application/json", path[:120]
        text = body.decode()
        assert "\n" not in text and "Traceback" not in text and len(text) < 400, text
        assert set(json.loads(text)) == {"error"}
    G, _ = sagan_nets
    ((status, _, body),) = fetch_all(server, ["/api/sample.png?cls=6&seed=42&truncation=1.25"])
    assert status == 200
    np.testing.assert_array_equal(png(body), reference_uint8(G, 6, 42, 1.25))


def test_nothing_is_served_by_path_and_other_methods_are_refused(server):
    paths = ["/static/../../etc/passwd", "/static/..%2F..%2Fetc%2Fpasswd", "/static/%2e%2e/%2e%2e/etc/passwd",
             "/../../etc/passwd", "/static/", "/static/explore.py", "/api", "/api/sample", "/etc/passwd"]
    for path, (status, kind, body) in zip(paths, fetch_all(server, paths)):
        assert status == 404 and kind == "application/json" and b"root:" not in body, path
    ((status, kind, body),) = fetch_all(server, ["/static/explore.js"])
    assert status == 200 and b"sahit explore" in body

    async def post():
        async with aiohttp.ClientSession() as session, session.post(server + "api/info", data=b"x") as response:
            return response.status, response.content_type

    assert asyncio.run(post()) == (405, "application/json")


def test_host_header_must_be_loopback(server):
    async def get(host):
        async with aiohttp.ClientSession() as session, \
                session.get(server + "api/info", headers={"Host": host}) as response:
            return response.status

    assert asyncio.run(get("evil.example:80")) == 400  # a DNS-rebinding page cannot read the explorer
    assert asyncio.run(get("localhost")) == 200


def test_hit_layers_over_http(hit_explorer):
    with BackgroundServer(hit_explorer) as url:
        layers = hit_explorer.layers
        paths = [f"/api/attention.{ext}?cls=2&seed=5&layer={layer.index}&x=13&y=21"
                 for layer in layers for ext in ("json", "png")]
        paths.append(f"/api/sample.png?cls=2&seed=5&off={','.join(str(layer.index) for layer in layers)}")
        results = fetch_all(url, paths)
    assert all(status == 200 for status, _, _ in results)
    for i, layer in enumerate(layers):
        (_, _, body), (_, _, picture) = results[2 * i], results[2 * i + 1]
        expected = hit_explorer.query_maps(Query(2, 5, None), layer.index, 13, 21)
        got = json.loads(body)["maps"]
        assert list(got) == list(layer.parts)  # regional and dilated, or cross
        for part, array in expected.maps.items():
            np.testing.assert_array_equal(np.array(got[part]), array)
        assert png(picture).shape[1] == len(layer.parts) * 256 + (len(layer.parts) - 1) * 4
    everything_off = Query(2, 5, None, tuple(layer.index for layer in layers))
    np.testing.assert_array_equal(png(results[-1][2]), hit_explorer.sample_uint8(everything_off))
