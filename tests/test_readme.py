"""The README documents every command, every option of `run` and every exit code, as built."""

from __future__ import annotations

import re
from pathlib import Path

import nbrunner
from nbrunner.cli import cli
from nbrunner.errors import EXIT_CODE_HELP, ExitCode

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_exit_code_is_in_the_readme_table() -> None:
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", README, re.MULTILINE))
    assert sorted(int(code) for code in rows) == sorted(int(code) for code in ExitCode)
    assert set(EXIT_CODE_HELP) == set(ExitCode)


def test_every_command_and_run_option_is_documented() -> None:
    for name in cli.commands:
        assert f"nbrunner {name}" in README, name
    run = cli.commands["run"]
    for param in run.params:
        for flag in [*param.opts, *param.secondary_opts]:
            if flag.startswith("--"):
                assert f"`{flag}" in README or f" {flag}" in README, flag


def test_the_two_quick_start_commands_are_the_scripts_ci_runs() -> None:
    assert "\nbash dev/example.sh\n" in README and "\nbash dev/test.sh\n" in README
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "dev/test.sh" in ci


def test_every_module_is_in_the_readme_layout_with_its_job() -> None:
    package = Path(nbrunner.__file__).parent
    modules = {str(p.relative_to(package)) for p in package.rglob("*.py") if p.name != "__init__.py"}
    listed = set(re.findall(r"^\| `([\w/]+\.py)` \| .+ \|$", README, re.MULTILINE)) - {"__init__.py"}
    assert listed == modules
