"""The HTML report: self-contained, valid, and renders in a headless browser."""

import json
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from sahit.cli import main
from sahit.viz.run_files import best_point, metric_points


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.images, self.headings, self.text = [], [], [], []
        self.void = {"img", "meta", "br", "link", "hr", "input"}

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        if tag not in self.void:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "h2":
            self.headings.append(data)
        self.text.append(data)


def parse(path):
    parser = Collector()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.stack == [], f"unclosed tags {parser.stack}"
    return parser


@pytest.fixture(scope="module")
def report(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", "--run", str(tiny_run), "--out", str(out)]) == 0
    return out


def test_report_is_valid_self_contained_html(report):
    page = parse(report)
    assert page.headings == ["Summary", "Training", "Attention over training", "Metrics", "Truncation", "Samples over training", "Attention",
                             "Configuration", "Files"]
    # losses, lr, throughput, G and D gamma and ratio, grid of step 2, final grid, attention
    assert len(page.images) >= 10
    alts = [img["alt"] for img in page.images]
    assert {"G attention gamma per layer", "G attention ratio per layer", "D attention gamma per layer",
            "D attention ratio per layer"} <= set(alts)
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,"), img["src"][:40]
        assert img.get("alt")
    text = " ".join(page.text)
    assert "no metrics yet" in text and "it/s" in text and "log.jsonl" in text
    assert "no truncation curve: the run has no" in text
    assert not any("html.escape" in t for t in page.text)  # captions are formatted, not raw f-string source


def test_metrics_curve_from_files_and_log(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for step, fid in ((1, 90.0), (2, 70.0)):  # the run has 2 steps; metrics.json counts as the last
        payload = {"run": str(run), "step": step, "results": {"fid": {"value": fid}, "is": {"value": 1.0 + step}}}
        (run / f"metrics-{step}.json").write_text(json.dumps(payload))
    (run / "metrics.json").write_text(json.dumps({"results": {"fid": {"value": 80.0}}}))  # final step (2)
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps({"step": 3, "eval/fid": 60.0}) + "\n")
    points = metric_points(run)
    assert [p[:2] for p in points["fid"]] == [(1, 90.0), (2, 70.0), (2, 80.0), (3, 60.0)]
    assert best_point("fid", points["fid"])[:2] == (3, 60.0)
    assert best_point("is", points["is"])[:2] == (2, 3.0)
    out = tmp_path / "r.html"
    assert main(["report", "--run", str(run), "--out", str(out), "--no-attention", "--no-truncation"]) == 0
    text = " ".join(parse(out).text)
    assert "no metrics yet" not in text and "60 at step 3" in text and "no truncation curve: left out" in text


def test_truncation_curve_with_a_domain_extractor(tiny_run, tmp_path, monkeypatch):
    import yaml

    from sahit.data import make_dataset
    from sahit.metrics import fit_domain_extractor, save_domain_extractor

    monkeypatch.setenv("SAHIT_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "eval_n": 48}))  # keep the reference small
    extractor = fit_domain_extractor(make_dataset("builtin", 32, length=64), 10, 32, steps=2, width=8,
                                     progress=False)
    save_domain_extractor(extractor, tmp_path / "ext")
    out = tmp_path / "r.html"
    assert main(["report", "--run", str(run), "--out", str(out), "--no-attention", "--features", str(tmp_path / "ext"),
                 "--truncation", "0.5", "1", "--truncation-n", "24"]) == 0
    page = parse(out)
    text = " ".join(page.text)
    assert "no truncation curve" not in text and "24 samples per point" in text
    assert any(img["alt"] == "FID and IS against truncation" for img in page.images)
    assert "0.5" in page.text and "none" in page.text  # one table row per threshold, and one without truncation


def test_report_without_attention_layers(no_attention_run, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", "--run", str(no_attention_run), "--out", str(out)]) == 0
    text = " ".join(parse(out).text)
    assert "no self-attention layers" in text and "no training log yet" in text


def test_report_renders_in_headless_chromium(report, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not on PATH (Debian: apt-get install chromium); cannot render the report")
    shot = tmp_path / "shot.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
           report.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (2000, 1200)
    assert pixels.var() > 100, f"the screenshot looks blank (pixel variance {pixels.var():.1f})"
