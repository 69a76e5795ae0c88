"""Bad numbers on the command line are one line from argparse, never a traceback (issue 14), and a
labels CSV saved with a UTF-8 byte order mark is read like any other."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftgate.cli.feedback import read_labels_csv
from driftgate.cli.main import main


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "register", "fraud", "m.onnx", "--max-batch-size", "-5"],
        ["models", "register", "fraud", "m.onnx", "--max-batch-size", "99999999999"],
        ["models", "register", "fraud", "m.onnx", "--parent", "-1"],
        ["models", "register", "fraud", "m.onnx", "--score-column", "x"],
        ["models", "batching", "fraud", "--max-batch", "lots"],
        ["models", "retire", "fraud", "0"],
        ["models", "reload", "fraud", "-2"],
        ["traffic", "shadow", "fraud", "2", "--rate", "1.5"],
        ["traffic", "shadow", "fraud", "2", "--rate", "nan"],
        ["events", "--limit", "0"],
        ["drift", "fraud", "--version", "-1"],
        ["accuracy", "fraud", "--version", "-1"],
        ["serve", "--port", "70000"],
        ["gateway", "--workers", "0"],
        ["registry", "--port", "-3"],
        ["bench", "--batch-size", "0"],
        ["demo", "--rate", "-1"],
    ],
)
def test_a_bad_number_is_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--registry", "127.0.0.1:1", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "error: argument" in last and ("must be a whole number" in last or "must be a number" in last), err


def test_bad_batching_numbers_say_what_the_registry_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    # these reach _batching's own checks, which explain the limit (before any registry is dialled)
    for extra, expect in ((["--max-batch", "-5"], "at least 2"),
                          (["--max-batch", "8", "--max-delay-us", "-5"], "0 or more microseconds")):
        assert main(["--registry", "127.0.0.1:1", "models", "batching", "fraud", *extra]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expect in err and "Traceback" not in err


def test_a_csv_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes("id,label,labelled_at\r\nr1,1,1700000000\r\nr2,0,\r\n".encode("utf-8-sig"))
    got = read_labels_csv(path)
    assert (got.ids, got.labels, got.labelled_at) == (["r1", "r2"], [1, 0], [1.7e9, 0.0])
