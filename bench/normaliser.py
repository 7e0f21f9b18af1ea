"""Normaliser throughput on a generated feed, beside feedparser's parse of the same bytes.

The feed has 2,000 items with ~1 KB HTML bodies built from the shapes of real advisory
items (embassy alerts, State Department advisories, news reports relaying advice),
with countries and cities rotated so the gazetteer and the rules do real work.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import format_datetime
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import feedparser

from monitor.normalise import rss
from monitor.normalise.build import build_advisory
from monitor.normalise.draft import SourceContext

PLACES = [
    ("Russia", "Moscow"), ("Kenya", "Nairobi"), ("Bangladesh", "Dhaka"), ("Syria", "Damascus"),
    ("Lebanon", "Beirut"), ("Iraq", "Baghdad"), ("Israel", "Tel Aviv"), ("Ukraine", "Kyiv"),
    ("Peru", "Lima"), ("Mexico", "Guadalajara"), ("Nigeria", "Lagos"), ("Pakistan", "Karachi"),
    ("Turkey", "Istanbul"), ("Haiti", "Port-au-Prince"), ("Colombia", "Bogota"),
    ("Indonesia", "Jakarta"), ("Thailand", "Bangkok"), ("Egypt", "Cairo"),
]  # fmt: skip
ALERT = (
    "<p><strong>Location:</strong> {city}, {country}</p>"
    "<p><strong>Event:</strong> The Embassy is aware of reports of planned demonstrations in "
    "{city} on {weekday}. Demonstrations intended to be peaceful can become confrontational "
    "and escalate into violence. U.S. citizens should avoid large gatherings over the next "
    "{hours} hours.</p><p><strong>Actions to Take:</strong></p><ul><li>Avoid demonstrations "
    "and large crowds.</li><li>Monitor local media for updates.</li><li>Be aware of your "
    "surroundings.</li><li>Keep a low profile.</li><li>Review your personal security plans."
    "</li></ul><p><strong>Assistance:</strong></p><p>U.S. Embassy {city}<br/>+1 202 501 4444"
    "</p><p>Enroll in the Smart Traveler Enrollment Program (STEP).</p>"
)
NEWS = (
    "<p>The United Kingdom and Canada have urged their citizens to avoid all travel to "
    "{country} after clashes between armed groups spread to {city} on {weekday}.</p><p>The "
    "British Foreign Office advises against all but essential travel to {country}, while "
    "Global Affairs Canada told Canadians to leave {country} while commercial flights are "
    "still available. The Australian government urged its citizens to reconsider your need "
    "to travel.</p><p>Officials in {city} said the situation remained tense, with reports of "
    "shelling near the airport and a curfew in force until further notice.</p>"
)


@dataclass(frozen=True)
class Result:
    items: int
    feed_bytes: int
    parse_seconds: float
    normalise_seconds: float

    @property
    def parse_rate(self) -> float:
        return self.items / self.parse_seconds

    @property
    def normalise_rate(self) -> float:
        return self.items / self.normalise_seconds


def generate_feed(items: int = 2000, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    weekdays = ["Monday", "Tuesday", "Friday", "Saturday", "Sunday"]
    parts = ['<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
             'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
             "<title>Generated advisories</title><link>https://bench.invalid/</link>"]  # fmt: skip
    for i in range(items):
        country, city = rng.choice(PLACES)
        template = ALERT if i % 2 else NEWS
        body = template.format(country=country, city=city, weekday=rng.choice(weekdays),
                               hours=rng.choice([24, 48, 72]))  # fmt: skip
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
    best_parse = best_norm = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        feed = feedparser.parse(data)
        t1 = time.perf_counter()
        for entry in feed.entries:
            draft = rss._entry(entry, feed.feed, ctx)
            if draft is not None:
                build_advisory(draft)
        t2 = time.perf_counter()
        best_parse = min(best_parse, t1 - t0)
        best_norm = min(best_norm, t2 - t1)
    return Result(items, len(data), best_parse, best_norm)


def _never() -> rss.Draft:
    raise RuntimeError("the generated feed has no items")
