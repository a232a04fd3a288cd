"""The guide (README.md, the front page, and the MkDocs site in docs/) documents every command, every option of `run`,
every exit code and every module, as built; the front page keeps the two set-up commands CI runs, its links lead to
pages that exist, and its example runs as written."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click

import nbrunner
from nbrunner.cli import cli
from nbrunner.errors import EXIT_CODE_HELP, ExitCode

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()


def page(name: str) -> str:
    return (DOCS / name).read_text()


def test_every_exit_code_is_in_the_exit_codes_page() -> None:
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", page("exit-codes.md"), re.MULTILINE))
    assert sorted(int(code) for code in rows) == sorted(int(code) for code in ExitCode)
    assert set(EXIT_CODE_HELP) == set(ExitCode)


def test_every_command_and_run_option_is_documented() -> None:
    running = page("running.md")
    for name in cli.commands:
        assert f"\nnbrunner {name} " in running, name  # the commands block of the running page
        assert f"\nnbrunner {name} " in README, name  # and of the front page
    # every flag of `run`, long and short, named in the first column of the options table
    flags = " ".join(re.findall(r"^\| (.+?) \| .+ \|$", running, re.MULTILINE))
    options = [param for param in cli.commands["run"].params if isinstance(param, click.Option)]
    assert len(options) > 30
    for param in options:
        for flag in [*param.opts, *param.secondary_opts]:
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", flags), flag


def test_the_two_quick_start_commands_are_the_scripts_ci_runs() -> None:
    for text in (README, page("quickstart.md")):
        assert "\nbash dev/example.sh\n" in text and "\nbash dev/test.sh\n" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "dev/test.sh" in ci


def test_every_module_is_in_the_layout_page_with_its_job() -> None:
    import ast

    package = Path(nbrunner.__file__).parent

    def has_code(path: Path) -> bool:  # a folder's __init__.py that is more than its docstring has a job too
        body = ast.parse(path.read_text(encoding="utf-8")).body
        return path.name != "__init__.py" or any(not isinstance(node, ast.Expr) for node in body)

    modules = {str(p.relative_to(package)) for p in package.rglob("*.py") if has_code(p)}
    listed = set(re.findall(r"^\| `([\w/]+\.py)` \| .+ \|$", page("layout.md"), re.MULTILINE))
    assert listed == modules


def test_the_readme_is_a_front_page_whose_links_lead_somewhere() -> None:
    assert len(README.encode()) <= 10 * 1024, "README.md is the front page: the manual goes to docs/"
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if "://" not in link]
    assert any(link.startswith("docs/") for link in local)
    for link in local:
        assert (ROOT / link).exists(), link
    nav = (ROOT / "mkdocs.yml").read_text()
    for link in local:
        if link.startswith("docs/") and link.endswith(".md"):
            assert f" {link.removeprefix('docs/')}" in nav, f"{link} is not in mkdocs.yml's nav"


def test_the_readmes_example_runs_as_written(tmp_path: Path) -> None:
    """The front page's parameters cell, in a notebook of that name, and its command lines run by a shell in a fresh
    folder: exit 0, the record on stdout, the three files where it says."""
    import nbformat

    cell = next(block for block in README.split("```python\n")[1:] if "# the day to report" in block).split("```")[0]
    lines = next(block for block in README.split("```\n")[1:] if "nbrunner inspect daily_report.ipynb" in block)
    commands = [line.split("  #")[0].strip() for line in lines.split("```")[0].splitlines()]
    assert commands[0].startswith("nbrunner inspect") and commands[1].startswith("nbrunner run")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(cell, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import nbrunner\nnbrunner.output('rows', rows)")]  # fmt: skip
    nbformat.write(nb, tmp_path / "daily_report.ipynb")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("NBRUNNER_OUTPUT", None)
    inspect = subprocess.run(shlex.split(commands[0]), cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    assert inspect.returncode == 0 and "rows" in inspect.stdout and "int" in inspect.stdout, inspect.stderr
    done = subprocess.run(["bash", "-c", commands[1]], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[-1])
    assert record["status"] == "succeeded" and record["outputs"] == {"rows": 500}
    for suffix in (".ipynb", ".html", ".run.json"):
        assert (tmp_path / "runs" / f"daily_report-2026-11-21{suffix}").exists(), suffix
