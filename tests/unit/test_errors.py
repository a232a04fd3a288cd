"""errors: every NbrunnerError crosses a process boundary (pickle) with its code, message, fields and record."""

from __future__ import annotations

import inspect
import pickle
import signal

import pytest

from nbrunner import errors
from nbrunner.core.record import RunRecord

CLASSES = [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.NbrunnerError)]


def example(cls: type[errors.NbrunnerError]) -> errors.NbrunnerError:
    if issubclass(cls, errors.Stopped):
        return cls(signal.SIGTERM, cell_index=3)
    if cls is errors.CellFailed:
        return cls("cell 3 failed: KeyError: 'x'", cell_index=3, ename="KeyError", evalue="'x'", sys_exit_code=None)
    if cls is errors.RunTimeout:
        return cls("cell 3 exceeded --cell-timeout 5s", scope="cell", seconds=5.0, cell_index=3)
    return cls("what went wrong", cell_index=3)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_round_trips_through_pickle(cls: type[errors.NbrunnerError]) -> None:
    error = example(cls)
    error.record = RunRecord(
        run_id="r1", input="a.ipynb", input_sha256="0", output="b.ipynb", started="t",
        parameters={"date": "2026-11-20"}, status=error.status, exit_code=int(error.exit_code),
    )  # fmt: skip
    back = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(back) is cls
    assert str(back) == str(error) and back.exit_code == error.exit_code and back.cell_index == 3
    assert back.__dict__ == error.__dict__  # every field, the record included
    assert back.record.as_json() == error.record.as_json()


def test_the_list_covers_every_class() -> None:
    assert len(CLASSES) >= 12 and errors.Terminated in CLASSES and errors.CellFailed in CLASSES
