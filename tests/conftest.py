"""Fixtures shared by the whole suite."""

import pytest
import torch


@pytest.fixture(autouse=True)
def sahit_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own user cache (folder indexes, reference statistics), so the suite never
    writes to ~/.cache/sahit; subprocesses inherit the variable. Tests may point it elsewhere."""
    cache = tmp_path_factory.mktemp("sahit-cache")
    monkeypatch.setenv("SAHIT_CACHE", str(cache))
    monkeypatch.delenv("SAHIT_CACHE_DIR", raising=False)
    return cache


@pytest.fixture
def single_thread():
    """Tiny workloads gain nothing from threads; on a busy CPU OpenMP threads spin-wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def image_folder(tmp_path):
    """Makes tiny image folders: ``image_folder("name", {"class": count, ...})`` (class subfolders) or
    ``image_folder("name", loose=n)`` (unlabelled); every 8x8 PNG is a distinct flat colour."""
    from PIL import Image

    def make(name: str, sizes: dict[str, int] | None = None, loose: int = 0):
        root = tmp_path / name
        root.mkdir(parents=True)
        files = [root / c / f"{i:02d}.png" for c, n in (sizes or {}).items() for i in range(n)]
        files += [root / f"{i:02d}.png" for i in range(loose)]
        for k, path in enumerate(files):
            path.parent.mkdir(exist_ok=True)
            Image.new("RGB", (8, 8), (10 * k % 256, 3 * k % 256, 255 - k)).save(path)
        return root

    return make


def sharp_hit_generator():
    """An untrained 5-class hit-32 G whose attention is far from uniform (so a wrong row would show): query and
    key projections sharpened, batch-norm statistics of real activations (one pass); in eval mode."""
    import sahit
    from sahit.models.hit.multi_axis import CrossAttention, MultiAxisAttention

    G, _ = sahit.build("hit-32", num_classes=5)
    with torch.no_grad():
        for module in G.modules():
            if isinstance(module, (MultiAxisAttention, CrossAttention)):
                module.q.weight.mul_(5)
                module.k.weight.mul_(5)
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.momentum = 1.0
        G.train()(torch.randn(8, G.z_dim, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 5)
    return G.eval()
