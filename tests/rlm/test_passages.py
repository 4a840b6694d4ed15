"""``passages(query)``: whole lines around the best hits, numbered; PDF pages read near
the hit; hits close together read once; the listing bounded."""

from __future__ import annotations

from rlm_desktop.library.extract import PAGE_BREAK
from rlm_desktop.rlm.tools.corpus import Hit, TextBackend
from rlm_desktop.rlm.tools.passages import LINE_CHARS, TOTAL_CHARS, find_passages


class Backend:
    """Files as texts (a PDF's pages joined by PAGE_BREAK) and a fixed list of hits."""

    def __init__(self, files: dict[str, str], hits: list[Hit], total: int | None = None, missing=()) -> None:
        self.files, self.hits, self.total, self.missing = files, hits, total, missing

    def search(self, query, k):
        return self.hits[:k], self.total if self.total is not None else len(self.hits), self.missing

    def read(self, path, start, end):
        if path not in self.files:
            raise LookupError(f"no such file: {path}")
        text = self.files[path]
        if PAGE_BREAK in text:
            return text.split(PAGE_BREAK)[start - 1]
        lines = text.split("\n")
        return "\n".join(lines[start - 1:end])


NOTES = "\n".join(f"line {i}" for i in range(1, 31)) + "\n" + "\n".join(f"later {i}" for i in range(31, 81))


def test_a_hit_is_read_with_numbered_lines_either_side() -> None:
    found = find_passages(Backend({"a.txt": NOTES}, [Hit("a.txt", 10, "line [10]")]), "ten", around=2)
    assert [(p.path, p.start, p.end) for p in found] == [("a.txt", 8, 12)]
    text = repr(found)
    assert " 8| line 8" in text and "12| line 12" in text and "line 13" not in text
    assert text.startswith("passages('ten'): 1 passage from 1 of 1 matching files")


def test_hits_close_together_in_one_file_are_one_passage_and_far_ones_two() -> None:
    hits = [Hit("a.txt", 10, "x"), Hit("a.txt", 13, "y"), Hit("a.txt", 28, "z")]
    found = find_passages(Backend({"a.txt": NOTES}, hits), "q", around=2)
    assert [(p.start, p.end) for p in found] == [(8, 15), (26, 30)]


def test_a_short_file_is_one_passage_read_whole() -> None:
    # an invoice: the hit is its number on line 1, the due date ten lines below
    invoice = "\n".join(["INVOICE INV-7", "From: Studio", *(f"item {i}" for i in range(8)), "Due: 2022-04-20", "Total 119.00"])
    hits = [Hit("inv.txt", 1, "INVOICE [INV-7]"), Hit("inv.txt", 12, "[Total] 119.00"), Hit("a.txt", 10, "x")]
    found = find_passages(Backend({"inv.txt": invoice, "a.txt": NOTES}, hits), "due date INV-7", around=2)
    assert [(p.path, p.start, p.end) for p in found] == [("inv.txt", 1, 12), ("a.txt", 8, 12)]
    assert "11| Due: 2022-04-20" in repr(found)


def test_a_pdf_hit_shows_the_lines_of_its_page_nearest_the_hit() -> None:
    page1 = "\n".join(f"intro {i}" for i in range(40))
    page2 = "\n".join([*(f"filler {i}" for i in range(30)), "The timeout option", "defaults to 30 seconds.", *(f"tail {i}" for i in range(30))])
    backend = Backend({"m.pdf": page1 + PAGE_BREAK + page2}, [Hit("m.pdf", None, "The [timeout] option", page=2)])
    found = find_passages(backend, "timeout option default")
    (p,) = found
    assert p.page == 2 and p.label == "m.pdf page 2"
    assert "The timeout option" in p.text and "defaults to 30 seconds." in p.text
    assert "filler 0" not in p.text and "tail 29" not in p.text and "intro" not in p.text


def test_a_long_hit_line_is_cut_around_the_query_words_so_a_late_value_shows() -> None:
    long = "word " * 400 + "the retry limit is 7 attempts " + "word " * 400
    found = find_passages(Backend({"a.txt": long}, [Hit("a.txt", 1, "retry limit")]), "retry limit")
    assert "the retry limit is 7 attempts" in found[0].text
    assert len(found[0].text) < 3 * LINE_CHARS


def test_the_listing_is_bounded_and_says_what_it_left_out() -> None:
    wide = "\n".join("x" * 300 for _ in range(30))
    files = {f"f{i}.txt": wide for i in range(12)}
    found = find_passages(Backend(files, [Hit(f"f{i}.txt", 15, "x") for i in range(12)]), "x", k=12)
    assert 1 <= len(found) < 12
    assert sum(len(p.text) for p in found) <= TOTAL_CHARS + 9 * 310
    assert found.left_out == 12 - len(found) and "more hits not shown" in repr(found)


def test_no_hits_and_absent_words_are_said_plainly() -> None:
    empty = find_passages(Backend({}, [], missing=("zenith",)), "zenith blender")
    assert "no matching files" in repr(empty) and "'zenith'" in repr(empty)
    some = find_passages(Backend({"a.txt": NOTES}, [Hit("a.txt", 3, "x")], total=4, missing=("zenith",)), "zenith blender")
    assert "No file contains 'zenith'" in repr(some) and "of 4 matching files" in repr(some)


def test_a_file_gone_since_indexing_is_dropped_not_fatal() -> None:
    found = find_passages(Backend({"a.txt": NOTES}, [Hit("gone.txt", 3, "x"), Hit("a.txt", 3, "y")]), "x")
    assert [p.path for p in found] == ["a.txt"]


def test_over_a_pasted_text() -> None:
    found = find_passages(TextBackend("Alpha.\nThe vault code is\nORCHID-7731.\nEnd."), "vault code")
    assert "3| ORCHID-7731." in repr(found)


def test_the_engines_first_move_reads_more_hits_and_wider_than_a_models_call() -> None:
    # a value seven lines below its hit, and a sixth hit in another file: a model's own
    # passages() call shows neither; the engine's first move (read_first_cell) shows both
    from rlm_desktop.rlm.cells import read_first_cell
    from rlm_desktop.rlm.tools.passages import FIRST_AROUND, FIRST_CHARS, FIRST_HITS

    manual = "\n".join([*(f"para {i}" for i in range(1, 20)), "Retries", *(f"note {i}" for i in range(6)), "The default is 7 retries.",
                        *(f"tail {i}" for i in range(30))])
    hits = [Hit("manual.txt", 20, "[Retries]"), *(Hit(f"other{i}.txt", 10, "x") for i in range(4)), Hit("faq.txt", 10, "x")]
    files = {"manual.txt": manual, "faq.txt": NOTES, **{f"other{i}.txt": NOTES for i in range(4)}}
    narrow = find_passages(Backend(files, hits), "retries default")
    assert "The default is 7 retries." not in repr(narrow) and "faq.txt" not in narrow.paths
    wide = find_passages(Backend(files, hits), "retries default", FIRST_HITS, FIRST_AROUND, FIRST_CHARS)
    assert "27| The default is 7 retries." in repr(wide) and "faq.txt" in wide.paths
    assert read_first_cell("How many  retries?") == (
        f"passages('How many retries?', k={FIRST_HITS}, around={FIRST_AROUND}, chars={FIRST_CHARS})")


def test_the_listing_stops_near_its_character_budget() -> None:
    hits = [Hit(f"f{i}.txt", 40, "x") for i in range(12)]
    files = {f"f{i}.txt": NOTES for i in range(12)}
    small = find_passages(Backend(files, hits), "q", 12, 8, chars=600)
    large = find_passages(Backend(files, hits), "q", 12, 8, chars=6000)
    assert len(small) < len(large) == 12
    assert small.left_out == 12 - len(small) and "more hits not shown" in repr(small)


def test_the_rarest_words_of_a_question_are_those_fewest_files_contain() -> None:
    from rlm_desktop.rlm.tools.passages import rarest_words

    class Counts:
        files = {"loose": 2, "objects": 40, "prune": 3, "default": 90, "old": 25}

        def search(self, query, k):
            return [], self.files.get(query, 0), ()

    assert rarest_words(Counts(), "By default, how old must loose objects be before gc prunes them?", 2) == ["loose", "old"]
    assert rarest_words(Counts(), "nothing here matches", 2) == []


def test_new_only_passages_leave_out_what_an_earlier_call_showed() -> None:
    from rlm_desktop.rlm.tools.passages import shown_of

    hits = [Hit("a.txt", 10, "x"), Hit("b.txt", 10, "y"), Hit("a.txt", 40, "z")]
    first = find_passages(Backend({"a.txt": NOTES, "b.txt": NOTES}, hits[:2]), "q", around=2)
    again = find_passages(Backend({"a.txt": NOTES, "b.txt": NOTES}, hits), "q", around=2, skip=shown_of(first))
    assert [(p.path, p.start) for p in again] == [("a.txt", 38)]
    nothing_new = find_passages(Backend({"a.txt": NOTES, "b.txt": NOTES}, hits[:2]), "q", around=2, skip=shown_of(first))
    assert not nothing_new and "nothing new: its 2 best hits are in passages shown before" in repr(nothing_new)
