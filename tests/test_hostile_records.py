"""Hostile records under a shared prefix, fed to every output of ``nbrunner runs`` (lines, --json, --html): one bad
record never breaks the morning view (it is skipped and counted in one warning line), a record's text never
becomes markup, a link or a terminal control, and the view never writes over what it reads.

The property: for every record of :func:`hostile_records`, the real command exits 0, shows every record that fits
the schema, counts every one that does not, and its page holds no script, no handler and no link that is not http(s)
or relative."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from nbrunner.core.record_schema import started_at
from tests.conftest import invoke

INJECTIONS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)",
              "' onmouseover='alert(1)", "</td></tr></table><script>alert(1)</script>"]  # fmt: skip
LINKS = ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
         "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "file:///etc/passwd",
         "https://evil.example/x.html", "//evil.example/x.html", "\\\\evil.example\\x.html",
         "javascript:alert(1)/x.html"]  # fmt: skip
TERMINAL = ["\x1b[2J\x1b[31mred", "two\nlines", "\u202eevil", "bell\x07", "c1\x9b31m"]


def good(number: int, **fields: Any) -> dict[str, Any]:
    """A record of the documented shape; ``fields`` override."""
    return {"run_id": f"r{number:04d}", "input": f"/nb/nb{number % 3}.ipynb", "output": f"out/{number}.ipynb",
            "html": f"out/{number}.html", "started": f"2026-11-20T23:{number % 60:02d}:00.000Z", "duration_s": 10.0,
            "status": "failed", "exit_code": 4, "message": "cell 1 failed: ValueError: x", "parameters": {"n": number},
            "failed_cell": {"index": 1, "id": "c1", "first_line": "x()"}, **fields}  # fmt: skip


def hostile_records() -> tuple[dict[str, str], dict[str, str]]:
    """(shown, skipped): file name -> text. Every shown one fits the schema but holds hostile text in its fields;
    every skipped one is a case of issue 30 item 2 that used to crash or mislead the view."""
    shown: dict[str, str] = {}
    for number, text in enumerate(INJECTIONS + TERMINAL):
        everywhere = {name: text for name in ("run_id", "input", "output", "html", "record", "status", "message",
                                              "started", "ended", "resumed_from")}  # fmt: skip
        cell = {"index": 1, "id": text, "first_line": text}
        chain = {"id": text, "index": 0, "size": 1}
        shown[f"inject-{number}.run.json"] = json.dumps(
            good(number, **everywhere, parameters={text: text}, failed_cell=cell, chain=chain)
        )
    for number, link in enumerate(LINKS):
        shown[f"link-{number}.run.json"] = json.dumps(good(100 + number, html=link, output=link))
    shown["surrogate.run.json"] = json.dumps(good(200, message="a\ud800b", parameters={"k\udc80": "\udfff"}))
    shown["name with #%? and spaces.run.json"] = json.dumps(good(201, html="out/a b#c%d?e.html"))
    shown["s3.run.json"] = json.dumps(good(202, html="s3://reports/night/a b#c?.html"))
    shown["year-9999.run.json"] = json.dumps(good(203, started="9999-12-31T23:59:59-05:00"))
    shown["no-time.run.json"] = json.dumps(good(204, started="<b>not a time</b>"))
    skipped = {
        "deep.run.json": "[" * 100_000,
        "deep-object.run.json": '{"a":' * 5_000 + "1" + "}" * 5_000,
        "parameters-list.run.json": json.dumps(good(300, parameters=["<script>alert(1)</script>"])),
        "chain-index-text.run.json": json.dumps(good(301, chain={"id": "c", "index": "0", "size": 2})),
        "chain-index-null.run.json": json.dumps(good(302, chain={"id": "c", "index": None, "size": 2})),
        "chain-size-markup.run.json": json.dumps(good(303, chain={"id": "c", "index": 0, "size": "<b>"})),
        "duration-nan.run.json": json.dumps(good(304, duration_s=float("nan"))),
        "duration-text.run.json": json.dumps(good(305, duration_s="<script>alert(1)</script>")),
        "status-object.run.json": json.dumps(good(306, status={"<script>": 1})),
        "list.run.json": "[1, 2, 3]",
        "not-json.run.json": "<script>alert(1)</script>",
        "not-utf8.run.json": "\udcffnot UTF-8",  # written as bytes below
        "newer-schema.run.json": json.dumps(good(307, schema=2)),
        "refused.run.json": json.dumps({"kind": "refused", "schema": 1, "status": "usage-error", "exit_code": 2}),
    }
    return shown, skipped


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode("utf-8", "surrogateescape"))


def unreadable(folder: Path) -> int:
    """Record files that cannot be read: a FIFO (must not block), a dangling symlink, a folder so named (not a
    file: not counted). Returns how many are counted."""
    os.mkfifo(folder / "fifo.run.json")
    (folder / "dangling.run.json").symlink_to(folder / "nowhere")
    (folder / "folder.run.json").mkdir()
    return 2


def without_file_access_override() -> None:
    """In the child, before exec: root loses the capability to read any folder (so a folder of mode 000 cannot
    be read, as for anyone else). Dropped from the bounding set, it is gone from the exec'd program."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def runs(*args: str, stdin_closed: bool = False) -> subprocess.CompletedProcess[str]:
    """The real console command in a child process that cannot read a folder of mode 000, even as root."""
    return subprocess.run(
        [sys.executable, "-m", "nbrunner", "runs", *args], capture_output=True, text=True, errors="replace",
        stdin=subprocess.DEVNULL, timeout=120, check=False,
        preexec_fn=without_file_access_override if os.geteuid() == 0 else None,  # noqa: S603, PLW1509
    )  # fmt: skip


class Markup(HTMLParser):
    """Every tag and attribute of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


def check_page_is_inert(text: str) -> list[str]:
    """No script, no handler, no link but http(s) or relative; returns the hrefs."""
    markup = Markup()
    markup.feed(text)
    assert "script" not in markup.tags and "<script" not in text.lower()
    assert not [name for name, _ in markup.attributes if name.startswith("on")]
    assert set(markup.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "tr",
                                "th", "td", "svg", "g", "rect", "a"}  # fmt: skip
    hrefs = [value for name, value in markup.attributes if name in ("href", "src", "xlink:href", "action")]
    for href in hrefs:
        parts = urlsplit(href)
        assert (parts.scheme in ("http", "https") and parts.netloc) or (not parts.scheme and not parts.netloc), href
        assert not href.startswith(("/", "\\")) and href == href.strip() and "\t" not in href, href
    return hrefs


@pytest.fixture
def prefix(tmp_path: Path) -> Iterator[tuple[Path, int, int]]:
    """A shared prefix with every hostile record, unreadable files and a folder of mode 000 holding a record:
    (folder, records shown, files skipped)."""
    shown, skipped = hostile_records()
    folder = tmp_path / "shared"
    write(folder, shown)
    write(folder / "more", skipped)
    locked = folder / "locked"
    write(locked, {"hidden.run.json": json.dumps(good(400))})
    locked.chmod(0)
    yield folder, len(shown), len(skipped) + unreadable(folder / "more")
    locked.chmod(0o755)


def test_every_hostile_record_is_shown_as_text_or_skipped_and_counted_in_one_line(
    prefix: tuple[Path, int, int], tmp_path: Path
) -> None:
    folder, count, bad = prefix
    lines = runs(str(folder))
    assert lines.returncode == 0, lines.stderr
    warning = f"nbrunner: warning: skipped {bad} of {count + bad} file(s) named *.run.json: "
    assert lines.stderr.startswith(warning) and lines.stderr.count("\n") == 1, lines.stderr
    assert "1 folder(s) not read (first: " in lines.stderr and "locked: Permission denied" in lines.stderr
    assert "<script>" not in lines.stderr and "Traceback" not in lines.stderr
    shown = lines.stdout.split("\n")[:-1]
    assert len(shown) == count + len(INJECTIONS + TERMINAL)  # each injected run is a chain of one: its line and a head
    assert not [line for line in shown if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in line)]
    assert not [line for line in shown if "\u202e" in line]
    assert "\\x1b[2J\\x1b[31mred" in lines.stdout and "two\\nlines" in lines.stdout

    as_json = runs(str(folder), "--json")
    assert as_json.returncode == 0 and as_json.stderr.startswith(warning)
    records = [json.loads(line) for line in as_json.stdout.split("\n")[:-1]]
    assert len(records) == count and all(record["kind"] == "run" for record in records)
    assert not [line for line in as_json.stdout.splitlines() if any(0x7F <= ord(c) <= 0x9F for c in line)]
    known = [started_at(record) is not None for record in records]
    assert records[0]["started"].startswith("9999") and known == sorted(known, reverse=True)  # no known start: last
    assert any(record["message"] == "a\ufffdb" for record in records)

    page = tmp_path / "index.html"
    template = "https://console.example/{bucket}/{key}"
    made = runs(str(folder), "--html", str(page), "--url-template", template)
    assert made.returncode == 0 and made.stderr.startswith(warning), made.stderr
    text = page.read_text(encoding="utf-8")
    hrefs = check_page_is_inert(text)
    assert "https://console.example/reports/night/a%20b%23c%3F.html" in hrefs
    assert any(href.endswith("out/a%20b%23c%25d%3Fe.html") for href in hrefs)
    assert not [href for href in hrefs if urlsplit(href).scheme and not href.startswith("https://console.example/")]
    assert text.count('<tr class="s-') == count and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_since_excludes_a_run_whose_start_is_not_a_time(prefix: tuple[Path, int, int]) -> None:
    folder = prefix[0]
    since = runs(str(folder), "--since", "2000-01-01", "--json")
    assert since.returncode == 0, since.stderr
    started = [json.loads(line)["started"] for line in since.stdout.splitlines()]
    assert "<b>not a time</b>" not in started and "9999-12-31T23:59:59-05:00" in started


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--since", "1000000d"], "--since '1000000d': that is before year 1"),
        (["--since", "9" * 5000 + "d"], "that is before year 1"),
        (["--since", "<script>"], "give 30m, 24h, 7d, or a date"),
        (["--url-template", "https://x/{0}"], "placeholder {0} is not one nbrunner fills"),
        (["--url-template", "https://x/{nope}"], "placeholder {nope} is not one nbrunner fills"),
        (["--url-template", "https://x/{bucket.__class__}"], "is not one nbrunner fills"),
        (["--url-template", "https://x/{key!r}"], "placeholder {key} is not one nbrunner fills"),
        (["--url-template", "https://x/{"], "bad placeholder syntax"),
        (["--url-template", "javascript:alert('{key}')"], "not an http(s) URL"),
    ],
)
def test_bad_options_are_one_line_usage_errors(tmp_path: Path, args: list[str], error: str) -> None:
    write(tmp_path, {"a.run.json": json.dumps(good(1))})
    result = invoke("runs", str(tmp_path), *args)
    assert result.code == 2 and error in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_an_empty_location_is_refused_not_the_current_folder(tmp_path: Path) -> None:
    result = invoke("runs", "")
    assert result.code == 2 and "runs '': no location; give the folder" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("page", ["a.run.json", "new.run.json", "sub/../a.run.json", "out/1.html"])
def test_the_page_never_writes_over_what_the_view_reads(tmp_path: Path, page: str) -> None:
    record = json.dumps(good(1, html=str(tmp_path / "out" / "1.html")))
    write(tmp_path, {"a.run.json": record})
    write(tmp_path / "out", {"1.html": "the run's HTML"})
    (tmp_path / "sub").mkdir()
    result = invoke("runs", str(tmp_path), "--html", str(tmp_path / page))
    assert result.code == 2 and "--html" in result.stderr and "write the page elsewhere" in result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert (tmp_path / "a.run.json").read_text() == record and not (tmp_path / "new.run.json").exists()
    assert (tmp_path / "out" / "1.html").read_text() == "the run's HTML"


def test_a_reader_that_goes_away_ends_the_listing_quietly(tmp_path: Path) -> None:
    write(tmp_path, {f"{n}.run.json": json.dumps(good(n)) for n in range(2000)})  # far more than a pipe holds
    with subprocess.Popen([sys.executable, "-m", "nbrunner", "runs", str(tmp_path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL) as child:  # fmt: skip
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.readline().startswith(b"2026-11-20T23:59")
        child.stdout.close()  # as `| head -1` does
        stderr = child.stderr.read().decode()
        assert child.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


@pytest.mark.parametrize(
    ("text", "reason"),
    [("[" * 100_000, "nested deeper than 100 levels"), (json.dumps(good(1, parameters=[1])), "parameters is a list"),
     (json.dumps(good(1, chain={"id": "c", "index": None, "size": 1})), "chain is not an object with id"),
     (json.dumps({"kind": "refused", "status": "usage-error"}), "not the record of a run")],
)  # fmt: skip
def test_resume_reads_a_record_through_the_same_check(notebooks: Path, tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "bad.run.json").write_text(text)
    result = invoke("run", str(notebooks / "ok.ipynb"), "--resume", str(tmp_path / "bad.run.json"))
    assert result.code == 2 and reason in result.stderr and result.stderr.count("\n") == 1, result.stderr
