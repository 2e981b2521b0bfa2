"""Generate the bundled traffic trace and the cache false-hit probe set, reproducibly.

    python datasets/tidewell/build/make_traffic.py          # writes traffic/trace.jsonl, eval/cache_probes.jsonl
    python datasets/tidewell/build/make_traffic.py --check  # regenerates in memory, compares with the files

The trace imitates a week of questions to Tidewell's support assistant:

- intents: the 106 evaluation questions, 14 "near-miss" intents that look like one of them but
  ask something else (over/under a threshold, a negation, another product or version), and
  one-off order-status questions, each with its own order id;
- popularity: a Zipf law (exponent 1.1) over the repeated intents, so a heavy head and a long
  tail; the intents with hand-written paraphrases are the most popular ranks (popular
  questions are the ones people phrase many ways);
- surface form of each occurrence: the canonical wording (55%), a variant that differs only in
  case, spacing or end punctuation (20%; an exact cache with normalisation catches these),
  chat noise around it ("hi, ...", "... thanks") (10%), or a hand-written paraphrase (15%, when the
  intent has some); the semantic cache is for the last two;
- one-off questions: 12% of the trace asks about one order by its id, never repeated;
- timestamps: 7 days from 2026-11-02 00:00 UTC, arrivals denser in the daytime (a sine over the
  day), sorted.

Every random choice comes from `random.Random(SEED)`, so the output is identical on every run.
Each question text belongs to exactly one intent (checked), so a cache hit can be judged right
or wrong by comparing intents.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import sys
from pathlib import Path

SEED = 20261102
TRACE_SIZE = 2400
ONE_OFF_SHARE = 0.12
ZIPF_EXPONENT = 1.1
ROOT = Path(__file__).resolve().parents[1]

# Hand-written paraphrases of the most asked questions: the same meaning, other words.
PARAPHRASES = {
    "q001": [
        "What's the return window?",
        "How many days do I get to send something back?",
        "Until when can I return a purchase?",
    ],
    "q051": [
        "What's the minimum order for free shipping?",
        "When is standard shipping free?",
        "How much do I have to order to get shipping for free?",
    ],
    "q004": ["How can I reset my Glow light bulb?", "What's the way to factory reset a Glow bulb?"],
    "q003": ["What's the price of the Thermo T2?", "How much is a Thermo T2 thermostat?"],
    "q072": ["What number do I call for Tidewell support?", "How do I reach customer support by phone?"],
    "q064": ["What does express shipping cost?", "What's the price of express delivery?"],
    "q016": [
        "How long until I get my refund after the warehouse receives my return?",
        "When is my refund paid once the return arrives?",
    ],
    "q011": ["Does the Plug Mini need 2.4 or 5 GHz Wi-Fi?", "What Wi-Fi frequency does the Plug Mini use?"],
    "q018": ["What does the E24 error code mean?", "I see error E24, what is it?"],
    "q082": ["How much does Tidewell Plus cost per month?", "What's the monthly fee for Tidewell Plus?"],
    "q077": [
        "What's the maximum number of devices on one Tidewell Hub?",
        "How many devices can a Tidewell Hub handle?",
    ],
    "q002": [
        "Do you charge a restocking fee for an opened thermostat?",
        "Will I pay a restocking fee if I return a thermostat I opened?",
    ],
    "q060": [
        "How long should I press the hub's back button to factory reset it?",
        "To factory reset the hub, how many seconds do I hold the rear button?",
    ],
    "q046": ["How many minutes does pairing mode last?", "How long is a device in pairing mode?"],
    "q058": ["How much is shipping on a $40 order?", "What will standard shipping cost me for a $40 order?"],
    "q070": ["What's the cut-off time for same-day shipping?", "By what time must I order for same-day dispatch?"],
    "q078": ["When is the support line open on Saturday?", "What are Saturday support hours?"],
    "q101": [
        "What does a solid amber light on the hub mean?",
        "My Tidewell Hub ring is solid amber, what does that mean?",
    ],
    "q076": ["How long do I have to report a lost package?", "What's the deadline for reporting a lost parcel?"],
    "q023": [
        "What's the warranty on a Drip Sentinel bought in August 2024?",
        "How long is the warranty for a Drip Sentinel purchased in August 2024?",
    ],
    "q031": ["How many lumens is the Glow A19 Color?", "What's the brightness of a Glow A19 Color bulb?"],
    "q059": ["What's the battery life of a Drip Sentinel?", "How many years does the Drip Sentinel battery last?"],
    "q100": ["What does Tidewell Plus cost per year?", "What's the annual price of Tidewell Plus?"],
    "q009": [
        "My gift arrived December 20, what's the last day to return it?",
        "If a present was delivered on December 20, until when can I send it back?",
    ],
    "q071": ["How many decibels is the Drip Sentinel alarm?", "How loud is the siren on the Drip Sentinel?"],
    "q092": [
        "How long do I have to cancel an annual Tidewell Plus plan for a full refund?",
        "Within how many days can I cancel yearly Tidewell Plus and get all my money back?",
    ],
    "q044": ["What's the warranty on the included battery?", "How long is the battery in the box covered?"],
    "q105": ["What's the trade-in credit for a Thermo T1?", "How much will I get if I trade in my Thermo T1?"],
    "q088": ["What resolution does the Sentry Cam record in?", "What video quality does the Sentry Cam record?"],
    "q097": ["What's the max load for the Plug Mini?", "How many watts can I plug into a Plug Mini?"],
}

# Look-alike intents: same words as an evaluation question, a different meaning.
NEAR_MISSES = {
    "n01": ("q051", "Is standard shipping free on orders under $75?"),
    "n02": ("q058", "What does standard shipping cost on a $90 order?"),
    "n03": ("q002", "Is there a restocking fee if I send back a thermostat I haven't opened?"),
    "n04": ("q003", "How much did the Tidewell Thermo T2 cost at launch?"),
    "n05": ("q031", "How bright is a Glow A19 White bulb?"),
    "n06": ("q078", "What are the support line's opening hours on Sundays?"),
    "n07": ("q082", "What was the monthly price of Tidewell Plus in 2022?"),
    "n08": ("q064", "How long does express shipping take?"),
    "n09": ("q005", "When was version 6.2 of the Tidewell Home app released?"),
    "n10": ("q004", "How do I reset a Sentry Cam?"),
    "n11": ("q011", "Does the Plug Mini work on 5 GHz Wi-Fi?"),
    "n12": ("q023", "I bought a Drip Sentinel in August 2022. How long is its warranty?"),
    "n13": ("q001", "How long do I have to exchange an item?"),
    "n14": ("q016", "Once my return reaches the warehouse, how quickly is the exchange shipped?"),
}

GREETINGS = ["hi, ", "hello! ", "quick question: ", "hey, ", "sorry to bother you, "]
SIGN_OFFS = [" thanks", " thank you!", " please", " thx"]
ORDER_TEMPLATES = [
    "Where is my order {id}?",
    "Has order {id} shipped yet?",
    "Can I still cancel order {id}?",
    "What is the status of order {id}?",
    "When will order {id} arrive?",
]

# The false-hit probe set: pairs that look alike but mean different things (same=false), and
# true paraphrases (same=true). Kinds say what differs.
LOOK_ALIKES = [
    ("threshold", "Is shipping free over $50?", "Is shipping free under $50?"),
    (
        "threshold",
        "Is standard shipping free on orders of $75 or more?",
        "Is standard shipping free on orders under $75?",
    ),
    ("threshold", "Do orders above $100 ship free?", "Do orders below $100 ship free?"),
    ("threshold", "What does shipping cost on a $40 order?", "What does shipping cost on a $90 order?"),
    ("threshold", "Can I return an item after 30 days?", "Can I return an item within 30 days?"),
    ("threshold", "Is the warranty longer than 1 year?", "Is the warranty shorter than 1 year?"),
    ("threshold", "Which devices were bought before July 2023?", "Which devices were bought after July 2023?"),
    ("threshold", "How many devices can the hub support at most?", "How many devices must the hub support at least?"),
    ("negation", "Is there a restocking fee on opened items?", "Is there a restocking fee on unopened items?"),
    ("negation", "Does the Plug Mini work with 2.4 GHz Wi-Fi?", "Does the Plug Mini not work with 2.4 GHz Wi-Fi?"),
    ("negation", "Can I return a refurbished device?", "Can't I return a refurbished device?"),
    ("negation", "Is the Sentry Cam waterproof?", "Is the Sentry Cam not waterproof?"),
    ("negation", "Does Tidewell Plus include video history?", "Does Tidewell Plus exclude video history?"),
    ("negation", "Do I need a hub for the Glow bulb?", "Do I not need a hub for the Glow bulb?"),
    ("negation", "Which devices work without the app?", "Which devices work with the app?"),
    ("negation", "Is the return label free?", "Is the return label never free?"),
    ("order_id", "Where is my order TW-1048821?", "Where is my order TW-1048822?"),
    ("order_id", "Has order TW-2210934 shipped yet?", "Has order TW-2210943 shipped yet?"),
    ("order_id", "Can I still cancel order TW-5550172?", "Can I still cancel order TW-5550271?"),
    ("order_id", "What is the status of order TW-3141592?", "What is the status of order TW-2718281?"),
    ("order_id", "When will order TW-9000001 arrive?", "When will order TW-9000010 arrive?"),
    ("order_id", "Is RMA-12345678 approved?", "Is RMA-12345687 approved?"),
    ("order_id", "Refund status for RMA-40000001?", "Refund status for RMA-40000002?"),
    ("version", "What changed in app version 6.0?", "What changed in app version 6.2?"),
    ("version", "When was hub firmware 5.0.0 released?", "When was hub firmware 5.1.0 released?"),
    ("version", "What does error E24 mean?", "What does error E44 mean?"),
    ("version", "What does error E33 mean?", "What does error E31 mean?"),
    (
        "version",
        "Which Sentry Cam firmware added person detection?",
        "Which Sentry Cam firmware added package detection?",
    ),
    ("version", "How much does the Thermo T2 cost?", "How much does the Thermo T1 cost?"),
    ("version", "What does the 4-pack of Glow A19 bulbs cost?", "What does the 2-pack of Glow A19 bulbs cost?"),
    ("product", "How do I reset a Glow bulb?", "How do I reset a Sentry Cam?"),
    ("product", "How bright is a Glow A19 Color bulb?", "How bright is a Glow A19 White bulb?"),
    ("product", "Which Wi-Fi band does the Plug Mini need?", "Which Wi-Fi band does the Sentry Cam need?"),
    ("product", "How long does the Drip Sentinel battery last?", "How long does the Sentry Cam battery last?"),
    ("product", "What is the warranty on the Thermo Room Sensor?", "What is the warranty on the Drip Sentinel probe?"),
    ("product", "How loud is the Drip Sentinel siren?", "How loud is the Sentry Cam siren?"),
    ("product", "How much is the Tidewell Hub?", "How much is the Tidewell Plug Mini?"),
    ("time", "What are the support hours on Saturdays?", "What are the support hours on Sundays?"),
    (
        "time",
        "What was the monthly price of Tidewell Plus in 2022?",
        "What is the monthly price of Tidewell Plus in 2024?",
    ),
    (
        "time",
        "What is the holiday return deadline for items delivered in December?",
        "What is the holiday return deadline for items delivered in October?",
    ),
    (
        "time",
        "How many weeks of parental leave for a child born in 2023?",
        "How many weeks of parental leave for a child born in 2024?",
    ),
    ("time", "What is the monthly price of Tidewell Plus?", "What is the yearly price of Tidewell Plus?"),
    ("time", "How long does standard shipping take?", "How long does express shipping take?"),
    ("action", "How long do I have to return an item?", "How long do I have to exchange an item?"),
    ("action", "How do I cancel Tidewell Plus?", "How do I subscribe to Tidewell Plus?"),
    ("action", "How do I add a member to my home?", "How do I remove a member from my home?"),
    ("action", "How do I turn on Vacation Mode?", "How do I turn off Vacation Mode?"),
    ("action", "How do I pair a Drip Sentinel?", "How do I unpair a Drip Sentinel?"),
    (
        "action",
        "What is the minimum temperature on the Thermo T2?",
        "What is the maximum temperature on the Thermo T2?",
    ),
    ("action", "What is the default heating Away temperature?", "What is the default cooling Away temperature?"),
    ("action", "Who is Tidewell's CTO?", "Who is Tidewell's CEO?"),
]

TRUE_PARAPHRASES = [
    ("How long do I have to return an item?", "How long do I have to return an item"),
    ("How long do I have to return an item?", "hi, how long do I have to return an item?"),
    (
        "How much do I need to spend to get free standard shipping?",
        "How much do I need to spend to get free standard shipping? thanks",
    ),
    ("How do I reset a Glow bulb?", "quick question: how do I reset a Glow bulb?"),
    ("What does error E24 mean?", "What does the E24 error code mean?"),
    ("What does error E24 mean?", "What does error code E24 mean?"),
    ("How much does the Tidewell Thermo T2 cost?", "What's the price of the Tidewell Thermo T2?"),
    ("How much does the Tidewell Thermo T2 cost?", "How much is a Tidewell Thermo T2?"),
    ("Which Wi-Fi band does the Plug Mini need?", "What Wi-Fi band does the Plug Mini need?"),
    ("How long does a device stay in pairing mode?", "How long is a device in pairing mode?"),
    ("How long does a device stay in pairing mode?", "How long does a device remain in pairing mode?"),
    ("What is Tidewell's customer support phone number?", "What is the customer support phone number of Tidewell?"),
    ("What is Tidewell's customer support phone number?", "What's Tidewell's customer support phone number?"),
    ("How much is express shipping?", "How much does express shipping cost?"),
    ("What is the monthly price of Tidewell Plus?", "How much is Tidewell Plus per month?"),
    ("How many devices can one Tidewell Hub support?", "How many devices can a single Tidewell Hub support?"),
    ("How many devices can one Tidewell Hub support?", "How many devices does one Tidewell Hub support?"),
    ("How loud is the Drip Sentinel siren?", "How loud is the siren of the Drip Sentinel?"),
    (
        "What does a solid amber ring light on the Tidewell Hub mean?",
        "What does a solid amber ring on the Tidewell Hub mean?",
    ),
    (
        "How long do I hold the button on the back of the hub to factory reset it?",
        "How long do I hold the hub's back button to factory reset it?",
    ),
    ("What is the rated life of a Glow A19 bulb?", "What is the rated lifetime of a Glow A19 bulb?"),
    (
        "How often does a Drip Sentinel check in with the hub?",
        "How frequently does a Drip Sentinel check in with the hub?",
    ),
    (
        "What time do I need to order by for my order to ship the same day?",
        "By what time do I need to order for my order to ship the same day?",
    ),
    (
        "Within how many days of the expected delivery date must I report a lost parcel?",
        "Within how many days of the expected delivery date do I have to report a lost parcel?",
    ),
    ("How quickly does Tidewell answer a privacy request?", "How fast does Tidewell answer a privacy request?"),
    (
        "What is the largest microSD card the Sentry Cam accepts?",
        "What's the largest microSD card the Sentry Cam takes?",
    ),
    ("Which battery does the Thermo Room Sensor use?", "What battery does the Thermo Room Sensor use?"),
    ("What video resolution does the Sentry Cam record?", "What video resolution does the Sentry Cam record in?"),
    ("How much credit do I get for trading in a Thermo T1?", "How much credit will I get for trading in a Thermo T1?"),
    ("When was Tidewell founded?", "When was Tidewell established?"),
    ("Who is Tidewell's CTO?", "Who's the CTO of Tidewell?"),
    ("How many people work at Tidewell?", "How many employees does Tidewell have?"),
    ("Where is my order TW-1048821?", "where is my order TW-1048821"),
    ("Where is my order TW-1048821?", "hey, where is my order TW-1048821?"),
    (
        "How long is the paid sabbatical after 5 years of service?",
        "How long is the paid sabbatical after five years of service?",
    ),
    ("What is the maximum load I can connect to a Plug Mini?", "What's the maximum load I can connect to a Plug Mini?"),
    (
        "How many Thermo Room Sensors can be paired with one thermostat?",
        "How many Thermo Room Sensors can I pair with one thermostat?",
    ),
    (
        "What is the lowest temperature the Thermo T2 can be set to?",
        "What's the lowest temperature the Thermo T2 can be set to?",
    ),
    ("How do I reset a Glow bulb?", "How can I reset a Glow bulb?"),
    ("What does standard shipping cost on a $40 order?", "How much does standard shipping cost on a $40 order?"),
]


def _surface_variant(text: str, rng: random.Random) -> str:
    """Differs only in case, spacing or end punctuation: normalisation makes it equal."""
    choice = rng.randrange(4)
    if choice == 0:
        return text.lower()
    if choice == 1:
        return text.rstrip("?") if text.endswith("?") else text + "?"
    if choice == 2:
        return "  " + text.replace(" ", "  ", 1)
    return text.upper() if len(text) < 40 else text[0].lower() + text[1:]


def _chatty(text: str, rng: random.Random) -> str:
    """The question wrapped in chat noise: a greeting or a sign-off."""
    if rng.random() < 0.5:
        return rng.choice(GREETINGS) + text[0].lower() + text[1:]
    return text + rng.choice(SIGN_OFFS)


def _timestamps(rng: random.Random, n: int) -> list[str]:
    start = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    stamps = []
    while len(stamps) < n:  # rejection sampling: busy afternoons, quiet nights
        seconds = rng.uniform(0, 7 * 86400)
        hour = (seconds % 86400) / 3600
        if rng.random() < 0.55 + 0.45 * math.sin((hour - 8) / 24 * 2 * math.pi):
            stamps.append(start + dt.timedelta(seconds=int(seconds)))
    return [s.isoformat().replace("+00:00", "Z") for s in sorted(stamps)]


def make_trace(questions: list[dict], seed: int = SEED, size: int = TRACE_SIZE) -> list[dict]:
    """The trace as a list of records {ts, question, intent, kind}."""
    rng = random.Random(seed)
    canonical = {q["id"]: q["question"] for q in questions}
    canonical.update({nid: text for nid, (_, text) in NEAR_MISSES.items()})
    # Paraphrased intents take the top ranks, in a seeded order; the rest follow, shuffled.
    head = list(PARAPHRASES)
    rng.shuffle(head)
    rest = [i for i in canonical if i not in PARAPHRASES]
    rng.shuffle(rest)
    ranked = head + rest
    weights = [1 / (rank**ZIPF_EXPONENT) for rank in range(1, len(ranked) + 1)]

    records, order_ids = [], set()
    for ts in _timestamps(rng, size):
        if rng.random() < ONE_OFF_SHARE:
            while (order := f"TW-{rng.randrange(1_000_000, 9_999_999)}") in order_ids:
                pass
            order_ids.add(order)
            text = rng.choice(ORDER_TEMPLATES).format(id=order)
            records.append({"ts": ts, "question": text, "intent": f"order:{order}", "kind": "one_off"})
            continue
        intent = rng.choices(ranked, weights)[0]
        roll = rng.random()
        if roll < 0.15 and intent in PARAPHRASES:
            text, kind = rng.choice(PARAPHRASES[intent]), "paraphrase"
        elif roll < 0.25:
            text, kind = _chatty(canonical[intent], rng), "chatty"
        elif roll < 0.45:
            text, kind = _surface_variant(canonical[intent], rng), "surface"
        else:
            text, kind = canonical[intent], "near_miss" if intent.startswith("n") else "canonical"
        records.append({"ts": ts, "question": text, "intent": intent, "kind": kind})
    owner: dict[str, str] = {}
    for r in records:  # a text must mean one thing, or hits could not be judged
        if owner.setdefault(r["question"], r["intent"]) != r["intent"]:
            raise SystemExit(f"{r['question']!r} belongs to {owner[r['question']]} and {r['intent']}")
    return records


def make_probes() -> list[dict]:
    """The probe pairs: look-alikes (same=false) first, then true paraphrases (same=true)."""
    probes = [
        {"id": f"p{i:03d}", "a": a, "b": b, "same": False, "kind": kind}
        for i, (kind, a, b) in enumerate(LOOK_ALIKES, 1)
    ]
    start = len(probes) + 1
    probes += [
        {"id": f"p{i:03d}", "a": a, "b": b, "same": True, "kind": "paraphrase"}
        for i, (a, b) in enumerate(TRUE_PARAPHRASES, start)
    ]
    return probes


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=True) + "\n" for r in records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    args = parser.parse_args()
    questions = [json.loads(line) for line in (ROOT / "eval" / "questions.jsonl").read_text("utf-8").splitlines()]
    outputs = {
        ROOT / "traffic" / "trace.jsonl": _jsonl(make_trace(questions)),
        ROOT / "eval" / "cache_probes.jsonl": _jsonl(make_probes()),
    }
    for path, text in outputs.items():
        if args.check:
            if not path.is_file() or path.read_text("utf-8") != text:
                print(f"{path} differs from the generator's output; run {Path(__file__).name}", file=sys.stderr)
                return 1
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        print(f"{path.relative_to(ROOT)}: {text.count(chr(10))} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
