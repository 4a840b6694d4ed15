"""extract with the real 0.5B sub model under the record schema (llama.cpp's grammar):
invoices of several clients, some credit notes; only the asked client's invoices count.
Slow (about a minute on one thread)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_desktop.llm.backend import GenerationParams, Message
from rlm_desktop.llm.loader import load_backend
from rlm_desktop.rlm.tools.corpus import FileMeta
from rlm_desktop.rlm.tools.extract import RECORD_MAX_TOKENS, RECORD_SCHEMA
from rlm_desktop.rlm.tools.namespace import Repl
from rlm_desktop.settings import Settings

QUESTION = "What is the total due of this invoice, and is it an invoice to Alder Pumps?"
INVOICES = {
    "a.txt": "INVOICE A-1\nBill to: Alder Pumps\nSubtotal: 1,000.00\nTax: 200.00\nTotal due: 1,200.00 EUR\n",
    "b.txt": "INVOICE A-2\nBill to: Fenwick Glass\nSubtotal: 500.00\nTax: 100.00\nTotal due: 600.00 EUR\n",
    "c.txt": "INVOICE A-3\nBill to: Alder Pumps\nSubtotal: 2,500.50\nTax: 500.10\nTotal due: 3,000.60 EUR\n",
    "d.txt": "INVOICE A-4\nBill to: Fenwick Glass\nSubtotal: 80.00\nTax: 16.00\nTotal due: 96.00 EUR\n",
}


class _Files:
    def files(self) -> list[FileMeta]:
        return [FileMeta(p, "text", len(t), t.count("\n") + 1, len(t) // 4) for p, t in INVOICES.items()]

    def text(self, path: str) -> str:
        return INVOICES[path]


@pytest.fixture(scope="module")
def sub_model(small_model_path: Path):
    backend = load_backend(small_model_path, Settings(n_threads=1, n_ctx=2048), role="sub")
    yield backend
    backend.close()


@pytest.mark.model
@pytest.mark.slow
def test_records_from_the_real_sub_model_read_each_files_value_and_quote(sub_model) -> None:
    """What the grammar and the checks give with the 0.5B: every reply a record, every
    value read right and found in its file. Its ``applies`` did not tell the clients apart
    here (it said true for all four), so the figure strategy narrows the files by code
    first (the worked example filters ``files`` before ``extract``)."""
    def request_llm(kind, prompts, text, paths, grounded) -> list[str]:
        assert kind == "record"
        params = GenerationParams(max_tokens=RECORD_MAX_TOKENS, json_schema=RECORD_SCHEMA)
        return [sub_model.chat([Message("user", p)], params).text for p in prompts]

    repl = Repl(_Files(), None, request_llm, __import__)  # type: ignore[arg-type]
    narrowed = [f for f in repl.corpus if "alder pumps" in f.text.lower()]
    recs = repl.extract(QUESTION, narrowed)
    assert all(r.status != "bad_reply" for r in recs.records), recs  # the grammar holds the shape
    assert {r.path for r in recs.applying()} == {"a.txt", "c.txt"}, recs
    for r in recs.applying():
        assert r.line is not None  # its quote was found in the file, and its value in the quote
    assert float(recs.total().value) == pytest.approx(4200.60)
