"""The explorer answers with the library: images are G.sample's, maps are sahit attention's, knock-outs the
attention-effect module's."""

import shutil
import threading

import numpy as np
import pytest

from sahit.explore.loading import load_explorer
from sahit.explore.model import Explorer
from sahit.explore.params import Query
from sahit.metrics.extractor import to_uint8
from sahit.models.knockout import knocked_out
from sahit.viz.attention_figure import attention_figure


def reference_uint8(G, cls, seed, truncation):
    return to_uint8(G.sample(1, classes=cls, seed=seed, truncation=truncation))[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("cls, seed, truncation", [(0, 0, None), (3, 12345, 1.5), (9, 2**31 - 1, 0.25), (1, 7, 4.0)])
def test_sample_is_exactly_G_sample_as_uint8(explorer, sagan_nets, cls, seed, truncation):
    G, _ = sagan_nets
    got = explorer.sample_uint8(Query(cls, seed, truncation))
    assert got.dtype == np.uint8 and got.shape == (32, 32, 3)
    np.testing.assert_array_equal(got, reference_uint8(G, cls, seed, truncation))


def test_info_lists_classes_and_layers(explorer):
    info = explorer.info()
    assert info["family"] == "sagan" and info["resolution"] == 32 and info["num_classes"] == 10
    assert info["class_names"][3] == "shape-3"
    assert info["attention_layers"] == ["attention.1", "D.attention.0"]
    assert [layer["knockable"] for layer in info["layers"]] == [True, False]  # D's do not change the image
    assert explorer.knockable == [0]


@pytest.mark.parametrize("layer, name", [(0, "attention.1"), (1, "D.attention.0")])
def test_maps_are_sahit_attentions(explorer, sagan_nets, layer, name):
    G, D = sagan_nets
    for x, y in [(0, 0), (5, 9), (31, 30)]:
        got = explorer.query_maps(Query(4, 11, None), layer, x, y)
        figure = attention_figure(G, n=1, classes=4, seed=11, layers=[name], points=[(x, y)], D=D)
        (panel,) = figure.panels
        np.testing.assert_array_equal(got.maps["map"], panel.maps[0])  # the same array, bit for bit
        assert got.point == panel.points[0]
        assert got.maps["map"].shape == (8, 8)  # 16x16 queries, 2x2 max-pooled keys


def test_hit_maps_are_sahit_attentions(hit_explorer):
    G = hit_explorer.G
    kinds = {layer.kind for layer in hit_explorer.layers}
    assert kinds == {"multi_axis", "cross"} and all(layer.knockable for layer in hit_explorer.layers)
    for layer in hit_explorer.layers:
        got = hit_explorer.query_maps(Query(2, 5, None), layer.index, 13, 21)
        (panel,) = attention_figure(G, n=1, classes=2, seed=5, layers=[layer.name], points=[(13, 21)]).panels
        assert list(got.maps) == list(panel.maps) == list(layer.parts)
        for kind, arrays in panel.maps.items():
            np.testing.assert_array_equal(got.maps[kind], arrays[0])
        picture = hit_explorer.overlay(Query(2, 5, None), layer.index, 13, 21)
        scale = 256 // 32
        assert picture.shape == (32 * scale, len(layer.parts) * 32 * scale + (len(layer.parts) - 1) * 4, 3)


def test_overlay_draws_the_map(explorer):
    from matplotlib import colormaps

    query = Query(4, 11, None)
    amap = explorer.query_maps(query, 0, 5, 9).maps["map"]  # (8, 8) keys over the 32x32 image
    image = explorer.sample_uint8(query).astype(np.float64)
    picture = explorer.overlay(query, 0, 5, 9)
    assert picture.shape == (256, 256, 3)  # 32 px enlarged 8x
    inferno = colormaps["inferno"]
    for py, px in [(0, 0), (40, 200), (255, 255), (130, 7), (201, 99)]:  # away from the query's marker at (44, 76)
        ix, iy = px // 8, py // 8  # image pixel
        colour = np.array(inferno(amap[iy // 4, ix // 4] / amap.max())[:3])  # each key covers 4x4 image pixels
        expected = np.round(255 * (0.75 * colour + 0.25 * image[iy, ix].mean() / 255))
        np.testing.assert_array_equal(picture[py, px], expected)


def test_knockout_is_the_attention_effect_modules(explorer, sagan_nets):
    G, _ = sagan_nets
    query = Query(2, 3, None, (0,))
    with knocked_out(G, ["attention.1"]):
        expected = reference_uint8(G, 2, 3, None)
    got = explorer.sample_uint8(query)
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(got, explorer.sample_uint8(Query(2, 3, None)))  # the layer does change the image
    np.testing.assert_array_equal(explorer.sample_uint8(Query(2, 3, None)), reference_uint8(G, 2, 3, None))


def test_interpolation_ends(explorer, sagan_nets):
    G, _ = sagan_nets
    start = Query(1, 4, None)
    np.testing.assert_array_equal(explorer.interpolation(start, 0.0, to_cls=6), reference_uint8(G, 1, 4, None))
    np.testing.assert_array_equal(explorer.interpolation(start, 1.0, to_cls=6), reference_uint8(G, 6, 4, None))
    end = explorer.interpolation(start, 1.0, to_seed=9).astype(int)
    assert np.abs(end - reference_uint8(G, 1, 9, None)).max() <= 1  # slerp's end is z of seed 9 up to rounding
    with pytest.raises(ValueError, match="exactly one"):
        explorer.interpolation(start, 0.5)


def test_concurrent_callers_get_the_serial_answers(explorer):
    queries = [Query(k % 10, k, None if k % 2 else 1.0, (0,) if k % 3 == 0 else ()) for k in range(12)]
    fresh = Explorer(explorer.G, explorer.D, source="fresh")  # an empty cache: every call runs the model
    expected = [explorer.sample_uint8(q) for q in queries]
    results: dict[int, np.ndarray] = {}

    def work(i):
        results[i] = fresh.sample_uint8(queries[i])
        fresh.overlay(queries[i], 0, i, i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, e in enumerate(expected):
        np.testing.assert_array_equal(results[i], e)
    assert explorer.G.get_submodule("attention.1").gamma.item() == 1.0  # every knock-out undone


def test_load_explorer_from_a_run_and_an_export(tiny_run, tmp_path):
    from_run = load_explorer(str(tiny_run))
    assert from_run.D is not None and from_run.info()["attention_layers"] == ["attention.1", "D.attention.0"]
    assert from_run.class_names[:2] == ["disk", "ring"]  # the built-in data's names, from the run's config
    assert load_explorer(str(tiny_run / "export")).D is not None  # a run's export/ is found in its run, as by
    alone = tmp_path / "alone"  # sahit attention; an export folder on its own has no D and no data set
    shutil.copytree(tiny_run / "export", alone)
    from_export = load_explorer(str(alone))
    assert from_export.D is None and from_export.info()["attention_layers"] == ["attention.1"]
    assert from_export.class_names[:2] == ["class 0", "class 1"]
    assert load_explorer(str(tiny_run), discriminator=False).D is None
    with pytest.raises(FileNotFoundError):
        load_explorer(str(tiny_run / "missing"))


def test_an_unconditional_generator():
    import sahit

    G, _ = sahit.build("quickstart", g_width=16, d_width=16, z_dim=16, num_classes=0)
    explorer = Explorer(G.eval())
    info = explorer.info()
    assert info["num_classes"] == 0 and info["class_names"] == [] and info["attention_layers"] == ["attention.1"]
    np.testing.assert_array_equal(explorer.sample_uint8(Query(None, 8, 2.0)), reference_uint8(G, None, 8, 2.0))
    with pytest.raises(ValueError, match="cannot mix classes"):
        explorer.interpolation(Query(None, 8, None), 0.5, to_cls=0)
