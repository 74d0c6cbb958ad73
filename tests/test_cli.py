"""The `gauss` entry point as a user runs it (a real subprocess of the installed script)."""

import shutil
import subprocess

import pandas as pd


def run(*args, **kw):
    exe = shutil.which("gauss")
    assert exe, "the gauss entry point is not on PATH (scripts/test puts .venv/bin there)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300, **kw)


def test_help_explains_each_verb():
    top = run("--help")
    assert top.returncode == 0
    assert "corpus" in top.stdout
    sub = run("corpus", "--help")
    assert "build" in sub.stdout and "info" in sub.stdout
    assert "donor-first" in run("corpus", "build", "--help").stdout


def test_corpus_build_then_skip_then_info(qm9_head, tmp_path):
    out = tmp_path / "lig.parquet"
    first = run("corpus", "build", "--source", str(qm9_head), "--out", str(out), "--workers", "1")
    assert first.returncode == 0, first.stderr
    assert "wrote" in first.stdout
    assert len(pd.read_parquet(out)) > 0
    again = run("corpus", "build", "--source", str(qm9_head), "--out", str(out))
    assert "up to date" in again.stdout
    info = run("corpus", "info", str(out))
    assert info.returncode == 0 and '"rows"' in info.stdout


def test_corpus_build_bad_source_is_a_clear_error(tmp_path):
    res = run(
        "corpus",
        "build",
        "--source",
        str(tmp_path / "missing.csv"),
        "--out",
        str(tmp_path / "x.parquet"),
    )
    assert res.returncode == 2
    assert "missing.csv" in res.stderr and "Traceback" not in res.stderr
