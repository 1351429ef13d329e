"""``sahit explore`` on the command line: the URL printed, a warning off loopback, one-line errors."""

import pytest

from sahit.cli import main
from sahit.export import save_generator


@pytest.fixture(scope="module")
def export(sagan_nets, tmp_path_factory):
    return save_generator(tmp_path_factory.mktemp("explore") / "export", sagan_nets[0])


@pytest.fixture
def served(monkeypatch):
    """Replaces the blocking server: records what it was asked and says it is ready on port 8123."""
    from sahit.explore import server

    calls = []

    def fake_serve(explorer, host, port, on_ready=None):
        calls.append((explorer, host, port))
        on_ready(f"http://{host}:8123/")

    monkeypatch.setattr(server, "serve", fake_serve)
    return calls


def test_prints_the_url_and_binds_loopback_by_default(export, served, capsys):
    assert main(["explore", "--run", str(export), "--port", "0"]) == 0
    out, err = capsys.readouterr()
    ((explorer, host, port),) = served
    assert host == "127.0.0.1" and port == 0 and explorer.info()["attention_layers"] == ["attention.1"]
    assert "open http://127.0.0.1:8123/" in out and "attention.1" in out and "warning" not in err


def test_warns_on_another_host(export, served, capsys):
    assert main(["explore", "--run", str(export), "--host", "0.0.0.0"]) == 0
    err = capsys.readouterr().err
    assert served[0][1] == "0.0.0.0" and "warning: serving on 0.0.0.0" in err


@pytest.mark.parametrize("argv, message", [
    (["--port", "70000"], "--port must be within 0..65535"),
    (["--run", "/nonexistent/run"], "does not exist"),
])
def test_one_line_errors(export, served, capsys, argv, message):
    args = ["explore", "--run", str(export), *argv] if argv[0] != "--run" else ["explore", *argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert served == []
