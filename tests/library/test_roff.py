"""Manual pages are indexed as the page a reader sees, not as roff source."""

from __future__ import annotations

from pathlib import Path

from rlm_desktop.library.extract import extract_file
from rlm_desktop.library.roff import is_roff, roff_to_text

PAGE = r""".\" generated page
'\" t
.TH "TOOL\-SYNC" "1" "2024\-01\-02" "Tool 2\&.1" "Tool Manual"
.de XX
.sp
..
.SH "NAME"
tool-sync \- copy a tree to a remote host
.SH "OPTIONS"
.PP
\fB\-\-timeout\fR <seconds>
.RS 4
Number of seconds to wait
for the host (default: 900)\&. This is the default since Tool 2\&.0\&.
.RE
.TP
.B \-v
Print each file\(cqs name\&.
.SH "EXAMPLES"
.sp
.if n \{\
.RS 4
.\}
.nf
$ tool\-sync \-\-timeout 60 src host:
  indented line
.fi
.ie n \{\
\h'-04' 1.\h'+01'\c
.\}
.el \{\
.sp -1
.IP "  1." 4.2
.\}
First step\&.
.SH "SEE ALSO"
.BR rsync (1),
.IR ssh (1)
"""


def test_a_man_page_reads_as_headings_and_filled_paragraphs() -> None:
    assert is_roff(PAGE)
    lines = roff_to_text(PAGE).split("\n")
    assert lines[0] == "TOOL-SYNC(1)"
    assert "NAME" in lines and "OPTIONS" in lines and "EXAMPLES" in lines
    assert "tool-sync - copy a tree to a remote host" in lines
    assert "--timeout <seconds>" in lines
    # a paragraph's source lines are one line, escapes read
    assert "Number of seconds to wait for the host (default: 900). This is the default since Tool 2.0." in lines
    assert lines[lines.index("-v") + 1] == "Print each file's name."  # a .TP tag on its own line
    # a no-fill block keeps its lines as they are
    assert "$ tool-sync --timeout 60 src host:" in lines and "  indented line" in lines
    # the terminal branch of .ie is read once; the typesetter's is not
    assert sum("1." in line for line in lines) == 1 and "1. First step." in lines
    assert "rsync(1), ssh(1)" in lines
    text = "\n".join(lines)
    assert "\\f" not in text and ".sp" not in text and "generated page" not in text and ".RS" not in text


def test_text_that_only_mentions_roff_is_left_as_it_is() -> None:
    assert not is_roff("Notes on troff\n.TH is the title macro, used once per page.\n")
    assert not is_roff("A plain README\nwith lines\n")


def test_a_man_page_file_is_indexed_rendered(tmp_path: Path) -> None:
    f = tmp_path / "tool-sync.1"
    f.write_text(PAGE)
    ex = extract_file(str(f), "text", 10_000_000)
    text = "\n".join(chunk[3] for chunk in ex.chunks)
    assert ex.status == "ok" and "(default: 900). This is the default since Tool 2.0." in text and "\\fB" not in text
