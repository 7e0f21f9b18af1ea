"""Normaliser throughput on a generated feed, beside feedparser's parse of the same bytes.

The feed has 2,000 items with ~1 KB HTML bodies built from the shapes of real advisory
items (embassy alerts, State Department advisories, news reports relaying advice),
with countries and cities rotated so the gazetteer and the rules do real work.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

import feedparser

from monitor.normalise import rss
from monitor.normalise.analysis import memo_clear
from monitor.normalise.build import build_advisory
from monitor.normalise.draft import SourceContext

PLACES = [
    ("Russia", "Moscow"), ("Kenya", "Nairobi"), ("Bangladesh", "Dhaka"), ("Syria", "Damascus"),
    ("Lebanon", "Beirut"), ("Iraq", "Baghdad"), ("Israel", "Tel Aviv"), ("Ukraine", "Kyiv"),
    ("Peru", "Lima"), ("Mexico", "Guadalajara"), ("Nigeria", "Lagos"), ("Pakistan", "Karachi"),
    ("Turkey", "Istanbul"), ("Haiti", "Port-au-Prince"), ("Colombia", "Bogota"),
    ("Indonesia", "Jakarta"), ("Thailand", "Bangkok"), ("Egypt", "Cairo"),
]  # fmt: skip
ISSUERS = [
    ("The British Foreign Office", "British"), ("Global Affairs Canada", "Canadian"),
    ("The Australian government", "Australian"), ("The German Foreign Office", "German"),
    ("The French embassy", "French"), ("The Japanese embassy", "Japanese"),
]  # fmt: skip
EVENTS = ["demonstration", "protest march", "rally", "sit-in", "strike", "vigil"]
SITES = [
    "the parliament",
    "the central station",
    "the main square",
    "the ministry of finance",
    "the university campus",
    "the presidential palace",
    "the stadium",
    "the old market",
]
TARGETS = [
    "large gatherings",
    "crowds",
    "the city centre",
    "government buildings",
    "places of worship",
    "tourist sites",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# The "Actions to Take" bullets of real embassy alerts: a small pool reused in every alert.
ACTIONS = [
    "Avoid demonstrations and large crowds.", "Monitor local media for updates.",
    "Be aware of your surroundings.", "Keep a low profile.",
    "Review your personal security plans.", "Let friends and family know you are safe.",
    "Carry proper identification.", "Stay alert in places popular with tourists.",
    "Have evacuation plans that do not depend on U.S. government assistance.",
    "Enroll in the Smart Traveler Enrollment Program (STEP) to receive security updates.",
]  # fmt: skip


def _alert(rng: random.Random, i: int, country: str, city: str) -> str:
    """An embassy alert: a unique event, a few boilerplate actions, the assistance block."""
    when = rng.choice(WEEKDAYS)
    actions = "".join(f"<li>{a}</li>" for a in rng.sample(ACTIONS, rng.randint(3, 6)))
    return (
        f"<p><strong>Location:</strong> {city}, {country}</p>"
        f"<p><strong>Event:</strong> The Embassy is aware of reports of a "
        f"{rng.choice(EVENTS)} planned near {rng.choice(SITES)} in {city} on {when}, with "
        f"organisers expecting about {rng.randint(200, 90000):,} participants (ref. {i}). "
        f"Demonstrations intended to be peaceful can become confrontational. U.S. citizens "
        f"should avoid {rng.choice(TARGETS)} over the next {rng.choice([24, 48, 72])} hours.</p>"
        f"<p><strong>Actions to Take:</strong></p><ul>{actions}</ul>"
        f"<p><strong>Assistance:</strong></p><p>U.S. Embassy {city}<br/>+1 202 501 4444</p>"
    )


def _news(rng: random.Random, i: int, country: str, city: str) -> str:
    """A news report relaying two governments' advice: every sentence its own."""
    (first, _), (second, demonym) = rng.sample(ISSUERS, 2)
    when = rng.choice(WEEKDAYS)
    return (
        f"<p>{first} urged its citizens on {when} to avoid all travel to {country} after "
        f"clashes between armed groups left {rng.randint(3, 400)} people dead in {city}.</p>"
        f"<p>{second} advised {demonym} nationals to leave {country} while commercial flights "
        f"are still available, and to avoid {rng.choice(TARGETS)} in {city} over the next "
        f"{rng.randint(2, 9)} days.</p><p>Officials said {rng.randint(2, 60)} roads near "
        f"{rng.choice(SITES)} were closed and that a curfew from {rng.randint(6, 11)} pm would "
        f"stay in force until further notice (report {i}).</p><p>The airport at {city} handled "
        f"{rng.randint(10, 300)} flights, according to a spokesperson quoted by local media, "
        f"while {rng.randint(100, 9000):,} people waited at the border.</p>"
    )


@dataclass(frozen=True)
class Result:
    items: int
    feed_bytes: int
    parse_seconds: float
    normalise_seconds: float
    cold_seconds: float  # the sentence memo emptied before every item

    @property
    def parse_rate(self) -> float:
        return self.items / self.parse_seconds

    @property
    def normalise_rate(self) -> float:
        return self.items / self.normalise_seconds

    @property
    def cold_rate(self) -> float:
        return self.items / self.cold_seconds


def generate_feed(items: int = 2000, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    parts = ['<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
             'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
             "<title>Generated advisories</title><link>https://bench.invalid/</link>"]  # fmt: skip
    for i in range(items):
        country, city = rng.choice(PLACES)
        body = _alert(rng, i, country, city) if i % 2 else _news(rng, i, country, city)
        title = (f"Security Alert - U.S. Embassy {city}, {country}" if i % 2
                 else f"Governments warn citizens over {country}")  # fmt: skip
        published = format_datetime(start + timedelta(minutes=17 * i))
        parts.append(
            f"<item><title>{escape(title)}</title><link>https://bench.invalid/{i}</link>"
            f"<guid>https://bench.invalid/{i}</guid><pubDate>{published}</pubDate>"
            f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def run(items: int = 2000, repeat: int = 3) -> Result:
    data = generate_feed(items)
    ctx = SourceContext("bench")
    build_advisory(rss._entry(feedparser.parse(data).entries[0], {}, ctx) or _never())  # warm
    best_parse = best_norm = best_cold = float("inf")
    for _ in range(repeat):
        memo_clear()
        t0 = time.perf_counter()
        feed = feedparser.parse(data)
        t1 = time.perf_counter()
        for entry in feed.entries:
            draft = rss._entry(entry, feed.feed, ctx)
            if draft is not None:
                build_advisory(draft)
        t2 = time.perf_counter()
        cold = 0.0
        for entry in feed.entries:
            memo_clear()
            t3 = time.perf_counter()
            draft = rss._entry(entry, feed.feed, ctx)
            if draft is not None:
                build_advisory(draft)
            cold += time.perf_counter() - t3
        best_parse = min(best_parse, t1 - t0)
        best_norm = min(best_norm, t2 - t1)
        best_cold = min(best_cold, cold)
    return Result(items, len(data), best_parse, best_norm, best_cold)


def _never() -> rss.Draft:
    raise RuntimeError("the generated feed has no items")
