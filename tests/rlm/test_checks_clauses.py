"""``checks.shown_clauses``: an answer insisted on keeps the clauses its outputs show."""

from rlm_desktop.rlm.checks import shown_clauses
from rlm_desktop.rlm.grounding import Evidence


def _seen(text: str) -> Evidence:
    evidence = Evidence()
    evidence.add_output(text, ())
    return evidence


SEEN = "a.txt:3: total 1,234.50 EUR\nb.txt:4: due 2024-03-01"


def test_the_clauses_with_unshown_values_go_and_the_citation_brackets_stay_whole() -> None:
    answer = "1,234.50 EUR (a.txt:3, b.txt:4), due 2024-03-01, and 999 more"
    assert shown_clauses(answer, _seen(SEEN)) == "1,234.50 EUR (a.txt:3, b.txt:4), due 2024-03-01"


def test_an_answer_whose_own_value_is_unshown_is_not_rewritten_into_another() -> None:
    assert shown_clauses("999 (a.txt:3, 1,234.50)", _seen(SEEN)) is None
    assert shown_clauses("999 (a.txt:3)", _seen(SEEN)) is None


def test_an_answer_whose_values_are_all_shown_is_left_as_it_is() -> None:
    assert shown_clauses("1,234.50 EUR (a.txt:3)", _seen(SEEN)) is None


def test_a_pdf_page_an_answer_cites_is_a_place_not_a_claim() -> None:
    # the reading cited "asymptote.pdf, page 184" and its page number was checked as a
    # value no output showed, so a right answer was refused (dev, asymptote-docs-01)
    from rlm_desktop.rlm.grounding import key_values

    for cited in ("files/asymptote.pdf, page 184", "files/asymptote.pdf#page=184", "files/asymptote.pdf#page=184:10"):
        assert key_values(f"Sean Healy ({cited})") == ["Sean", "Healy"]
    assert key_values("90 days (docs/lease.txt:4)") == ["90"] and key_values("see page 12 of the manual") == ["12"]
