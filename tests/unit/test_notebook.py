"""document.dump: the same text as nbformat.writes, streamed, for texts that cross its megabyte chunks."""

from __future__ import annotations

import io

import nbformat
from nbformat import v4

from nbrunner.notebook import document


def test_dump_matches_nbformat_for_long_texts_with_every_line_break() -> None:
    piece = "line\r\nnext\rcr\x0bvt\u2028ls\x85nel é\n"
    big = piece * (3 * (1 << 20) // len(piece)) + "x" * 70 + "\r" + "\n" + "tail without newline"
    nb = v4.new_notebook(cells=[
        v4.new_code_cell(big, outputs=[
            v4.new_output("stream", text=big),
            v4.new_output("display_data", data={"text/plain": big, "image/svg+xml": "<svg>\n</svg>\n",
                                                "application/json": {"a": [1, 2.5, None]}}),
            v4.new_output("error", ename="E", evalue="v", traceback=["a", "b"]),
        ]),
        v4.new_markdown_cell("", attachments={"x.png": {"image/png": "iVBO\n"}}),
        v4.new_raw_cell("raw\n"),
    ])  # fmt: skip
    nb.metadata["orig_nbformat"] = 3  # transient: never written
    buffer = io.StringIO()
    document.dump(nb, buffer)
    assert buffer.getvalue() == nbformat.writes(nb)
