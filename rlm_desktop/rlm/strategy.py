"""Choose how to attack a question before the loop starts (issue 10).

The 1.5B root copies the shape of the last worked example it saw (DESIGN.md): with a
lookup example it answers counts from the first page of search hits; with a counting
example it treats a needle as a count. So the engine shows it the examples of one
strategy only, picked here: cheap rules first where they are reliable, then one short
model call for the rest. When the chosen strategy comes back empty (nothing found, an
error, a budget hit), ``fallback`` names the next one to try.

    strategy = choose_strategy(question, backend)      # backend: any Backend, or None
    messages = [system, *strategy.example_messages, user_question]
    ...
    if needs_fallback(finished.answer, finished.status):
        strategy = fallback(strategy, tried={...})
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from rlm_desktop.llm.backend import Backend, GenerationParams, Message

log = logging.getLogger(__name__)

StrategyName = Literal["lookup", "multi_step", "whole_folder_code", "whole_folder_map", "code_question"]
NAMES: tuple[StrategyName, ...] = ("lookup", "multi_step", "whole_folder_code", "whole_folder_map", "code_question")


@dataclass(frozen=True)
class Strategy:
    name: StrategyName
    hints: str  # one or two sentences for the end of the system prompt
    example_messages: tuple[Message, ...]  # worked examples as earlier chat turns
    fallbacks: tuple[StrategyName, ...]
    source: str = "default"  # rule | model | default | fallback
    question: str = ""  # orders the examples: the nearest kind goes last
    answer: str = ""  # the kind of answer the plan asked for (plan.ANSWERS), "" when no plan was made

    @property
    def examples(self) -> str:
        """The same worked examples as plain text, for a system prompt."""
        return "Examples:\n\n" + "\n\n".join(m.content for m in self.example_messages)


# --- worked examples -------------------------------------------------------------------------
# Generic content on purpose: nothing here mirrors a benchmark task (issue 6: no task hints).


def _turns(question: str, *steps: str) -> tuple[Message, ...]:
    """``steps`` alternate: code, output, code, output, ..., final code."""
    messages = [Message("user", f"Question: {question}")]
    for i, step in enumerate(steps):
        messages.append(Message("assistant" if i % 2 == 0 else "user", step))
    return tuple(messages)


_NOT_FOUND = _turns(
    "What is the warranty period of the Zenith blender?",
    "```python\nsearch('Zenith blender warranty')\n```",
    "Output:\nsearch('Zenith blender warranty'): No file contains 'Zenith'; showing 2 files with some of the other words:\n"
    "kitchen/mixer.txt:4: The Vortex [blender] has a two-year [warranty].\nnotes/buy.txt:9: new [blender]?",
    "```python\n# those hits are about other blenders; check the name itself\ngrep(r'zenith')\n```",
    "Output:\ngrep('zenith'): 0 matches",
    "```python\nFINAL('Not found: no file mentions the Zenith blender (search and grep for zenith over all files found nothing; the hits were about the Vortex blender).')\n```",
)

_LOOKUP = _turns(
    "When does the guarantee of the Moonlit kettle end?",
    "```python\nsearch('Moonlit kettle guarantee end')\n```",
    "Output:\nshowing 3 of 3 matching files\nmanuals/kettle.txt:12: The Moonlit kettle is guaranteed until 30 June 2027.\nnotes/kitchen.txt:4: Moonlit kettle: 3 settings.\nnotes/todo.txt:9: descale kettle",
    "```python\nFINAL('30 June 2027 (manuals/kettle.txt:12)')\n```",
)

_MULTI = _turns(
    "What is the radio channel of the captain of the ferry Aurora?",
    "```python\nsearch('captain ferry Aurora')\n```",
    "Output:\nsearch('captain ferry Aurora'): showing 1 of 1 matching files:\ncrew/rota.txt:8: the new rota. The [ferry] [Aurora] is [captained] by Lina Berg since May.\n"
    "The first fact names Lina Berg: search for Lina Berg next to find the answer.",
    "```python\n# the first fact gives a name; now look up that name\nsearch('Lina Berg radio channel')\n```",
    "Output:\nsearch('Lina Berg radio channel'): showing 1 of 2 matching files:\ndirectory/radio.txt:22: [Lina] [Berg] listens on [channel] 4471.",
    "```python\nFINAL('4471: the ferry Aurora is captained by Lina Berg (crew/rota.txt:8), whose radio channel is 4471 (directory/radio.txt:22)')\n```",
)

_COUNT = _turns(
    "How many files mention the supplier Nordwind, and which?",
    "```python\nhits = [f.path for f in files if 'nordwind' in f.text.lower()]\nprint(len(hits), 'of', len(files), 'files:', hits)\n```",
    "Output:\n4 of 52 files: ['orders/a.txt', 'orders/d.txt', 'mail/x.txt', 'mail/y.txt']",
    "```python\nFINAL('4 files: orders/a.txt, orders/d.txt, mail/x.txt, mail/y.txt')\n```",
)

_MOST = _turns(
    "Which breeder appears in the most files?",
    "```python\ntally(r'Breeder: (\\w+ \\w+)|Town: (\\w+)')\n```",
    "Output:\ntally(r'Breeder: (\\w+ \\w+)|Town: (\\w+)'): matched in 31 of 52 files; 7 distinct values, of different kinds (the alternatives share no value). One kind per call:\n"
    "  tally(r'Breeder: (\\w+ \\w+)') counts Oren Vale, Sela Marsh, Tobin Reed, ...\n  tally(r'Town: (\\w+)') counts Kelso, Brora, Alnwick, ...",
    "```python\n# the question asks for a breeder: count only the breeder names\ntally(r'Breeder: (\\w+ \\w+)')\n```",
    "Output:\ntally(r'Breeder: (\\w+ \\w+)'): matched in 31 of 52 files; 3 distinct values:\n  Oren Vale: 12 files\n  Sela Marsh: 11 files\n  Tobin Reed: 8 files\n"
    "21 files have no match; their lines may say it another way, e.g.:\n  litters/b.txt:2: Bred by the breeder Sela Marsh.\n  litters/k.txt:1: Bred by: Oren Vale, registered in spring.\n"
    "To count those too: tally(r'Breeder: (\\w+ \\w+)|the breeder ([A-Z]\\w+ [A-Z]\\w+)|Bred by: ([A-Z]\\w+ [A-Z]\\w+)')",
    "```python\n# count the other phrasings too\ntally(r'Breeder: (\\w+ \\w+)|the breeder ([A-Z]\\w+ [A-Z]\\w+)|Bred by: ([A-Z]\\w+ [A-Z]\\w+)')\n```",
    "Output:\ntally(r'Breeder: (\\w+ \\w+)|the breeder ([A-Z]\\w+ [A-Z]\\w+)|Bred by: ([A-Z]\\w+ [A-Z]\\w+)'): matched in 52 of 52 files; 3 distinct values:\n  Oren Vale: 21 files\n  Sela Marsh: 18 files\n  Tobin Reed: 13 files",
    "```python\nFINAL('Oren Vale (21 of 52 files)')\n```",
)

_MAP = _turns(
    "What is the total rainfall of all the gauges?",
    "```python\nrows = ask_numbers('How much rain did the gauge record?', files)\nrows\n```",
    "Output:\n38 values from 38 files\n  gauges/01.txt: 1250 (ok)\n  gauges/02.txt: 310 (second_pass: first reply 2019: a year)\n  gauges/03.txt: 4400 (ok)\n  ...\n"
    "Use .total(), .max() or .min() (verified values, with their files).",
    "```python\nrows.total()\n```",
    "Output:\n48210 (total of gauges/01.txt, gauges/02.txt, gauges/03.txt, gauges/04.txt, gauges/05.txt, gauges/06.txt, gauges/07.txt, gauges/08.txt and 30 more)",
    "```python\nFINAL('48210 (the total of the 38 gauges, one per file: gauges/01.txt ... gauges/38.txt)')\n```",
)

_MAX = _turns(
    "Which hive gave the most honey in May?",
    "```python\nrows = ask_numbers('How much honey did the hive give in May?', files)\nrows.max()\n```",
    "Output:\n2300 (from hives/north.txt)",
    "```python\nread('hives/north.txt', 1, 3)\n```",
    "Output:\n1| North hive\n2| Honey taken in May: 2,300 g.\n3| Frames: 10.",
    "```python\nFINAL('The North hive: 2300 g in May (hives/north.txt:2)')\n```",
)

# With typed extraction instead of ask_numbers (the 'ask_numbers' switch: issue 19, item
# 4, measured against ask_numbers before it becomes the default): one checked record per
# file, and the files that do not apply stay out of the figure.
_MAP_EXTRACT = _turns(
    "What did the gauges on the north ridge record in total in May?",
    "```python\n# narrow by code first: only the files that name the north ridge\nridge = [f for f in files if 'north ridge' in f.text.lower()]\n"
    "recs = extract('How much rain did this gauge record in May?', ridge)\nrecs\n```",
    "Output:\n31 of 31 files apply with a checked value; 0 do not apply\n  gauges/01.txt:3: 1250 (ok)\n"
    "  gauges/03.txt:2: 4400 (ok)\n  ...\nUse .total(), .max(), .min(), .count() or .values() (only the files that apply, checked against their text).",
    "```python\nrecs.total()\n```",
    "Output:\n41200 (total of gauges/01.txt, gauges/03.txt, gauges/04.txt, gauges/06.txt, gauges/07.txt, gauges/08.txt, gauges/09.txt, gauges/10.txt and 23 more)",
    "```python\nFINAL('41200 (the total of the 31 gauges on the north ridge; the other 7 files name no north ridge)')\n```",
)

_MAX_EXTRACT = _turns(
    "Which hive gave the most honey in May?",
    "```python\nrecs = extract('How much honey did this hive give in May?', files)\nrecs.max()\n```",
    "Output:\n2300 (from hives/north.txt)",
    "```python\nread('hives/north.txt', 1, 3)\n```",
    "Output:\n1| North hive\n2| Honey taken in May: 2,300 g.\n3| Frames: 10.",
    "```python\nFINAL('The North hive: 2300 g in May (hives/north.txt:2)')\n```",
)

# Before tally and ask_numbers (issue 10's ablations 'tally' and 'map_helper' bring them back):
# the root writes its own Counter regex, or its own sentence filter, llm_batch and parse.
_MOST_COUNTER = _turns(
    "Which breeder appears in the most files?",
    "```python\ngrep(r'(?i)breeder')\n```",
    "Output:\nshowing 5 of 61 matches\nlitters/a.txt:2: Breeder: Oren Vale\nlitters/b.txt:2: Bred by the breeder Sela Marsh.\nlitters/c.txt:3: Breeder: Oren Vale\n...",
    "```python\nimport collections, re\ncounts = collections.Counter()\nfor f in files:\n    for name in set(re.findall(r'[Bb]reeder:? ([A-Z]\\w+ [A-Z]\\w+)', f.text)):\n        counts[name] += 1\nprint(counts.most_common(5))\n```",
    "Output:\n[('Oren Vale', 14), ('Sela Marsh', 9), ('Tobin Reed', 6)]",
    "```python\nFINAL('Oren Vale (14 files)')\n```",
)

_MAP_BATCH = _turns(
    "What is the total rainfall of all the gauges?",
    "```python\nimport re\nsel, prompts = [], []\nfor f in files:\n    parts = [s for s in re.split(r'(?<=[.!?])\\s+', f.text) if 'rain' in s.lower() or 'total' in s.lower()]\n    if parts:\n        sel.append(f.path)\n        prompts.append(' '.join(parts)[:800] + '\\n\\nHow much rain did the gauge record? Reply with the number only, in digits.')\nanswers = llm_batch(prompts)\nvalues = []\nfor path, a in zip(sel, answers):\n    m = re.search(r'\\d[\\d,]*(\\.\\d+)?', a)\n    if m:\n        values.append((path, float(m.group().replace(',', ''))))\nprint(len(values), 'values from', len(files), 'files:', values[:8])\nprint('sum', sum(v for _, v in values))\n```",
    "Output:\n38 values from 38 files: [('gauges/01.txt', 1250.0), ('gauges/02.txt', 310.0), ...]\nsum 48210.0",
    "```python\nFINAL('48210 (the sum over 38 gauges, one per file)')\n```",
)

_CODE = _turns(
    "What is the default value of the parameter `timeout` of the function `connect`?",
    "```python\ngrep(r'def connect\\(')\n```",
    "Output:\n1 match\nnet/client.py:41: def connect(host, port=80, timeout=10.0, retries=3):",
    "```python\nFINAL('10.0 (net/client.py:41)')\n```",
)

_CALLERS = _turns(
    "Which functions call `_load_table`?",
    "```python\ngrep(r'\\b_load_table\\(')\n```",
    "Output:\ngrep(r'\\b_load_table\\('): showing 3 of 3 matches in 1 files:\n"
    "db/schema.py:61: def _load_table(conn, name):\n"
    "db/schema.py:88 (in open_db): rows = _load_table(conn, 'users')\n"
    "db/schema.py:140 (in Schema.refresh): self.rows = _load_table(self.conn, name)",
    "```python\n# the def line defines it; the (in ...) of the other lines are its callers\nFINAL('open_db and Schema.refresh (db/schema.py:88, db/schema.py:140)')\n```",
)

# The same kinds of question with the engine's first move (reader.READING_STRATEGIES) before the
# model's: passages(question). A run without it (the 'read_first' ablation) shows the
# examples above, which start with the model's own search.
_NOT_FOUND_READ = _turns(
    "What is the warranty period of the Zenith blender?",
    "```python\npassages('What is the warranty period of the Zenith blender?')\n```",
    "Output:\npassages('What is the warranty period of the Zenith blender?'): 1 passage from 1 of 2 matching files, best first. "
    "No file contains 'zenith'; these passages have some of the other words.\n--- kitchen/mixer.txt lines 1-6\n"
    "1| Mixers and blenders\n2| \n3| Bought in 2021.\n4| The Vortex blender has a two-year warranty.\n5| The hand mixer has none.\n6| Manuals are in the red folder.",
    "```python\n# the passage is about another blender; check the name itself\ngrep(r'zenith')\n```",
    "Output:\ngrep('zenith'): 0 matches",
    "```python\nFINAL('Not found: no file mentions the Zenith blender (passages and grep for zenith over all files; the only warranty found was the Vortex blender's).')\n```",
)

_LOOKUP_READ = _turns(
    "When does the guarantee of the Moonlit kettle end?",
    "```python\npassages('When does the guarantee of the Moonlit kettle end?')\n```",
    "Output:\npassages('When does the guarantee of the Moonlit kettle end?'): 2 passages from 2 of 3 matching files, best first.\n"
    "--- manuals/kettle.txt lines 7-15\n 7| Care\n 8| Descale it once a month.\n 9| \n10| Guarantee\n11| The guarantee of the Moonlit kettle covers the base and the lid.\n"
    "12| It ends on 30 June 2027.\n13| Keep the box.\n14| \n15| Spare parts\n"
    "--- notes/kitchen.txt lines 1-5\n1| Kitchen\n2| The Moonlit kettle: 3 settings.\n3| New filter in May.\n4| \n5| Oven: clean the door.",
    "```python\n# line 11 is about the guarantee; line 12 states when it ends\nFINAL('30 June 2027 (manuals/kettle.txt:12)')\n```",
)

_MULTI_READ = _turns(
    "What is the radio channel of the captain of the ferry Aurora?",
    "```python\npassages('What is the radio channel of the captain of the ferry Aurora?')\n```",
    "Output:\npassages('What is the radio channel of the captain of the ferry Aurora?'): 1 passage from 1 of 1 matching files, best first.\n"
    "--- crew/rota.txt lines 5-11\n 5| Crews this season\n 6| \n 7| Rota changes are posted on Fridays.\n 8| The ferry Aurora is captained by Lina Berg since May.\n"
    " 9| The ferry Borea is captained by Ole Lund.\n10| \n11| Deck hands rotate weekly.\n"
    "The first fact names Lina Berg: search for Lina Berg next to find the answer.",
    "```python\n# the first fact gives a name; now look up that name\nsearch('Lina Berg radio channel')\n```",
    "Output:\nsearch('Lina Berg radio channel'): showing 1 of 2 matching files:\ndirectory/radio.txt:22: [Lina] [Berg] listens on [channel] 4471.",
    "```python\nFINAL('4471: the ferry Aurora is captained by Lina Berg (crew/rota.txt:8), whose radio channel is 4471 (directory/radio.txt:22)')\n```",
)

_CODE_READ = _turns(
    "What is the default value of the parameter `timeout` of the function `connect`?",
    "```python\npassages('What is the default value of the parameter `timeout` of the function `connect`?')\n```",
    "Output:\npassages('What is the default value of the parameter `timeout` of the function `connect`?'): 2 passages from 2 of 9 matching files, best first.\n"
    "--- docs/network.md lines 3-7\n3| ## Connecting\n4| \n5| Call connect() with a host. A timeout can be given in seconds.\n6| \n7| See also: retries.\n"
    "--- net/client.py lines 37-45\n37| \n38| log = logging.getLogger(__name__)\n39| \n40| \n41| def connect(host, port=80, timeout=10.0, retries=3):\n"
    "42|     \"\"\"Open a connection; give up after timeout seconds.\"\"\"\n43|     sock = _open(host, port)\n44|     sock.settimeout(timeout)\n45|     return sock",
    "```python\n# the def line gives the default: timeout=10.0\nFINAL('10.0 (net/client.py:41)')\n```",
)

_CALLERS_READ = _turns(
    "Which functions call `_load_table`?",
    "```python\npassages('Which functions call `_load_table`?')\n```",
    "Output:\npassages('Which functions call `_load_table`?'): 1 passage from 1 of 1 matching files, best first.\n"
    "--- db/schema.py lines 57-65\n57| \n58| \n59| # tables are read lazily\n60| \n61| def _load_table(conn, name):\n62|     rows = conn.execute(f'SELECT * FROM {name}')\n"
    "63|     return list(rows)\n64| \n65| ",
    "```python\n# that is its definition; the callers are the lines that call it\ngrep(r'\\b_load_table\\(')\n```",
    "Output:\ngrep(r'\\b_load_table\\('): showing 3 of 3 matches in 1 files:\n"
    "db/schema.py:61: def _load_table(conn, name):\n"
    "db/schema.py:88 (in open_db): rows = _load_table(conn, 'users')\n"
    "db/schema.py:140 (in Schema.refresh): self.rows = _load_table(self.conn, name)",
    "```python\n# the def line defines it; the (in ...) of the other lines are its callers\nFINAL('open_db and Schema.refresh (db/schema.py:88, db/schema.py:140)')\n```",
)

_HINTS: dict[StrategyName, str] = {
    "lookup": "The answer is one fact in one place: search for the key words, then answer with the value itself and where it is, as in FINAL('30 June 2027 (manuals/kettle.txt:12)'). If two or three different searches find nothing, answer that it is not found and say what you searched.",
    "multi_step": "The answer needs two facts: the first gives a name or id, search again for that to find the answer. If a hit's sentence is cut, read the lines around it. Do not stop after the first fact.",
    "whole_folder_code": "The answer needs every file: count in code, never from one page of search hits. To find the most common value use tally(r'... (group)') and widen the regex until no file is missed; to count or list files that say something, loop over files and print the count and the paths.",
    "whole_folder_map": "The answer needs a figure from every file: rows = ask_numbers('<the figure, as a question about one file>', files) asks for it in each file and checks it; then rows.total(), rows.max() or rows.min(), or rows.above(n) / rows.below(n) for how many files are past a number. Do not add up numbers by hand.",
    "code_question": "The files are source code: grep for 'def name(' or the name, read the lines, answer from the folder's code only. Do not import modules; the folder is the only source.",
}

# examples in order; the last is the one the model copies most
_EXAMPLES: dict[StrategyName, tuple[tuple[Message, ...], ...]] = {
    "lookup": (_NOT_FOUND_READ, _LOOKUP_READ),
    "multi_step": (_LOOKUP_READ, _MULTI_READ),
    "whole_folder_code": (_MOST, _COUNT),
    "whole_folder_map": (_MAX, _MAP),
    "code_question": (_CALLERS_READ, _CODE_READ),
}

# (technique switched off, strategy) -> (examples, hint) used instead: the ablation table
_WITHOUT: dict[tuple[str, StrategyName], tuple[tuple[tuple[Message, ...], ...], str]] = {
    ("tally", "whole_folder_code"): (
        (_MOST_COUNTER, _COUNT),
        "The answer needs every file: loop over files in code and count or collect; never answer from one page of search hits. Print the count and the paths.",
    ),
    ("map_helper", "whole_folder_map"): (
        (_COUNT, _MAP_BATCH),
        "The answer needs a figure from every file: in code, pick the sentences about it from each file, ask llm_batch for the figure, parse the numbers and add or compare them in code. Print how many files gave a value.",
    ),
}
_WITHOUT[("ask_numbers", "whole_folder_map")] = (
    (_MAX_EXTRACT, _MAP_EXTRACT),
    "The answer needs a figure from the files that apply: first narrow files in code to those that name what the question sets (a name, a year), "
    "then recs = extract('<the figure, as a question about one file>', narrowed) reads one checked record per file; then recs.total(), recs.max(), recs.min() or recs.count(). Do not add up numbers by hand.",
)
for _name, _chosen in (("lookup", (_NOT_FOUND, _LOOKUP)), ("multi_step", (_LOOKUP, _MULTI)), ("code_question", (_CALLERS, _CODE))):
    _WITHOUT[("read_first", _name)] = (_chosen, _HINTS[_name])
WITHOUT_TECHNIQUES = frozenset(t for t, _ in _WITHOUT)

FALLBACKS: dict[StrategyName, tuple[StrategyName, ...]] = {
    "lookup": ("multi_step", "whole_folder_code"),
    "multi_step": ("lookup", "whole_folder_code"),
    "whole_folder_code": ("whole_folder_map", "lookup"),
    "whole_folder_map": ("whole_folder_code", "lookup"),
    "code_question": ("lookup", "whole_folder_code"),
}


MOST_WORDS = ("most", "largest", "highest", "biggest", "maximum")
LEAST_WORDS = ("least", "fewest", "smallest", "lowest", "minimum")
SUPERLATIVE_WORDS = MOST_WORDS + LEAST_WORDS
_SUPERLATIVE = re.compile(r"\b(" + "|".join(SUPERLATIVE_WORDS) + r")\b", re.IGNORECASE)
# the examples that answer "which ... the most": last for such a question, first otherwise
_SUPERLATIVE_EXAMPLES = (_MOST, _MOST_COUNTER, _MAX, _MAX_EXTRACT)


def _ordered(chosen: tuple[tuple[Message, ...], ...], question: str) -> tuple[tuple[Message, ...], ...]:
    """The 1.5B copies the last example: "which person filed the most notes" ended on the
    "how many files mention X" example and was answered with a file count."""
    top = [ex for ex in chosen if ex in _SUPERLATIVE_EXAMPLES]
    if not question or not top:
        return chosen
    rest = tuple(ex for ex in chosen if ex not in top)
    return (*rest, *top) if _SUPERLATIVE.search(question) else (*top, *rest)


def strategy_named(name: StrategyName, source: str = "default", without: Iterable[str] = (), question: str = "") -> Strategy:
    """The strategy ``name``; ``without`` names techniques switched off for an ablation
    run ('tally', 'map_helper'), whose strategies then show the examples from before them.
    With the ``question``, the example nearest its kind goes last."""
    if name not in _HINTS:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(NAMES)}")
    chosen, hint = _EXAMPLES[name], _HINTS[name]
    for technique in without:
        chosen, hint = _WITHOUT.get((technique, name), (chosen, hint))
    examples = tuple(m for ex in _ordered(chosen, question) for m in ex)
    return Strategy(name, hint, examples, FALLBACKS[name], source, question)


def without(strategy: Strategy, techniques: Iterable[str]) -> Strategy:
    """``strategy`` as an ablation run sees it (unchanged when nothing applies)."""
    names = [t for t in techniques if (t, strategy.name) in _WITHOUT]
    if not names:
        return strategy
    return replace(strategy_named(strategy.name, strategy.source, names, strategy.question), answer=strategy.answer)


# --- rules -----------------------------------------------------------------------------------

_CODE_RULE = re.compile(
    r"\bfunctions?\b|\bmethods?\b|\bclass(es)?\b|\bparameters?\b|\barguments?\b|\bdefault value\b|\bsignature\b"
    r"|\bdecorat|\breturn (type|value)\b|\braises?\b|\bimports?\b|\bdefines?\b|\bcall(s|ers|ed)?\b.*`|`\w+\(\)`|\.py\b",
    re.IGNORECASE,
)
_COUNT_RULE = re.compile(
    r"\bhow many (different |distinct |separate )?(files|notes|documents|reports|emails|letters|pages|records|entries|tickets|messages|people|persons|authors|names)\b"
    r"|\bhow many (different|distinct|separate|unique) \w+"
    r"|\bwhich (files|notes|documents|reports|emails|records|entries)\b|\blist (all|every|the files|each)\b|\ball (the )?(files|notes|documents|reports) (that|which|where|with|mention)"
    r"|\b(most|least) (often|frequent|common)\b|\bthe most (files|notes|documents|reports|entries|records|tickets)\b|\bappears? in the most\b"
    r"|\bin how many\b|\bcount (the|all|of)\b|\bnumber of (files|notes|documents|reports|entries|records)\b|\bfiled the most\b|\bwrote the most\b",
    re.IGNORECASE,
)
_MAP_RULE = re.compile(
    r"\b(total|sum|combined|altogether|in total|add(ed)? up|average|mean)\b"
    r"|\b(largest|smallest|highest|lowest|biggest|maximum|minimum) (number|amount|figure|value|total|price|sales|count)\b"
    r"|\b(sold|earned|spent|produced|employ|employs|scored) the (most|fewest|least)\b|\bthe (most|fewest|least) (units|sales|revenue|money)\b"
    r"|\bhow many \w+ (did|do|does) (all|each|every)\b|\bacross all\b",
    re.IGNORECASE,
)
# a figure of every file compared with a number ("sold more than 792 units"): a count,
# but of the files whose figure passes, so each file's figure is read first
_COMPARE_RULE = re.compile(r"\b(more|fewer|less) than \d[\d,.]*\b|\b(over|under|above|below|at least|at most) \d[\d,.]* \w+", re.IGNORECASE)
_ROLE_OF = re.compile(
    r"\bthe (\w+ ){0,2}(owner|leader|manager|head|author|founder|creator|holder|chair|director|sender|buyer|seller|tenant|landlord|supervisor|mentor|partner|approver)s? (of|who|whose|that)\b"
    r"|\bthe (person|company|team|employee|man|woman) (who|that|whose)\b",
    re.IGNORECASE,
)
_PERSONAL_ATTRIBUTE = re.compile(
    r"\b(room|office|badge|phone|extension|e-?mail|address|salary|birthday|born|live|lives|age|number|id)\b",
    re.IGNORECASE,
)


def classify_by_rules(question: str) -> StrategyName | None:
    """The strategy when a cue is unambiguous, else ``None`` (ask the model)."""
    q = question.strip()
    if _CODE_RULE.search(q):
        return "code_question"
    if _ROLE_OF.search(q) and _PERSONAL_ATTRIBUTE.search(q):
        return "multi_step"
    if _COMPARE_RULE.search(q):
        return "whole_folder_map"
    count = bool(_COUNT_RULE.search(q))
    fig = bool(_MAP_RULE.search(q))
    if count and not fig:
        return "whole_folder_code"
    if fig and not count:
        return "whole_folder_map"
    if fig and count:
        # "how many people do all branches employ in total": a figure to add up
        return "whole_folder_map" if re.search(r"\b(total|sum|combined|altogether|average)\b", q, re.IGNORECASE) else "whole_folder_code"
    return None


# --- the model call --------------------------------------------------------------------------

_LABELS: dict[str, StrategyName] = {
    "lookup": "lookup",
    "chain": "multi_step",
    "count": "whole_folder_code",
    "figures": "whole_folder_map",
    "code": "code_question",
}

CLASSIFY_SYSTEM = """Classify a question about a folder of files. Reply with one word:
lookup: one fact stated in one place (what, who, when, where is X)
chain: a first fact gives a name, a second fact about that name answers (the X of the Y of Z)
count: count, list or compare files by a property (how many files, which files, most common)
figures: a number in every file to add up or compare (total, sum, largest, average)
code: about source code (functions, parameters, classes, modules)"""

_SHOTS = (
    ("What is the boiling point given for the alloy in the lab report?", "lookup"),
    ("What is the email address of the person who approved the Delta budget?", "chain"),
    ("How many reports mention a delay?", "count"),
    ("What is the combined revenue of all stores?", "figures"),
    ("Which module defines parse_header?", "code"),
)


def classify_with_model(question: str, backend: Backend) -> StrategyName | None:
    """One short greedy call; ``None`` when the reply names no known label."""
    messages = [Message("system", CLASSIFY_SYSTEM)]
    for q, label in _SHOTS:
        messages += [Message("user", q), Message("assistant", label)]
    messages.append(Message("user", question))
    completion = backend.chat(messages, GenerationParams(max_tokens=4, temperature=0.0, stop=("\n",)))
    word = re.findall(r"[a-z_]+", completion.text.lower())
    for w in word:
        if w in _LABELS:
            return _LABELS[w]
        if w in NAMES:
            return w  # type: ignore[return-value]
    log.info("strategy classifier said %r for %r", completion.text, question)
    return None


def choose_strategy(question: str, backend: Backend | None = None, *, folder: str = "",
                    kinds: dict[str, int] | None = None, rules: bool = True) -> Strategy:
    """With ``rules`` (``Settings.router == "rules"``, the default): question regexes
    first, then a one-word call. Without: the plan's strategy (``rlm/plan.py``: one call
    constrained to a JSON schema, told what the folder holds); lookup with no backend."""
    if not rules:
        if backend is None:
            return strategy_named("lookup", "default", question=question)
        from rlm_desktop.rlm.plan import is_code_folder, make_plan

        plan = make_plan(question, folder, backend, code_folder=is_code_folder(kinds or {}))
        chosen = strategy_named(plan.strategy, "plan" if plan.source == "model" else "default", question=question)  # type: ignore[arg-type]
        return replace(chosen, answer=plan.answer) if plan.source == "model" else chosen
    name = classify_by_rules(question)
    if name is not None:
        return strategy_named(name, "rule", question=question)
    if backend is not None:
        try:
            name = classify_with_model(question, backend)
        except Exception:  # the router must never stop a run: fall to the default
            log.exception("strategy classifier failed")
            name = None
        if name is not None:
            return strategy_named(name, "model", question=question)
    return strategy_named("lookup", "default", question=question)


_EMPTY_ANSWER = re.compile(r"^\s*$|\bnot found\b|\bno (mention|information|match|result)|\bcould ?n[o']t (find|determine)|\bunable to\b", re.IGNORECASE)


def needs_fallback(answer: str, status: str) -> bool:
    """A run that errored, ran out of budget, or answered "not found" deserves another
    strategy (an absent answer then comes back "not found" twice, which is right)."""
    return status in ("error", "budget_exhausted") or bool(_EMPTY_ANSWER.search(answer or ""))


def fallback(current: Strategy, tried: Iterable[str] = ()) -> Strategy | None:
    """The next strategy to try after ``current`` came back empty, or ``None``."""
    done = set(tried) | {current.name}
    for name in current.fallbacks:
        if name not in done:
            return replace(strategy_named(name, "fallback", question=current.question), answer=current.answer)
    return None
