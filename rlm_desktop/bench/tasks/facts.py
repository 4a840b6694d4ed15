"""A folder of essays with facts planted in it: one-step lookups, two-step lookups (the
fact that answers is found through a name the first fact gives) and questions whose answer
is not in the folder at all."""

from __future__ import annotations

import random
from collections.abc import Sequence

from rlm_desktop.bench.essays import Essay
from rlm_desktop.bench.tasks.base import (
    CHARS_PER_TOKEN,
    Corpus,
    Task,
    essay_excerpt,
    insert_sentence,
    size_label,
    wrap,
)
from rlm_desktop.bench.tasks.needle import CITIES

COLORS = ("amber", "teal", "crimson", "violet", "ochre", "indigo", "olive", "silver", "coral", "maroon", "ivory", "jade")
PEOPLE = (
    "Ada Okafor", "Bruno Lindqvist", "Chiara Benedetti", "Dmitri Volkov", "Esther Mwangi", "Farid Haddad",
    "Greta Sorensen", "Hiro Tanaka", "Ines Carvalho", "Jonas Weber", "Kemal Aydin", "Lena Novak",
    "Marta Kowalska", "Nikhil Rao", "Olga Petrova", "Pablo Ortega", "Quinn Gallagher", "Rosa Jimenez",
    "Soren Dahl", "Tamar Levi", "Umar Sheikh", "Vera Horvat", "Wanjiru Kamau", "Yusuf Demir",
)
FRUITS = ("mango", "quince", "lychee", "persimmon", "gooseberry", "papaya", "apricot", "damson", "guava", "kumquat")
SHIPS = ("Northern Star", "Sea Lark", "Blue Heron", "Iron Gull", "Morning Tide", "Silver Wake", "Red Petrel", "Quiet Swan")
PORTS = ("Valparaiso", "Gdansk", "Mombasa", "Halifax", "Porto", "Tromso", "Durban", "Busan", "Cadiz", "Hobart")
CODENAMES = ("Bluebird", "Granite", "Lantern", "Marigold", "Obsidian", "Pinecone", "Saffron", "Tundra", "Vesper", "Zephyr", "Harbor", "Juniper")


def _lookup_facts(rng: random.Random, n: int) -> list[tuple[str, str, str | float, str]]:
    """(sentence, question, answer, kind) for ``n`` one-step facts with distinct keys."""
    cities = rng.sample(CITIES, n)
    colors = rng.sample(COLORS, n)
    people = rng.sample(PEOPLE[:12], n)
    ships = rng.sample(SHIPS, min(n, len(SHIPS)))
    facts = []
    for i in range(n):
        shape = i % 4
        if shape == 0:
            num = rng.randrange(1_000_000, 10_000_000)
            facts.append((f"The special magic number for {cities[i]} is {num}.", f"What is the special magic number for {cities[i]}?", float(num), "number"))
        elif shape == 1:
            code = rng.randrange(10_000, 100_000)
            facts.append((f"The access code for the {colors[i]} locker is {code}.", f"What is the access code for the {colors[i]} locker?", float(code), "number"))
        elif shape == 2:
            fruit = FRUITS[rng.randrange(len(FRUITS))]
            facts.append((f"{people[i]}'s favourite fruit is the {fruit}.", f"What is {people[i]}'s favourite fruit?", fruit, "text"))
        else:
            ship = ships[i % len(ships)]
            port = PORTS[rng.randrange(len(PORTS))]
            facts.append((f"The ship {ship} sailed from the port of {port}.", f"From which port did the ship {ship} sail?", port, "text"))
    return facts


def facts_tasks(essays: Sequence[Essay], size_tokens: int, seed: int, n: int = 10) -> list[Task]:
    """``n`` lookup, ``n`` multi-step and ``n`` absent questions over one folder of about
    ``size_tokens`` tokens."""
    rng = random.Random(f"facts:{size_tokens}:{seed}")
    file_chars = 3000 if size_tokens <= 16_000 else 8000
    n_files = max(4, int(size_tokens * CHARS_PER_TOKEN) // file_chars)
    files: list[list[str]] = []
    total = 0
    while total < size_tokens * CHARS_PER_TOKEN or len(files) < n_files:
        text = essay_excerpt(essays, rng, file_chars)
        files.append([f"notes/essay-{len(files):03d}.txt", text])
        total += len(text)
    n_files = len(files)

    lookups = _lookup_facts(rng, n)
    # two-step: code name -> leader -> room; colour -> owner -> badge number
    leaders = rng.sample(PEOPLE[12:], n)
    codenames = rng.sample(CODENAMES, n)
    multi: list[tuple[str, str, str, float]] = []
    for i in range(n):
        if i % 2 == 0:
            room = rng.randrange(100, 1000)
            multi.append((
                f"The project codenamed {codenames[i]} is led by {leaders[i]}.",
                f"{leaders[i]} works in room {room}.",
                f"In which room does the leader of the project codenamed {codenames[i]} work?",
                float(room),
            ))
        else:
            badge = rng.randrange(10_000, 100_000)
            multi.append((
                f"The {codenames[i].lower()} filing cabinet belongs to {leaders[i]}.",
                f"{leaders[i]}'s badge number is {badge}.",
                f"What is the badge number of the owner of the {codenames[i].lower()} filing cabinet?",
                float(badge),
            ))

    sentences = [f[0] for f in lookups] + [m[0] for m in multi] + [m[1] for m in multi]
    slots = rng.sample(range(n_files), min(n_files, len(sentences))) if n_files >= len(sentences) else [rng.randrange(n_files) for _ in sentences]
    for sentence, slot in zip(sentences, slots, strict=False):
        files[slot][1] = insert_sentence(files[slot][1], sentence, rng.uniform(0.1, 0.9))
    label = size_label(size_tokens)
    corpus = Corpus(f"facts-{label}-s{seed}", tuple((p, wrap(t)) for p, t in files))

    tasks: list[Task] = []
    for i, (_, question, answer, kind) in enumerate(lookups):
        tasks.append(Task(f"lookup-{label}-s{seed}-{i:02d}", "lookup", question, answer, kind, corpus, label))  # type: ignore[arg-type]
    for i, (_, _, question, answer) in enumerate(multi):
        tasks.append(Task(f"multi_step-{label}-s{seed}-{i:02d}", "multi_step", question, answer, "number", corpus, label))

    used_cities = {q.split("for ")[-1].rstrip("?") for _, q, _, _ in lookups if "magic number" in q}
    used_colors = {c for c in COLORS if any(f"the {c} locker" in s for s in sentences)}
    used_people = {p for p in PEOPLE if any(p in s for s in sentences)}
    used_ships = {s for s in SHIPS if any(s in x for x in sentences)}
    free_cities = [c for c in CITIES if c not in used_cities]
    free_colors = [c for c in COLORS if c not in used_colors]
    free_people = [p for p in PEOPLE if p not in used_people]
    free_ships = [s for s in SHIPS if s not in used_ships] or ["Golden Albatross"]
    all_numbers = tuple(str(int(a)) for _, _, a, k in lookups if k == "number") + tuple(str(int(m[3])) for m in multi)
    for i in range(n):
        shape = i % 4
        if shape == 0:
            key = free_cities[rng.randrange(len(free_cities))]
            question, universe = f"What is the special magic number for {key}?", all_numbers
        elif shape == 1:
            key = free_colors[rng.randrange(len(free_colors))]
            question, universe = f"What is the access code for the {key} locker?", all_numbers
        elif shape == 2:
            key = free_people[rng.randrange(len(free_people))]
            question, universe = f"What is {key}'s favourite fruit?", FRUITS
        else:
            key = free_ships[rng.randrange(len(free_ships))]
            question, universe = f"From which port did the ship {key} sail?", PORTS
        tasks.append(Task(f"absent-{label}-s{seed}-{i:02d}", "absent", question, "not found", "absent", corpus, label, universe=tuple(universe), searched=(key,)))
    return tasks
