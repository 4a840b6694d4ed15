"""Contracts with clients and suppliers: numbered clauses (term, renewal, termination
notice, liability, governing law), some without a liability clause, and one amendment in
its own file that replaces the notice clause of an earlier contract."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from rlm_desktop.bench.tasks.base import number_words
from rlm_desktop.bench.tasks.private.invoices import Book
from rlm_desktop.bench.tasks.private.names import Names
from rlm_desktop.bench.tasks.private.question import Question, ask, where
from rlm_desktop.bench.tasks.private.render import Doc, Heading, MoneyFormat, day, money, render, slug


@dataclass(frozen=True)
class ContractStyle:
    path: str  # "{year}", "{party}", "{kind}" (slugs) and "{ext}"
    amendment_path: str
    kinds: tuple[str, ...]
    headings: Mapping[str, str]  # clause key -> heading
    clauses: Mapping[str, str]  # sentence key -> template
    amendment_title: str
    amendment: tuple[str, ...]  # the amendment's paragraphs
    money: MoneyFormat
    dates: tuple[str, ...]
    notice_words: bool  # "sixty (60) days" rather than "60 days"
    questions: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Contract:
    party: str
    kind: str
    effective: date
    months: int
    renew: int  # months of each automatic renewal; 0: none
    notice: int  # days
    place: str
    cap: Decimal | None
    fee: Decimal
    path: str


def _clauses(c: Contract, style: ContractStyle, names: Names, datefmt: str) -> tuple[list[str | Heading], str]:
    """The numbered clauses, and the number of the notice sub-clause."""
    s = style.clauses
    notice = f"{number_words(c.notice)} ({c.notice})" if style.notice_words else str(c.notice)
    fields = {"us": names.business, "party": c.party, "kind": c.kind, "effective": day(c.effective, datefmt),
              "months": c.months, "renew": c.renew, "notice": notice, "place": c.place, "fee": money(c.fee, style.money),
              "cap": money(c.cap, style.money) if c.cap is not None else ""}
    sections = [
        ("definitions", ["definitions"]),
        ("scope", ["scope"]),
        ("fees", ["fees"]),
        ("term", ["term", "renewal" if c.renew else "no_renewal"]),
        ("termination", ["notice", "accrued"]),
        *([("liability", ["liability"])] if c.cap is not None else []),
        ("confidentiality", ["confidentiality"]),
        ("law", ["law"]),
        ("notices", ["notices"]),
    ]
    blocks: list[str | Heading] = [s["preamble"].format(**fields)]
    ref = ""
    for n, (heading, keys) in enumerate(sections, 1):
        blocks.append(Heading(f"{n}. {style.headings[heading]}"))
        for k, key in enumerate(keys, 1):
            blocks.append(f"{n}.{k} " + s[key].format(**fields, clause_next=n + 1))
            if key == "notice":
                ref = f"{n}.{k}"
    blocks.append(s["signatures"].format(**fields, owner=" ".join(names.owner)))
    return blocks, ref


def generate(rng: random.Random, style: ContractStyle, names: Names, book: Book) -> tuple[list[tuple[str, str | bytes]], list[Question]]:
    """Contracts with three of the invoiced clients and with suppliers, over the three
    years up to the second invoice year."""
    n = rng.randrange(6, 11)
    year = book.years[1]
    with_clients = max(3, n - len(names.suppliers))
    parties = rng.sample(book.clients, with_clients) + rng.sample(names.suppliers, n - with_clients)
    rng.shuffle(parties)
    places = rng.sample(names.places, 3)
    starts = sorted(rng.sample(range(3 * 365), n))
    for _attempt in range(50):  # until the set and absent questions have something to ask
        caps = [None if rng.random() < 0.3 else Decimal(rng.choice((25_000, 50_000, 100_000, 250_000))) for _ in parties]
        renews = [rng.choice((0, 0, 12, 24)) for _ in parties]
        if None in caps and len(set(caps)) > 1 and 0 < sum(map(bool, renews)) < n:
            break
    contracts = []
    for party, start, cap, renew in zip(parties, starts, caps, renews, strict=True):
        effective = date(year - 2, 1, 1) + timedelta(start)
        kind = rng.choice(style.kinds)
        ext = rng.choice(("pdf", "docx", "docx", "txt"))
        path = style.path.format(year=effective.year, party=slug(party), kind=slug(kind), ext=ext)
        contracts.append(Contract(party, kind, effective, rng.choice((12, 24, 36)), renew, rng.choice((30, 60, 90)),
                                  rng.choices(places, (3, 2, 1))[0], cap, Decimal(rng.randrange(400, 9_000)), path))
    files: list[tuple[str, str | bytes]] = []
    texts: dict[str, str | bytes] = {}
    refs: dict[str, str] = {}
    datefmts: dict[str, str] = {}
    for c in contracts:
        datefmts[c.path] = rng.choice(style.dates)
        blocks, refs[c.path] = _clauses(c, style, names, datefmts[c.path])
        texts[c.path] = render(Doc(c.kind, tuple(blocks), c.effective, names.business), c.path.rsplit(".", 1)[1])
        files.append((c.path, texts[c.path]))

    amended = rng.choice(contracts[: n - 1])
    new_notice = rng.choice([d for d in (30, 45, 60, 90, 120) if d != amended.notice])
    signed = amended.effective + timedelta(rng.randrange(120, 500))
    datefmt = datefmts[amended.path]
    fields = {"us": names.business, "party": amended.party, "kind": amended.kind, "effective": day(amended.effective, datefmt),
              "date": day(signed, datefmt), "ref": refs[amended.path], "new": new_notice}
    amendment_path = style.amendment_path.format(year=signed.year, party=slug(amended.party), ext="docx")
    title = style.amendment_title.format(**fields)
    texts[amendment_path] = render(Doc(title, tuple(p.format(**fields) for p in style.amendment), signed, names.business), "docx")
    files.append((amendment_path, texts[amendment_path]))

    q = style.questions
    out: list[Question] = []

    def add(qtype: str, family: str, expected, kind, c: Contract | None, **extra) -> None:
        fields = {"party": c.party, "kind": c.kind} if c else {}
        fields.update(extra.pop("fields", {}))
        folder = extra.pop("folder", "contracts")
        out.append(Question(qtype, family, ask(rng, q, qtype, **fields), expected, kind, folder, **extra))

    others = [c for c in contracts if c is not amended]
    picked = rng.sample(others, 4)
    c = picked[0]
    add("notice", "lookup", float(c.notice), "number", c, cite=(c.path,), source=where(c.path, texts[c.path], refs[c.path] + " "))
    add("amended_notice", "cross_ref", float(new_notice), "number", amended, cite=(amendment_path,), source=amendment_path)
    c = picked[1]
    add("law", "lookup", c.place, "text", c, cite=(c.path,), source=where(c.path, texts[c.path], c.place))
    c = picked[2]
    add("effective", "lookup", c.effective.isoformat(), "date", c, cite=(c.path,),
        source=where(c.path, texts[c.path], day(c.effective, datefmts[c.path])))
    everyone = tuple(c.party for c in contracts)
    add("auto_renew", "enumerate", tuple(c.party for c in contracts if c.renew), "set", None, universe=everyone)
    place, count = Counter(c.place for c in contracts).most_common(1)[0]
    add("count_law", "aggregate", float(count), "number", None, fields={"place": place})
    first = min(contracts, key=lambda c: c.effective)
    add("earliest", "compare", first.party, "text", None)
    invoiced = {i.client for i in book.invoices if i.issued.year == year and not i.corrects}
    add("contract_billed", "enumerate", tuple(c.party for c in contracts if c.party in invoiced), "set", None,
        fields={"year": year}, folder="desk", universe=everyone + tuple(x for x in book.clients if x not in everyone))
    c = rng.choice([c for c in contracts if c.cap is None])
    add("absent_cap", "absent", "", "absent", c, universe=tuple(money(x.cap, style.money) for x in contracts if x.cap is not None),
        searched=(c.party,), cite=(c.path,))
    return files, out


DEV = ContractStyle(
    path="contracts/{party}-{kind}.{ext}",
    amendment_path="contracts/{party}-amendment-1.{ext}",
    kinds=("Services Agreement", "Consulting Agreement", "Office Lease", "Software Licence Agreement",
           "Maintenance Agreement", "Printing Supply Agreement", "Retainer Agreement"),
    headings={"definitions": "Definitions", "scope": "Services", "fees": "Fees and Payment", "term": "Term",
              "termination": "Termination", "liability": "Limitation of Liability", "confidentiality": "Confidentiality",
              "law": "Governing Law", "notices": "Notices"},
    clauses={
        "preamble": 'This {kind} (the "Agreement") is made between {us} and {party} and takes effect on {effective} '
                    '(the "Effective Date").',
        "definitions": 'In this Agreement, "Services" means the work described in clause 2 and "Business Day" means '
                       "a day other than a weekend or public holiday.",
        "scope": "{us} will provide the Services to {party} with reasonable skill and care.",
        "fees": "{party} shall pay {fee} per month, invoiced monthly in arrears.",
        "term": "The Agreement has an initial term of {months} months from the Effective Date.",
        "renewal": "Thereafter it renews automatically for successive periods of {renew} months unless terminated "
                   "under clause {clause_next}.",
        "no_renewal": "The Agreement does not renew automatically; any extension must be agreed in writing.",
        "notice": "Either party may terminate the Agreement by giving {notice} days' written notice to the other party.",
        "accrued": "Termination does not affect any rights that accrued before it took effect.",
        "liability": "Each party's total liability under the Agreement is limited to {cap}.",
        "confidentiality": "Each party shall keep the other's confidential information secret during the Agreement "
                           "and for two years after it ends.",
        "law": "This Agreement is governed by the laws of {place}.",
        "notices": "Notices must be given in writing to the addresses on the first page.",
        "signatures": "Signed for {us} by {owner}, and for {party} by its authorised signatory.",
    },
    amendment_title="Amendment No. 1 to the {kind}",
    amendment=(
        "This amendment, dated {date}, is made between {us} and {party} and amends the {kind} that took effect "
        "on {effective}.",
        'With effect from {date}, clause {ref} is deleted and replaced by: "Either party may terminate the '
        "Agreement by giving {new} days' written notice to the other party.\"",
        "All other terms of the Agreement remain unchanged.",
    ),
    money=MoneyFormat("US$", ",", ".", ""),
    dates=("{month} {d}, {yyyy}", "{yyyy}-{mm}-{dd}"),
    notice_words=True,
    questions={
        "notice": ("How many days' notice does the {kind} with {party} require to terminate?",
                   "What is the notice period for ending our contract with {party}?"),
        "amended_notice": ("What notice period applies today to the {kind} with {party}?",
                           "If we wanted to end the {party} contract now, how many days' notice would we have to give?"),
        "law": ("Which law governs the contract with {party}?",),
        "effective": ("When did the {kind} with {party} take effect?",),
        "contract_billed": ("Which of the clients we have a contract with did we invoice in {year}?",),
        "auto_renew": ("Which of our contracts renew automatically? Name the other parties.",),
        "count_law": ("How many of the contracts are governed by the laws of {place}?",),
        "earliest": ("Which counterparty signed the oldest of our contracts?",),
        "absent_cap": ("What is the liability cap in the contract with {party}?",),
    },
)

HELD_OUT = ContractStyle(
    path="agreements/{year}_{party}_{kind}.{ext}",
    amendment_path="agreements/{year}_{party}_addendum.{ext}",
    kinds=("Framework Contract", "Advisory Mandate", "Tenancy Contract", "Subscription Terms", "Support Contract",
           "Supply Contract", "Coaching Mandate"),
    headings={"definitions": "Interpretation", "scope": "Scope of Work", "fees": "Remuneration", "term": "Duration",
              "termination": "Ending the Contract", "liability": "Liability Ceiling", "confidentiality": "Secrecy",
              "law": "Applicable Law", "notices": "Communications"},
    clauses={
        "preamble": "{kind} concluded by {us} and {party}. Date of commencement: {effective}.",
        "definitions": "Headings are for convenience only; the singular includes the plural.",
        "scope": "{party} engages {us} for the work set out in the annex to this contract.",
        "fees": "A monthly fee of {fee} is payable in advance.",
        "term": "The contract runs for an initial period of {months} months after commencement.",
        "renewal": "Unless it is ended in time, it is extended by {renew} months each time.",
        "no_renewal": "No tacit extension applies; a prolongation requires a signed addendum.",
        "notice": "Each side may end the contract with {notice} days' notice in writing.",
        "accrued": "Claims that arose before the end of the contract survive it.",
        "liability": "Aggregate liability of either side shall not exceed {cap}.",
        "confidentiality": "Both sides treat business secrets of the other as strictly confidential, also after the end.",
        "law": "The contract is subject to the law of {place}; its courts have jurisdiction.",
        "notices": "Messages under this contract are sent by registered letter or e-mail.",
        "signatures": "For {us}: {owner}. For {party}: managing director.",
    },
    amendment_title="Addendum 1 - {kind}",
    amendment=(
        "Parties: {us} and {party}. This addendum changes the {kind} whose date of commencement is {effective}.",
        'Clause {ref} now reads: "Each side may end the contract with {new} days\' notice in writing."',
        "The addendum applies from {date}; everything else stays as agreed.",
    ),
    money=MoneyFormat("EUR ", "'", ".", ""),
    dates=("{d} {month} {yyyy}", "{dd}/{mm}/{yyyy}"),
    notice_words=False,
    questions={
        "notice": ("To cancel the {kind} with {party}, how much notice is needed, in days?",
                   "{party}: how long is the notice period of that contract?"),
        "amended_notice": ("Taking every addendum into account, what is the current notice period with {party}?",
                           "How many days ahead must we announce the end of the {kind} with {party} today?"),
        "law": ("Under which jurisdiction's law does the {party} contract fall?",),
        "effective": ("On which date did the {kind} with {party} commence?",),
        "contract_billed": ("Name the contract partners that also received a bill from us in {year}.",),
        "auto_renew": ("List the counterparties whose contracts extend themselves unless ended.",),
        "count_law": ("Count the contracts that are subject to the law of {place}.",),
        "earliest": ("Whose contract with us is the longest-standing one?",),
        "absent_cap": ("Up to which amount is liability capped under the {party} contract?",),
    },
)
