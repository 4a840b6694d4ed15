"""Notes of a project's recurring meeting, kept by whoever took the minutes: the people
present written several ways (initials, full names, "Surname, First", first names only),
apologies, decisions and action items with owners and due dates."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from rlm_desktop.bench.tasks.private.question import Question, ask, where
from rlm_desktop.bench.tasks.private.render import Doc, Heading, day, render

Person = tuple[str, str]  # (first, last)


@dataclass(frozen=True)
class MeetingStyle:
    path: str  # date fields as in ``render.day`` and "{ext}"
    formats: tuple[str, ...]
    weekday: int  # 0 = Monday
    title: str  # "{project}"
    date_label: str
    present_labels: tuple[str, ...]
    apologies_label: str
    minutes_label: str
    headings: tuple[str, str, str]  # discussion, decisions, actions
    name_forms: tuple[str, ...]  # fields: first, last, f0, l0, LAST, first_lower, last_lower
    separators: tuple[str, ...]  # between names, when no name form has a comma
    decision_line: str  # "{decision}"
    action_line: str  # "{owner}", "{task}", "{due}"
    topics: tuple[str, ...]  # discussion points
    decisions: tuple[str, ...]
    verbs: tuple[str, ...]  # action items are verb + object, each used once
    objects: tuple[str, ...]
    dates: tuple[str, ...]
    questions: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Meeting:
    held: date
    present: tuple[Person, ...]
    absent: tuple[Person, ...]
    minutes: Person | None
    decisions: tuple[str, ...]
    actions: tuple[tuple[str, Person, date], ...]  # (task, owner, due)
    path: str


def _name(p: Person, form: str) -> str:
    first, last = p
    return form.format(first=first, last=last, f0=first[0], l0=last[0], LAST=last.upper(),
                       first_lower=first.lower(), last_lower=last.lower())


def _plan(rng: random.Random, style: MeetingStyle, team: Sequence[Person], start: date) -> list[Meeting]:
    held = start + timedelta((style.weekday - start.weekday()) % 7)
    n = rng.randrange(10, 16)
    regulars = set(rng.sample(list(team), rng.randrange(1, 3)))
    misses = {p: {rng.randrange(n)} for p in team if p not in regulars}  # everyone else misses at least once
    tasks = [f"{v} {o}" for v in style.verbs for o in style.objects]
    rng.shuffle(tasks)
    decisions = rng.sample(style.decisions, len(style.decisions))
    no_minutes = rng.randrange(1, n)
    meetings = []
    for i in range(n):
        when = held + timedelta(weeks=i)
        present = tuple(p for p in team if p in regulars or (i not in misses[p] and rng.random() < 0.8))
        absent = tuple(p for p in team if p not in present)
        decided = (decisions.pop(),) if decisions and rng.random() < 0.5 else ()
        actions = tuple((tasks.pop(), rng.choice(present), when + timedelta(rng.randrange(5, 22))) for _ in range(rng.randrange(1, 4)))
        minutes = None if i == no_minutes else rng.choice(present)
        ext = rng.choice(style.formats)
        meetings.append(Meeting(when, present, absent, minutes, decided, actions, style.path.format(
            yyyy=f"{when.year:04d}", yy=f"{when.year % 100:02d}", mm=f"{when.month:02d}", dd=f"{when.day:02d}", ext=ext)))
    return meetings


def _doc(m: Meeting, style: MeetingStyle, project: str, rng: random.Random) -> Doc:
    forms = rng.sample(style.name_forms, rng.randrange(1, 3))
    named = {p: _name(p, rng.choice(forms)) for p in m.present + m.absent}
    sep = "; " if any("," in f for f in forms) else rng.choice(style.separators)
    datefmt = rng.choice(style.dates)
    blocks: list[str | Heading] = [f"{style.date_label}: {day(m.held, datefmt)}",
                                   f"{rng.choice(style.present_labels)}: {sep.join(named[p] for p in m.present)}"]
    if m.absent:
        blocks.append(f"{style.apologies_label}: {sep.join(named[p] for p in m.absent)}")
    if m.minutes:
        blocks.append(f"{style.minutes_label}: {named[m.minutes]}")
    blocks.append(Heading(style.headings[0]))
    blocks += [f"- {t}" for t in rng.sample(style.topics, 2)]
    if m.decisions:
        blocks.append(Heading(style.headings[1]))
        blocks += [style.decision_line.format(decision=d) for d in m.decisions]
    blocks.append(Heading(style.headings[2]))
    blocks += [style.action_line.format(owner=named[o], task=t, due=day(due, datefmt)) for t, o, due in m.actions]
    return Doc(style.title.format(project=project), tuple(blocks), m.held)


def generate(rng: random.Random, style: MeetingStyle, project: str, team: Sequence[Person], start: date) -> tuple[list[tuple[str, str | bytes]], list[Question]]:
    meetings = _plan(rng, style, team, start)
    files: list[tuple[str, str | bytes]] = []
    text: dict[str, str | bytes] = {}
    for m in meetings:
        text[m.path] = render(_doc(m, style, project, rng), m.path.rsplit(".", 1)[1])
        files.append((m.path, text[m.path]))

    q = style.questions
    surnames = tuple(p[1] for p in team)
    full = {p: f"{p[0]} {p[1]}" for p in team}
    out: list[Question] = []

    def add(qtype: str, family: str, expected, kind, fields: dict, **extra) -> None:
        out.append(Question(qtype, family, ask(rng, q, qtype, **fields), expected, kind, "project", **extra))

    always = tuple(p[1] for p in team if all(p in m.present for m in meetings))
    add("every_meeting", "aggregate", always, "set", {}, universe=surnames)
    missed = Counter(p for m in meetings for p in m.absent)
    p = rng.choice(sorted(missed))
    add("missed_count", "aggregate", float(missed[p]), "number", {"person": full[p]})
    m = rng.choice(meetings)
    task, owner, due = rng.choice(m.actions)
    add("action_owner", "lookup", full[owner], "text", {"task": task}, accept=owner[::-1], cite=(m.path,),
        source=where(m.path, text[m.path], task))
    m = rng.choice([x for x in meetings if x is not m])
    task, owner, due = rng.choice(m.actions)
    add("action_due", "lookup", due.isoformat(), "date", {"task": task}, cite=(m.path,), source=where(m.path, text[m.path], task))
    m = rng.choice([x for x in meetings if x.decisions])
    add("decision_date", "lookup", m.held.isoformat(), "date", {"decision": m.decisions[0]}, cite=(m.path,),
        source=where(m.path, text[m.path], m.decisions[0]))
    m = next(x for x in meetings if x.minutes is None)
    # no universe: a good reply may name who was present or sent apologies, which is the whole team
    add("absent_minutes", "absent", "", "absent", {"date": day(m.held, style.dates[0])},
        searched=(style.minutes_label.lower(),), cite=(m.path,))
    return files, out


DEV = MeetingStyle(
    path="meetings/{yyyy}-{mm}-{dd}-weekly-sync.{ext}",
    formats=("md", "md", "txt"),
    weekday=0,
    title="{project} - weekly sync",
    date_label="Date",
    present_labels=("Attendees", "Present"),
    apologies_label="Apologies",
    minutes_label="Minutes",
    headings=("Discussion", "Decisions", "Actions"),
    name_forms=("{f0}. {last}", "{first} {last}", "{last}, {first}", "{first}"),
    separators=(", ", "; "),
    decision_line="DECISION: {decision}.",
    action_line="ACTION: {owner} to {task} by {due}",
    topics=("Progress since last week", "Client feedback on the drafts", "Budget check", "Risks and blockers",
            "Timeline for the next milestone", "Staffing over the holidays"),
    decisions=("move the review meetings to Thursdays", "use the blue colour scheme", "freeze the scope after the second draft",
               "hire a part-time copywriter", "send weekly status mails to the client", "skip the print proofs"),
    verbs=("send", "review", "update", "book", "draft", "check"),
    objects=("the client presentation", "the budget sheet", "the style guide", "the launch checklist",
             "the supplier quotes", "the photo brief", "the project timeline", "the risk log"),
    dates=("{yyyy}-{mm}-{dd}", "{month} {d}, {yyyy}"),
    questions={
        "every_meeting": ("Who attended every meeting?", "Which people were at all of the weekly syncs?"),
        "missed_count": ("How many meetings did {person} miss?",),
        "action_owner": ("Who was given the action to {task}?",),
        "action_due": ("By when was someone supposed to {task}?",),
        "decision_date": ("At the meeting of which date was it decided to {decision}?",),
        "absent_minutes": ("Who took the minutes at the meeting on {date}?",),
    },
)

HELD_OUT = MeetingStyle(
    path="minutes/steering-call_{dd}{mm}{yy}.{ext}",
    formats=("txt", "docx", "txt"),
    weekday=2,
    title="Steering call minutes ({project})",
    date_label="Held on",
    present_labels=("Participants", "In attendance"),
    apologies_label="Regrets",
    minutes_label="Minute taker",
    headings=("Topics", "Resolutions", "Follow-ups"),
    name_forms=("{LAST} {first}", "{first} {l0}.", "{first_lower}.{last_lower}", "{last}"),
    separators=(" / ", ", "),
    decision_line="Agreed: {decision}.",
    action_line="[ ] {task} -- owner: {owner}, due {due}",
    topics=("Status per work package", "Open invoices and budget burn", "Stakeholder questions", "Quality issues",
            "Upcoming deadlines", "Lessons learned"),
    decisions=("report to the board every quarter", "extend the interview phase", "switch to a shared task board",
               "invite the works council to the next call", "publish minutes within two days", "pause the vendor search"),
    verbs=("prepare", "circulate", "revise", "schedule", "collect", "confirm"),
    objects=("the stakeholder map", "the cost forecast", "the interview guide", "the workshop agenda",
             "the data request", "the steering slides", "the change log", "the travel plan"),
    dates=("{d} {month} {yyyy}", "{dd}.{mm}.{yyyy}"),
    questions={
        "every_meeting": ("Name everyone who was present at all steering calls.",),
        "missed_count": ("From how many steering calls was {person} absent?",),
        "action_owner": ("Whose follow-up was it to {task}?",),
        "action_due": ("What deadline was set to {task}?",),
        "decision_date": ("On which day did the steering call agree to {decision}?",),
        "absent_minutes": ("Which person wrote the minutes of the {date} call?",),
    },
)
