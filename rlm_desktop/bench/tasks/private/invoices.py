"""A small business's invoices over two years: PDF, DOCX, text and markdown invoices for
eight clients, a few credit notes that reduce a client's total, a CSV register of every
document and an XLSX workbook of the payments received. Amounts are kept in ``Decimal``
and every question's truth is computed from these records."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from rlm_desktop.bench.tasks.private.names import Names
from rlm_desktop.bench.tasks.private.question import Question, ask, where
from rlm_desktop.bench.tasks.private.render import (
    FORMATS,
    Doc,
    MoneyFormat,
    Table,
    cents,
    day,
    money,
    render,
    xlsx,
)


@dataclass(frozen=True)
class InvoiceStyle:
    path: str  # "{year}", "{number}" and "{ext}" are filled in
    register: str  # the CSV export of every invoice and credit note
    payments: str  # the XLSX workbook of payments received
    number: str  # "{year}", "{yy}" and "{seq}"
    credit_number: str
    po: str  # "{n}": a five-digit order number
    title: str
    credit_title: str
    labels: Mapping[str, str]
    terms: str  # "{days}"
    terms_days: int
    tax_rate: Decimal
    items: tuple[str, ...]
    credit_reasons: tuple[str, ...]
    money: tuple[MoneyFormat, ...]
    dates: tuple[str, ...]
    csv_delimiter: str
    csv_decimal: str
    csv_date: str
    csv_header: tuple[str, ...]
    csv_kinds: tuple[str, str]  # how the register names an invoice and a credit note
    xlsx_sheet: str
    xlsx_header: tuple[str, ...]
    xlsx_date: str
    questions: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Invoice:
    number: str
    client: str
    issued: date
    due: date
    lines: tuple[tuple[str, int, Decimal], ...]  # (description, quantity, unit price)
    tax: Decimal
    path: str
    po: str = ""
    corrects: str = ""  # for a credit note: the number of the invoice it corrects

    @property
    def subtotal(self) -> Decimal:
        return sum((qty * unit for _, qty, unit in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax


@dataclass(frozen=True)
class Book:
    """What the other kinds need from the invoices (the mail about an unpaid invoice)."""

    years: tuple[int, int]
    clients: tuple[str, ...]
    invoices: tuple[Invoice, ...]  # credit notes included, by date
    payments: Mapping[str, date]  # invoice number -> day the payment arrived

    def unpaid(self) -> tuple[Invoice, ...]:
        return tuple(i for i in self.invoices if not i.corrects and i.number not in self.payments)

    def billed(self, client: str | None, year: int) -> Decimal:
        return sum((i.total for i in self.invoices if i.issued.year == year and client in (None, i.client)), Decimal(0))


def _plan(rng: random.Random, style: InvoiceStyle, names: Names) -> Book:
    y1 = rng.randrange(2021, 2025)
    years = (y1, y1 + 1)
    clients = tuple(rng.sample(names.clients, 8))
    first_only, second_only = rng.randrange(1, 3), rng.randrange(1, 3)  # the rest are billed in both years
    slots = [(c, y1) for c in clients[first_only + second_only:] + clients[:first_only]]
    slots += [(c, y1 + 1) for c in clients[first_only:]]
    weight = {c: rng.uniform(0.5, 3.0) for c in clients}
    picks = slots + rng.choices(slots, [weight[c] for c, _ in slots], k=rng.randrange(40, 61) - len(slots))
    dated = sorted((date(y, 1, 2) + timedelta(rng.randrange(355)), c) for c, y in picks)
    invoices: list[Invoice] = []
    seq = {y: 0 for y in years}
    for issued, client in dated:
        seq[issued.year] += 1
        number = style.number.format(year=issued.year, yy=f"{issued.year % 100:02d}", seq=seq[issued.year])
        lines = tuple(  # a fixed-price line, or hours at an hourly rate
            (item, 1, Decimal(rng.randrange(15_000, 600_000)) / 100) if rng.random() < 0.6
            else (item, rng.randrange(2, 41), Decimal(rng.randrange(4_500, 18_000)) / 100)
            for item in rng.sample(style.items, rng.randrange(1, 5))
        )
        subtotal = sum((q * u for _, q, u in lines), Decimal(0))
        po = style.po.format(n=rng.randrange(10_000, 100_000)) if rng.random() < 0.4 else ""
        ext = rng.choices(FORMATS, (4, 3, 2, 1))[0]
        path = style.path.format(year=issued.year, number=number, ext=ext)
        due = issued + timedelta(style.terms_days)
        invoices.append(Invoice(number, client, issued, due, lines, cents(subtotal * style.tax_rate), path, po))
    unpaid = {i.number for i in invoices[-rng.randrange(3, 6):]}
    payments = {i.number: i.issued + timedelta(rng.randrange(3, 41)) for i in invoices if i.number not in unpaid}
    credits: list[Invoice] = []
    credited: set[str] = set()
    for original in rng.sample([i for i in invoices if i.number in payments and i.issued.month < 12], 3):
        if original.client in credited:
            continue
        credited.add(original.client)
        issued = original.issued + timedelta(rng.randrange(5, 26))
        share = Decimal(rng.randrange(10, 60)) / 100
        unit = -cents(original.lines[0][2] * share)
        lines = ((rng.choice(style.credit_reasons) + f" ({original.number})", 1, unit),)
        credits.append(Invoice("", original.client, issued, issued, lines, cents(unit * style.tax_rate), "", corrects=original.number))
    numbered = []
    for n, credit in enumerate(sorted(credits, key=lambda i: i.issued), 1):
        number = style.credit_number.format(year=credit.issued.year, yy=f"{credit.issued.year % 100:02d}", seq=n)
        path = style.path.format(year=credit.issued.year, number=number, ext=rng.choice(FORMATS))
        numbered.append(Invoice(number, credit.client, credit.issued, credit.due, credit.lines, credit.tax, path, corrects=credit.corrects))
    every = tuple(sorted(invoices + numbered, key=lambda i: (i.issued, i.number)))
    return Book(years, clients, every, payments)


def _doc(inv: Invoice, style: InvoiceStyle, names: Names, fmt: MoneyFormat, datefmt: str) -> Doc:
    lab = style.labels
    head = [f"{lab['seller']}: {names.business}", f"{lab['bill_to']}: {inv.client}", f"{lab['number']}: {inv.number}",
            f"{lab['date']}: {day(inv.issued, datefmt)}"]
    if inv.corrects:
        head.append(f"{lab['corrects']}: {inv.corrects}")
    else:
        head.append(f"{lab['due']}: {day(inv.due, datefmt)}")
    if inv.po:
        head.append(f"{lab['po']}: {inv.po}")
    rows = [(lab["item"], lab["qty"], lab["price"], lab["amount"])]
    rows += [(d, str(q), money(u, fmt), money(q * u, fmt)) for d, q, u in inv.lines]
    rate = f"{(style.tax_rate * 100).normalize():f}"
    tail = [f"{lab['subtotal']}: {money(inv.subtotal, fmt)}", f"{lab['tax'].format(rate=rate)}: {money(inv.tax, fmt)}",
            f"{lab['total']}: {money(inv.total, fmt)}"]
    if not inv.corrects:
        tail.append(style.terms.format(days=style.terms_days))
    title = style.credit_title if inv.corrects else style.title
    return Doc(f"{title} {inv.number}", (*head, Table(tuple(rows)), *tail), inv.issued, names.business)


def _register(book: Book, style: InvoiceStyle) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=style.csv_delimiter, lineterminator="\n")
    writer.writerow(style.csv_header)

    def num(v: Decimal) -> str:
        return f"{v:.2f}".replace(".", style.csv_decimal)

    for i in book.invoices:
        kind = style.csv_kinds[1] if i.corrects else style.csv_kinds[0]
        writer.writerow((i.number, day(i.issued, style.csv_date), i.client, kind, num(i.subtotal), num(i.tax), num(i.total)))
    return out.getvalue()


def _payments(book: Book, style: InvoiceStyle) -> bytes:
    by_number = {i.number: i for i in book.invoices}
    rows: list[tuple[object, ...]] = [style.xlsx_header]
    for number, paid in sorted(book.payments.items(), key=lambda kv: (kv[1], kv[0])):
        rows.append((paid, number, by_number[number].client, by_number[number].total))
    return xlsx([(style.xlsx_sheet, rows, {"A": style.xlsx_date, "D": "#,##0.00"})], date(book.years[1], 12, 31))


def generate(rng: random.Random, style: InvoiceStyle, names: Names) -> tuple[list[tuple[str, str | bytes]], list[Question], Book]:
    for _attempt in range(50):  # until the compare questions have a clear answer
        book = _plan(rng, style, names)
        y1, y2 = book.years
        both = [c for c in book.clients if book.billed(c, y1) and book.billed(c, y2)]
        grew = tuple(c for c in both if book.billed(c, y2) > book.billed(c, y1))
        tops = sorted((i.total for i in book.invoices if i.issued.year == y2), reverse=True)
        if 0 < len(grew) < len(both) and tops[0] != tops[1]:
            break
    files: list[tuple[str, str | bytes]] = []
    texts: dict[str, str | bytes] = {}
    shown: dict[str, tuple[MoneyFormat, str]] = {}
    for inv in book.invoices:
        fmt, datefmt = rng.choice(style.money), rng.choice(style.dates)
        shown[inv.number] = (fmt, datefmt)
        texts[inv.path] = render(_doc(inv, style, names, fmt, datefmt), inv.path.rsplit(".", 1)[1])
        files.append((inv.path, texts[inv.path]))
    files.append((style.register, _register(book, style)))
    files.append((style.payments, _payments(book, style)))

    q = style.questions
    numbers = tuple(i.number for i in book.invoices)
    regular = [i for i in book.invoices if not i.corrects]
    out: list[Question] = []

    def add(qtype: str, family: str, expected, kind, fields: dict, **extra) -> None:
        out.append(Question(qtype, family, ask(rng, q, qtype, **fields), expected, kind, "invoices", **extra))

    credit = rng.choice([i for i in book.invoices if i.corrects])
    client, year = credit.client, credit.issued.year
    add("client_year_total", "aggregate", float(book.billed(client, year)), "number", {"client": client, "year": year}, source=style.register)
    add("year_total", "aggregate", float(book.billed(None, y1)), "number", {"year": y1}, source=style.register)
    add("largest", "aggregate", float(tops[0]), "number", {"year": y2}, source=style.register)
    counted = rng.choice(both)
    add("count_client", "aggregate", float(sum(i.client == counted and i.issued.year == y2 for i in regular)), "number",
        {"client": counted, "year": y2}, source=style.register)
    add("both_years", "enumerate", tuple(both), "set", {"y1": y1, "y2": y2}, universe=book.clients, source=style.register)
    add("grew", "compare", grew, "set", {"y1": y1, "y2": y2}, universe=book.clients, source=style.register)
    top = max(book.clients, key=lambda c: book.billed(c, y1))
    add("top_client", "compare", top, "text", {"year": y1}, source=style.register)

    picked = rng.sample(regular[:-6], 3)
    for qtype, inv in zip(("due", "tax", "paid_on"), picked, strict=True):
        fmt, datefmt = shown[inv.number]
        if qtype == "due":
            expected, needle, kind = inv.due.isoformat(), day(inv.due, datefmt), "date"
        elif qtype == "tax":
            expected, needle, kind = float(inv.tax), money(inv.tax, fmt), "number"
        else:
            expected, needle, kind = book.payments[inv.number].isoformat(), "", "date"
        path = style.payments if qtype == "paid_on" else inv.path
        add(qtype, "lookup", expected, kind, {"number": inv.number}, cite=(path,), source=where(path, texts.get(path, b""), needle))
    unpaid = tuple(i.number for i in book.unpaid())
    add("unpaid", "enumerate", unpaid, "set", {}, universe=numbers, source=style.payments)
    original = next(i for i in book.invoices if i.number == credit.corrects)
    fmt, _ = shown[original.number]
    add("credit_source", "cross_ref", float(original.total), "number", {"number": credit.number},
        cite=(credit.path, original.path), source=where(original.path, texts[original.path], money(original.total, fmt)))
    gone = book.clients[0]  # billed in the first year only
    add("absent_year", "absent", "", "absent", {"client": gone, "year": y2},
        universe=tuple(i.number for i in book.invoices if i.client == gone), searched=(gone, str(y2)))
    no_po = rng.choice([i for i in regular if not i.po])
    add("absent_po", "absent", "", "absent", {"number": no_po.number},
        universe=tuple(i.po for i in book.invoices if i.po), searched=(no_po.number,), cite=(no_po.path,))
    return files, out, book


DEV = InvoiceStyle(
    path="invoices/{year}/{number}.{ext}",
    register="invoices/exports/ledger.csv",
    payments="invoices/exports/payments.xlsx",
    number="INV-{year}-{seq:03d}",
    credit_number="CN-{year}-{seq:02d}",
    po="PO-{n}",
    title="INVOICE",
    credit_title="CREDIT NOTE",
    labels={"seller": "From", "bill_to": "Bill to", "number": "Invoice number", "date": "Invoice date",
            "due": "Due date", "po": "PO number", "corrects": "Credit against invoice", "item": "Description",
            "qty": "Qty", "price": "Unit price", "amount": "Line total", "subtotal": "Subtotal",
            "tax": "Sales tax ({rate}%)", "total": "Total"},
    terms="Payment terms: net {days} days. Thank you for your business!",
    terms_days=30,
    tax_rate=Decimal("0.0825"),
    items=("Logo design", "Brand guidelines", "Website mockups", "Photography (hours)", "Copywriting (hours)",
           "Print layout", "Social media templates", "Design consultation (hours)", "Packaging artwork"),
    credit_reasons=("Discount agreed after review", "Refund for cancelled session", "Correction of hours billed"),
    money=(MoneyFormat("$", ",", ".", ""), MoneyFormat("USD ", "", ".", ""), MoneyFormat("", ",", ".", " USD")),
    dates=("{yyyy}-{mm}-{dd}", "{month} {d}, {yyyy}", "{mon} {d}, {yyyy}"),
    csv_delimiter=",",
    csv_decimal=".",
    csv_date="{yyyy}-{mm}-{dd}",
    csv_header=("invoice", "date", "client", "type", "subtotal", "tax", "total"),
    csv_kinds=("invoice", "credit note"),
    xlsx_sheet="Payments",
    xlsx_header=("Received", "Invoice", "Client", "Amount (USD)"),
    xlsx_date="yyyy-mm-dd",
    questions={
        "client_year_total": ("How much did we invoice {client} in {year}, tax included and net of credit notes?",
                              "What was {client}'s total billing for {year} (with tax, after credit notes)?"),
        "year_total": ("What is the total of all invoices issued in {year}, including tax and minus credit notes?",),
        "largest": ("What was the largest single invoice total in {year}?",
                    "What's the biggest invoice we sent in {year}? Give its total."),
        "count_client": ("How many invoices did {client} receive in {year}? Don't count credit notes.",),
        "both_years": ("Which clients were invoiced in both {y1} and {y2}?",),
        "grew": ("Of the clients billed in both {y1} and {y2}, which were billed more in {y2}?",),
        "top_client": ("Which client did we bill the most in {year}?",),
        "due": ("When is invoice {number} due?", "What is the due date on invoice {number}?"),
        "tax": ("How much tax was charged on invoice {number}?",),
        "paid_on": ("On what date did the payment for invoice {number} come in?",),
        "unpaid": ("Which invoices are still unpaid?", "Which invoices have no payment recorded yet?"),
        "credit_source": ("Credit note {number} corrects an earlier invoice. What was that invoice's total?",),
        "absent_year": ("What was the total of the invoice we sent {client} in {year}?",),
        "absent_po": ("What purchase order number is quoted on invoice {number}?",),
    },
)

HELD_OUT = InvoiceStyle(
    path="billing/{number}.{ext}",
    register="billing/export/register.csv",
    payments="billing/export/receipts.xlsx",
    number="FAC-{yy}{seq:03d}",
    credit_number="CM-{yy}{seq:03d}",
    po="BST/{n}",
    title="Bill",
    credit_title="Credit memo",
    labels={"seller": "Issued by", "bill_to": "Customer", "number": "Bill no.", "date": "Issue date",
            "due": "Pay by", "po": "Your order ref.", "corrects": "Adjusts bill", "item": "Service",
            "qty": "Units", "price": "Rate", "amount": "Net", "subtotal": "Net amount",
            "tax": "VAT {rate}%", "total": "Amount due"},
    terms="Please settle within {days} days of the issue date.",
    terms_days=14,
    tax_rate=Decimal("0.21"),
    items=("Strategy workshop", "Market analysis", "Process audit", "Interim management (days)",
           "Training session", "Travel expenses", "Board presentation", "Supplier negotiation (days)",
           "Quarterly review"),
    credit_reasons=("Goodwill reduction", "Fee adjustment", "Day not performed"),
    money=(MoneyFormat("", " ", ",", " €"), MoneyFormat("EUR ", ".", ",", ""), MoneyFormat("€", ".", ",", "")),
    dates=("{dd}.{mm}.{yyyy}", "{d} {month} {yyyy}", "{d} {mon} {yyyy}"),
    csv_delimiter=";",
    csv_decimal=",",
    csv_date="{dd}.{mm}.{yyyy}",
    csv_header=("Document", "Issued", "Customer", "Kind", "Net", "VAT", "Gross"),
    csv_kinds=("bill", "memo"),
    xlsx_sheet="Receipts",
    xlsx_header=("Booked on", "Bill", "Customer", "Paid EUR"),
    xlsx_date="dd.mm.yyyy",
    questions={
        "client_year_total": ("In {year}, what did {client} owe us altogether, VAT included, once credit memos are deducted?",
                              "Give the {year} gross billing for {client}, credit memos subtracted."),
        "year_total": ("Summing every bill and credit memo dated {year}, what is the gross amount?",),
        "largest": ("In {year}, how large was our biggest single bill (gross)?",),
        "count_client": ("Excluding credit memos, how many bills went to {client} during {year}?",),
        "both_years": ("Name the customers that got bills in {y1} as well as in {y2}.",),
        "grew": ("Among customers billed in {y1} and {y2} alike, whose gross billing rose in {y2}?",),
        "top_client": ("Who was our biggest customer by gross billing in {year}?",),
        "due": ("By which date must bill {number} be paid?",),
        "tax": ("What VAT amount appears on bill {number}?",),
        "paid_on": ("When was bill {number} settled, according to the receipts workbook?",),
        "unpaid": ("List the bills that have not been settled.", "Which bills are we still waiting to be paid for?"),
        "credit_source": ("Credit memo {number} adjusts an older bill; how much was that older bill's gross total?",),
        "absent_year": ("How much was the bill to {client} dated {year}?",),
        "absent_po": ("Which customer order reference does bill {number} carry?",),
    },
)
