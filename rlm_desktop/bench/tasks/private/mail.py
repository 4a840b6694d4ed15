"""The e-mail of one project, exported as an ``.mbox`` file or a folder of ``.eml`` files:
a kickoff, a choice made by mail, a file sent as an attachment, a question raised and
never settled, status updates, and a client's accountant writing about an invoice."""

from __future__ import annotations

import mailbox
import random
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from rlm_desktop.bench.tasks.private.invoices import Book
from rlm_desktop.bench.tasks.private.names import Names
from rlm_desktop.bench.tasks.private.question import Question, ask, where
from rlm_desktop.bench.tasks.private.render import slug


@dataclass(frozen=True)
class MailStyle:
    layout: str  # "mbox": one file; "eml": one file per message
    path: str  # "{project}" and, for eml, "{n}" and "{subject}"
    utc_offset: int  # hours: the time zone the Date headers are written in
    reply: str  # the subject prefix of a reply
    subjects: Mapping[str, str]
    bodies: Mapping[str, tuple[str, ...]]
    signature: str
    choices: tuple[tuple[str, str, str], ...]  # (topic, option, option)
    open_topics: tuple[str, ...]  # raised by mail and never decided
    attachments: tuple[tuple[str, str], ...]  # (what it is, file name)
    questions: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Mail:
    when: datetime
    sender: tuple[str, str]  # (display name, address)
    to: tuple[str, str]
    subject: str
    body: str
    attachment: tuple[str, str] = ("", "")  # (file name, content)
    thread: str = ""


def _message(mail: Mail, n: int, domain: str, thread_ids: dict[str, str]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{mail.sender[0]} <{mail.sender[1]}>"
    msg["To"] = f"{mail.to[0]} <{mail.to[1]}>"
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(mail.when)
    msg["Message-ID"] = f"<msg-{n:03d}@{domain}>"
    if mail.thread in thread_ids:
        msg["In-Reply-To"] = thread_ids[mail.thread]
    else:
        thread_ids[mail.thread] = msg["Message-ID"]
    msg.set_content(mail.body, cte="7bit")  # readable as it stands, as most clients send plain ASCII
    if mail.attachment[0]:
        msg.add_attachment(mail.attachment[1], subtype="csv", filename=mail.attachment[0])
        msg.set_boundary(f"==part-{n:03d}==")  # the email package draws a random one
    return msg


def _mbox(messages: Sequence[tuple[Mail, EmailMessage]]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        box = mailbox.mbox(Path(tmp) / "export.mbox")
        for mail, msg in messages:
            entry = mailbox.mboxMessage(msg)
            entry.set_from(mail.sender[1], mail.when.astimezone(UTC).timetuple())
            box.add(entry)
        box.close()
        return (Path(tmp) / "export.mbox").read_text(encoding="utf-8")


def generate(rng: random.Random, style: MailStyle, names: Names, project: str, team: Sequence[tuple[str, str]],
             contact: tuple[str, str], book: Book) -> tuple[list[tuple[str, str | bytes]], list[Question], datetime]:
    """``team`` is (first, last) of the people on the project, the owner first; ``contact``
    is the accountant of the client whose unpaid invoice one mail is about."""
    tz = timezone(timedelta(hours=style.utc_offset))
    invoice = rng.choice(book.unpaid())
    client = invoice.client
    people = [(f"{f} {last}", f"{f}.{last}@{names.domain}".lower()) for f, last in team]
    owner, members = people[0], people[1:]
    accountant = (f"{contact[0]} {contact[1]}", f"{contact[0][0]}{contact[1]}@{slug(client)}.example".lower())
    start = datetime(invoice.issued.year, invoice.issued.month, invoice.issued.day, 9, 0, tzinfo=tz) - timedelta(days=20)
    topic, *options = rng.choice(style.choices)
    open_topic = rng.choice(style.open_topics)
    doc, filename = rng.choice(style.attachments)
    proposer, backer, decider, sender, asker = rng.sample(members, 4) + [rng.choice(members)]
    choice = rng.choice(options)
    b = style.bodies
    f = {"project": project, "topic": topic, "a": options[0], "b": options[1], "choice": choice, "doc": doc,
         "file": filename, "open": open_topic, "number": invoice.number, "client": client, "owner": owner[0].split()[0]}

    def body(key: str, who: tuple[str, str], **more: str) -> str:
        text = rng.choice(b[key]).format(**f, **more)
        return text + "\n\n" + style.signature.format(name=who[0], business=names.business, client=client) + "\n"

    subject = {k: (v.format(**f)[:1].upper() + v.format(**f)[1:]) for k, v in style.subjects.items()}
    script: list[tuple[str, tuple[str, str], str, tuple[str, str]]] = [  # (thread, sender, body key, attachment)
        ("kickoff", owner, "kickoff", ("", "")),
        *[("kickoff", m, "ack", ("", "")) for m in rng.sample(members, 2)],
        ("choice", proposer, "propose", ("", "")),
        ("choice", backer, "prefer", ("", "")),
        ("choice", decider, "decide", ("", "")),
        ("attach", sender, "attach", (filename, rng.choice(b["attachment_content"]))),
        ("open", asker, "open", ("", "")),
        *[("open", m, "open_reply", ("", "")) for m in rng.sample([m for m in members if m != asker], 2)],
        *[(f"update{i}", rng.choice(people), "update", ("", "")) for i in range(rng.randrange(4, 9))],
    ]
    mails: list[Mail] = []
    when = start
    for thread, who, key, attachment in script:
        when += timedelta(hours=rng.randrange(3, 50), minutes=rng.randrange(60))
        if not 8 <= when.hour < 18:  # office hours, so the mbox "From " line (UTC) falls on the same day
            when = when.replace(hour=8) + timedelta(days=when.hour >= 18)
        to = owner if who != owner else rng.choice(members)
        subj = subject[thread.rstrip("0123456789")]
        if any(m.thread == thread for m in mails):
            subj = style.reply + subj
        mails.append(Mail(when, who, to, subj, body(key, who), attachment, thread))
    billed = start + timedelta(days=20 + rng.randrange(2, 7), hours=rng.randrange(1, 8))
    mails.append(Mail(billed, accountant, owner, subject["billing"], body("billing", accountant), ("", ""), "billing"))
    mails.sort(key=lambda m: m.when)

    thread_ids: dict[str, str] = {}
    messages = [(m, _message(m, n, names.domain, thread_ids)) for n, m in enumerate(mails, 1)]
    files: list[tuple[str, str | bytes]] = []
    where_mail: dict[int, str] = {}
    if style.layout == "mbox":
        path = style.path.format(project=slug(project))
        files.append((path, _mbox(messages)))
        where_mail = {id(m): path for m in mails}
    else:
        for n, (m, msg) in enumerate(messages, 1):
            path = style.path.format(project=slug(project), n=n, subject=slug(m.subject))
            files.append((path, msg.as_bytes().decode("utf-8")))
            where_mail[id(m)] = path
    text = {p: t for p, t in files}

    q = style.questions
    out: list[Question] = []
    decision = next(m for m in mails if m.thread == "choice" and m.sender == decider)
    dpath = where_mail[id(decision)]
    fragment = decision.body.split("\n")[0][:40]
    out.append(Question("decided_by", "lookup", ask(rng, q, "decided_by", topic=topic), decider[0], "text", "project",
                        accept=(decider[0].split()[-1],), cite=(dpath,), source=where(dpath, text[dpath], fragment)))
    out.append(Question("decided_on", "lookup", ask(rng, q, "decided_on", topic=topic), decision.when.date().isoformat(),
                        "date", "project", cite=(dpath,), source=where(dpath, text[dpath], fragment)))
    sent = next(m for m in mails if m.attachment[0])
    apath = where_mail[id(sent)]
    out.append(Question("attachment", "lookup", ask(rng, q, "attachment", person=sent.sender[0], doc=doc), filename, "text",
                        "project", cite=(apath,), source=where(apath, text[apath], filename)))
    counts = Counter(m.sender[0] for m in mails)
    busy = rng.choice(sorted(name for name, c in counts.items() if c >= 2))
    out.append(Question("count_from", "aggregate", ask(rng, q, "count_from", person=busy), float(counts[busy]), "number", "project"))
    in_thread = {m.sender[0] for m in mails if m.thread == "open"}
    bystanders = tuple(p[0] for p in people if p[0] not in in_thread)
    out.append(Question("absent_decision", "absent", ask(rng, q, "absent_decision", open=open_topic), "", "absent", "project",
                        universe=bystanders, searched=(open_topic,)))
    bill = next(m for m in mails if m.thread == "billing")
    bpath = where_mail[id(bill)]
    out.append(Question("mail_invoice", "cross_ref", ask(rng, q, "mail_invoice", person=accountant[0], client=client),
                        float(invoice.total), "number", "desk", cite=(bpath, invoice.path), source=where(invoice.path, b"", "")))
    return files, out, start


DEV = MailStyle(
    layout="mbox",
    path="mail/{project}.mbox",
    utc_offset=-5,
    reply="Re: ",
    subjects={"kickoff": "{project} - kickoff", "choice": "{project}: choosing the {topic}", "attach": "{project}: {doc}",
              "open": "{project}: should we {open}?", "update": "{project} status update", "billing": "Invoice {number}"},
    bodies={
        "kickoff": ("Hi all,\n\nWelcome to the {project}. Our first sync is next Monday; the notes will go in the "
                    "shared meetings folder.",),
        "ack": ("Sounds good, see you then.", "Thanks {owner}, works for me."),
        "propose": ("For the {topic} I see two candidates: {a} and {b}. {a} is cheaper, {b} is faster. Views?",),
        "prefer": ("I'd lean towards {b}, but I am happy either way.", "No strong view here; {a} did good work for us before."),
        "decide": ("Thanks both. Decision: we go with {choice} for the {topic}. Please plan accordingly.",
                   "I have weighed it up and we will use {choice} for the {topic}. That is final."),
        "attach": ("Hi team,\n\nAttached is {doc} ({file}). Comments by Friday, please.",),
        "attachment_content": ("item,owner,estimate\nresearch,team,12\ndesign,studio,30\nreview,client,4\n",),
        "open": ("Should we {open}? I'm not convinced either way.",),
        "open_reply": ("Good question - let's talk it through at the next sync.", "Hard to say until we see the numbers."),
        "update": ("Quick update: the first drafts are done.", "Status: we are on track for the next milestone.",
                   "Update from my side: still waiting on feedback from the client."),
        "billing": ("Hello {owner},\n\nWe received invoice {number} and it is now with our accounts team for approval. "
                    "Payment should follow within two weeks.",),
    },
    signature="--\n{name}\n{business}",
    choices=(("print supplier", "Inkwell Print", "FastPress"), ("hosting provider", "Bluehost Pro", "NimbusWeb"),
             ("photo shoot location", "the riverside studio", "the old mill")),
    open_topics=("move the launch to spring", "hire a freelance illustrator", "drop the print edition"),
    attachments=(("the budget draft", "budget-draft-v2.csv"), ("the shot list", "shot-list-final.csv"),
                 ("the content plan", "content-plan-v3.csv")),
    questions={
        "decided_by": ("Who made the final call by e-mail on the {topic}?", "Who decided, by mail, which {topic} we would use?"),
        "decided_on": ("On what date was the {topic} decided by e-mail?",),
        "attachment": ("What is the name of the file {person} attached when sending {doc}?",),
        "count_from": ("How many e-mails did {person} send in this export?",),
        "absent_decision": ("Who decided by e-mail whether to {open}?",),
        "mail_invoice": ("{person} from {client} e-mailed about one of our invoices. What is the total of that invoice?",),
    },
)

HELD_OUT = MailStyle(
    layout="eml",
    path="mailarchive/{project}/{n:03d}_{subject}.eml",
    utc_offset=1,
    reply="AW: ",
    subjects={"kickoff": "Start of {project}", "choice": "Selecting a {topic} ({project})", "attach": "{doc} for {project}",
              "open": "Question: {open}?", "update": "Progress note - {project}", "billing": "Query regarding bill {number}"},
    bodies={
        "kickoff": ("Dear colleagues,\n\nthe {project} starts this week. A weekly steering call is planned; minutes "
                    "are filed with the other meeting records.",),
        "ack": ("Noted, thank you.", "Perfect, {owner} - count me in."),
        "propose": ("Two offers are on the table for the {topic}: {a} and {b}. Please share your preference.",),
        "prefer": ("{b} looks stronger to me.", "Either is fine by me, although {a} answered faster."),
        "decide": ("Having read all replies: {choice} it is, for the {topic}. Let us proceed on that basis.",
                   "To close this thread - we select {choice} as {topic}."),
        "attach": ("Hello,\n\nplease find {doc} enclosed as {file}. Feedback welcome until Thursday.",),
        "attachment_content": ("position;responsible;days\nkick-off;all;1\nfieldwork;consultants;8\nreport;lead;3\n",),
        "open": ("I wonder whether we should {open}. Opinions?",),
        "open_reply": ("Let us put it on the agenda of the steering call.", "I would wait for the budget figures first."),
        "update": ("Progress: interviews completed.", "Small note: the schedule still holds.",
                   "From my end: the draft report is with the reviewers."),
        "billing": ("Dear {owner},\n\nwe are checking bill {number} internally before releasing the transfer. "
                    "You will hear from us shortly.",),
    },
    signature="Regards\n{name} | {business}",
    choices=(("venue for the launch event", "Hotel Seeblick", "Kulturhaus Mitte"),
             ("translation agency", "Polyglot Partners", "Verba Studio"),
             ("booking software vendor", "Reservo", "Dockmaster")),
    open_topics=("postpone the pilot by a month", "bring in an external auditor", "cut the second workshop"),
    attachments=(("the cost estimate", "cost-estimate_rev4.csv"), ("the attendee list", "attendees_2nd-draft.csv"),
                 ("the risk register", "risk-register_v7.csv")),
    questions={
        "decided_by": ("By mail, whose decision settled the {topic}?", "Which colleague chose the {topic} in the mail thread?"),
        "decided_on": ("Which day did the mail that settled the {topic} go out?",),
        "attachment": ("{person} sent {doc} by e-mail; under which file name?",),
        "count_from": ("Count the messages in the archive whose sender is {person}.",),
        "absent_decision": ("In the mails, who gave the final word on whether to {open}?",),
        "mail_invoice": ("A bill was queried by {person} ({client}) in a message. How much is that bill in total?",),
    },
)
