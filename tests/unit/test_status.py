"""status: every status word, and the redaction marks, spelled in exactly one module."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from nbrunner.status import PAPERMILL, Status

PACKAGE = Path(__file__).resolve().parents[2] / "nbrunner"
# the same words in other vocabularies: the Jupyter protocol's reply status, papermill's cell status, a Spark Connect
# server's operation states, the running application's value of a Spark setting (%%spark)
ELSEWHERE = {("execute.py", "ok"), ("channels.py", "ok"), ("record.py", "failed"), ("hooks.py", "running"),
             ("cells.py", "running")}  # fmt: skip


def constants(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)}  # fmt: skip


def test_status_words_are_spelled_only_in_status_py() -> None:
    # "error" and "timeout" are also ordinary keys (a record's storage error, the --timeout option): not checked
    words = {status.value for status in Status} - {"error", "timeout"}
    found = {(path.name, word) for path in PACKAGE.rglob("*.py") if path.name != "status.py"
             for word in constants(path) & words}  # fmt: skip
    assert found - ELSEWHERE == set()


def test_the_redaction_marks_are_spelled_only_in_secret_values() -> None:
    found = {path.name for path in PACKAGE.rglob("*.py") if {"[REDACTED]", "[secret]"} & constants(path)}
    assert found == {"secret_values.py"}


def test_a_status_is_its_text_for_json_dicts_and_formatting() -> None:
    assert json.dumps({"s": Status.KERNEL_DIED}) == '{"s": "kernel-died"}'
    assert {Status.OK: 1}.get("ok") == 1 and f"{Status.NOT_RUN}" == "not-run"
    assert PAPERMILL.get("kept") == "completed" and PAPERMILL.get("failed") is None
