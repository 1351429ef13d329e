"""The FID Inception: where its weights file is looked for, clear errors, and the pipeline on random weights."""

import hashlib
import urllib.request

import pytest
import torch

from sahit.metrics import load_extractor, load_inception, resolve_inception_weights
from sahit.metrics.inception import ENV_VAR, WEIGHTS_FILENAMES, WEIGHTS_URL

FIDELITY_NAME, PYTORCH_FID_NAME = WEIGHTS_FILENAMES


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub folder, no env var, and any network access made to fail the test."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(ENV_VAR, raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("a network call was made")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    return checkpoints


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"dummy")
    return path


def test_resolution_order(hub, tmp_path, monkeypatch):
    pytorch_fid = touch(hub / PYTORCH_FID_NAME)
    assert resolve_inception_weights() == pytorch_fid
    fidelity = touch(hub / FIDELITY_NAME)
    assert resolve_inception_weights() == fidelity  # torch-fidelity's name is tried first
    from_env = touch(tmp_path / "env" / "inception.pth")
    monkeypatch.setenv(ENV_VAR, str(from_env))
    assert resolve_inception_weights() == from_env  # the env var beats the hub folder
    explicit = touch(tmp_path / "explicit.pth")
    assert resolve_inception_weights(explicit) == explicit  # an explicit path beats everything


def test_named_but_missing_files_are_errors_not_fallbacks(hub, tmp_path, monkeypatch):
    touch(hub / FIDELITY_NAME)
    with pytest.raises(FileNotFoundError, match="given explicitly"):
        resolve_inception_weights(tmp_path / "nope.pth")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope.pth"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        resolve_inception_weights()


def test_missing_file_message_says_where_and_from_where(hub):
    with pytest.raises(FileNotFoundError) as info:
        load_extractor("inception")  # allow_download defaults to False: never a network call
    message = str(info.value)
    assert "\n" not in message  # the CLI prints the first line only
    assert str(hub / FIDELITY_NAME) in message and str(hub / PYTORCH_FID_NAME) in message
    assert WEIGHTS_URL in message and ENV_VAR in message


def test_download_only_when_allowed(hub, monkeypatch):
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        touch(__import__("pathlib").Path(dst))

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    path = resolve_inception_weights(allow_download=True)
    assert path == hub / FIDELITY_NAME and path.is_file()
    assert calls == [(WEIGHTS_URL, "6726825d")]


def test_random_weights_pipeline_uint8_and_float(random_inception):
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)  # batch 4 throughout: oneDNN reuses its kernels
    features, logits = random_inception(images)
    assert features.shape == (4, 2048) and logits.shape == (4, 1008)
    assert features.dtype == torch.float32 and torch.isfinite(features).all()
    assert features.std(0).mean() > 0  # different images give different features
    as_float = images.float() / 127.5 - 1  # the same images in [-1, 1] quantize back exactly
    f2, l2 = random_inception(as_float)
    torch.testing.assert_close(f2, features)
    torch.testing.assert_close(l2, logits)
    assert random_inception.weights_hash == "random-seed0"
    assert random_inception.metadata()["extractor"] == "inception-v3-tf"


def test_rejects_bad_input(random_inception):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        random_inception(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="uint8 or float"):
        random_inception(torch.zeros(2, 3, 8, 8, dtype=torch.int32))


def test_loads_a_weights_file_with_weights_only(random_inception, hub, tmp_path):
    path = tmp_path / "inception.pth"
    torch.save(random_inception.network.state_dict(), path)
    with pytest.warns(UserWarning, match="not the published FID Inception file"):
        loaded = load_inception(path)
    assert loaded.weights_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    torch.testing.assert_close(loaded(images)[0], random_inception(images)[0])


def test_wrong_or_unsafe_files_are_refused(hub, tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(ValueError, match="does not hold the FID Inception v3 weights"):
        load_inception(wrong)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"x": object()}, unsafe)  # needs full unpickling: weights_only refuses it
    with pytest.raises(ValueError, match="could not read"):
        load_inception(unsafe)
