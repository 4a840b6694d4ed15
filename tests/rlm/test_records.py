"""``extract``: typed records per file, checked against the text; files that do not apply
stay out of every figure; the engine forces the replies to the record schema."""

from __future__ import annotations

import json
from decimal import Decimal

from rlm_desktop.rlm import events as ev
from rlm_desktop.rlm.engine import Engine
from rlm_desktop.rlm.tools.extract import RECORD_SCHEMA, Records, parse_record
from tests.fakes import ScriptedBackend, scripted_settings

INVOICE_A = "Invoice 7\nBilled to: Acme Tools\nDate: 2021-03-04\nSubtotal: $1,000.00\nTotal due: $1,234.50\n"
INVOICE_B = "Invoice 8\nBilled to: Birch & Co\nDate: 2021-05-01\nTotal due: $9,999.00\n"


def reply(applies: bool, value: str, quote: str) -> str:
    return json.dumps({"applies": applies, "value": value, "quote": quote})


def test_a_record_is_kept_when_its_quote_is_in_the_file_and_its_value_in_the_quote() -> None:
    r = parse_record(reply(True, "$1,234.50", "Total due: $1,234.50"), "a.txt", INVOICE_A)
    assert r.status == "ok" and r.counts and r.line == 5
    assert r.number == Decimal("1234.50") or float(r.number) == 1234.5


def test_a_quote_the_file_does_not_hold_or_a_value_outside_its_quote_is_not_counted() -> None:
    assert parse_record(reply(True, "$1,234.50", "Amount payable: $1,234.50"), "a.txt", INVOICE_A).status == "not_in_text"
    assert parse_record(reply(True, "$2,000.00", "Total due: $1,234.50"), "a.txt", INVOICE_A).status == "not_in_text"
    # spaces and case aside, and across a line break
    assert parse_record(reply(True, "1,000.00", "subtotal:   $1,000.00 total"), "a.txt", INVOICE_A).status == "ok"


def test_a_file_that_does_not_apply_and_a_broken_reply_are_said_as_such() -> None:
    assert parse_record(reply(False, "$9,999.00", "Total due: $9,999.00"), "b.txt", INVOICE_B).status == "not_applicable"
    assert parse_record("The total is 9999", "b.txt", INVOICE_B).status == "bad_reply"
    assert parse_record(reply(True, "", ""), "b.txt", INVOICE_B).status == "no_value"


def test_figures_use_only_the_files_that_apply_and_do_not_call_the_others_missing() -> None:
    recs = Records("What is the total billed to Acme Tools in 2021?", [
        parse_record(reply(True, "$1,234.50", "Total due: $1,234.50"), "a.txt", INVOICE_A),
        parse_record(reply(False, "$9,999.00", "Total due: $9,999.00"), "b.txt", INVOICE_B),
        parse_record(reply(True, "$1,234.50", "Total due: $1,234.50"), "c.txt", INVOICE_A),
    ])
    total = recs.total()
    assert float(total.value) == 2469.0 and total.paths == ("a.txt", "c.txt") and total.left_out == ()
    assert "2,469" in repr(total) or "2469" in repr(total)
    assert recs.count().value == 2 and recs.values() == [("a.txt", "$1,234.50"), ("c.txt", "$1,234.50")]
    assert "2 of 3 files apply with a checked value; 1 do not apply" in repr(recs)
    unchecked = Records("q?", [parse_record(reply(True, "$5.00", "not there"), "d.txt", INVOICE_A),
                               parse_record(reply(True, "$1,234.50", "Total due: $1,234.50"), "a.txt", INVOICE_A)])
    assert unchecked.total().left_out == ("d.txt",)


TEXT = "Invoice 7 for Acme Tools, 2021. Total due: $1,234.50.\n"


def test_the_engine_forces_record_calls_to_the_schema_and_the_run_reads_them() -> None:
    root, sub = ScriptedBackend(), ScriptedBackend("sub")
    sub.route_from_queue = False
    sub.enqueue([reply(True, "$1,234.50", "Total due: $1,234.50")])
    root.enqueue(["```python\nrecs = extract('What is the total due for Acme Tools?', [context])\nprint(recs)\nprint(recs.total())\n```",
                  "```python\nFINAL('1234.50')\n```"])
    events: list = []
    Engine(root, sub, None, scripted_settings(), sink=events.append).run("What is the total due for Acme Tools?", context_text=TEXT)
    record_calls = [p for p in sub.params if p.json_schema is not None]
    assert record_calls and record_calls[0].json_schema == RECORD_SCHEMA
    out = next(e.output for e in events if isinstance(e, ev.CellFinished))
    assert "1 of 1 files apply with a checked value" in out and "1234.5 (total of text #1)" in out


def test_switching_ask_numbers_off_shows_the_figure_strategy_with_extract() -> None:
    from rlm_desktop.rlm.strategy import strategy_named

    plain = strategy_named("whole_folder_map")
    typed = strategy_named("whole_folder_map", without=["ask_numbers"])
    assert "ask_numbers(" in plain.examples and "extract(" not in plain.examples
    assert "extract(" in typed.examples and "ask_numbers(" not in typed.examples and "extract(" in typed.hints
