"""Who speaks: governments and their bodies, named in the many ways news copy names them.

A government appears as its country ("Australia issued..."), an adjective on one of its
bodies ("the Indonesian Embassy in London", "US State Department"), a body "of" it ("the
diplomatic representation of the United Kingdom"), a named agency ("Global Affairs
Canada", "FCDO", "CDC"), its capital as a metonym ("advisories from Washington and
Moscow") or the citizens it addresses ("advises British citizens", "urged Russians").
A mention counts as a speaker only in the position of one: the subject of an advising
verb, or the agent after "by"/"from" of an advisory noun. "Summoned to the Russian
Foreign Ministry" names a body but gives it no voice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from monitor.normalise.places import Mention, PlaceKind

# Named agencies and metonyms that identify one government: (a lower-case word every
# match contains, the pattern, the government, the display name).
AGENCIES: tuple[tuple[str, str, str, str], ...] = (
    ("state", r"(?:U\.?S\.?\s+)?(?:State Department|Department of State)", "US",
     "U.S. Department of State"),
    ("disease", r"(?:U\.?S\.?\s+)?Centers? for Disease Control(?: and Prevention)?"
     r"(?:\s*\(CDC\))?", "US", "U.S. Centers for Disease Control and Prevention"),
    ("cdc", r"\bCDC\b", "US", "U.S. Centers for Disease Control and Prevention"),
    ("consular", r"Bureau of Consular Affairs", "US", "U.S. Bureau of Consular Affairs"),
    ("white house", r"White House", "US", "White House"),
    ("development", r"Foreign,? Commonwealth (?:&|and) Development Office", "GB", "FCDO"),
    ("fcdo", r"\bFCDO\b", "GB", "FCDO"),
    ("commonwealth", r"Foreign (?:and|&) Commonwealth Office", "GB", "FCO"),
    ("fco", r"\bFCO\b", "GB", "FCO"),
    ("foreign office", r"(?:British |UK |U\.K\. )?Foreign Office", "GB", "Foreign Office"),
    ("downing", r"Downing Street", "GB", "UK government"),
    ("whitehall", r"Whitehall", "GB", "UK government"),
    ("global affairs", r"Global Affairs Canada", "CA", "Global Affairs Canada"),
    ("smartraveller", r"Smartraveller", "AU", "Smartraveller (DFAT)"),
    ("foreign affairs and trade", r"Department of Foreign Affairs and Trade", "AU",
     "Smartraveller (DFAT)"),
    ("dfat", r"\bDFAT\b", "AU", "Smartraveller (DFAT)"),
    ("safetravel", r"SafeTravel", "NZ", "SafeTravel (MFAT)"),
    ("foreign affairs and trade", r"Ministry of Foreign Affairs and Trade", "NZ",
     "SafeTravel (MFAT)"),
    ("mfat", r"\bMFAT\b", "NZ", "SafeTravel (MFAT)"),
    ("amt", r"Auswärtige[ns]? Amt", "DE", "Auswärtiges Amt"),
    ("german foreign office", r"German Foreign Office", "DE", "Auswärtiges Amt"),
    ("orsay", r"Quai d'Orsay", "FR", "French Ministry for Europe and Foreign Affairs"),
    ("kremlin", r"Kremlin", "RU", "Kremlin"),
)  # fmt: skip
_AGENCY_RES = tuple(
    (word, re.compile(pattern), code, name) for word, pattern, code, name in AGENCIES
)
_ANY_AGENCY_WORD = re.compile("|".join(re.escape(word) for word, *_ in AGENCIES))

BODY = (
    r"(?:embass(?:y|ies)|consulates?(?:[\s-]general)?|high commissions?|"
    r"(?:diplomatic\s+)?(?:mission|missions|representation|representations|post)|"
    r"diplomats|foreign ministry|ministry of foreign affairs|ministry for foreign affairs|"
    r"foreign affairs ministry|foreign office|state department|department of state|"
    r"government|authorities|foreign minist(?:er|ry)|travel advisory|advisory|advisories|"
    r"alert|alerts|warning|warnings|travel notice|notice|travel advice|"
    r"health (?:authorities|officials|ministry)|ministry of health|health ministry)"
)
_BODY_AFTER = re.compile(
    rf"^(?:'s)?\s+(?:(?:(?-i:[A-Z][\w.&-]*)|official|own|diplomatic|federal|national)\s+){{0,2}}?"
    rf"({BODY})\b",
    re.I,
)
_BODY_BEFORE_OF = re.compile(rf"\b({BODY})\s+(?:in\s+\w+\s+)?of\s+(?:the\s+)?$", re.I)
_ADVISORY_NOUN_BODY = re.compile(
    r"^(?:travel advisory|advisory|advisories|alert|alerts|warning|warnings|travel notice|"
    r"notice|travel advice)$",
    re.I,
)
_ADDRESSED_AFTER = re.compile(
    r"^\s+(?:citizens|nationals|travell?ers|residents|passport[- ]holders|expatriates|"
    r"expats|tourists|students|visitors|holidaymakers|people)\b",
    re.I,
)
_ADDRESSED_BEFORE = re.compile(
    r"\b(?:urg\w*|advis\w*|ask\w*|warn\w*|told|tell\w*|caution\w*|encourag\w*|remind\w*|"
    r"call\w*\s+on|instruct\w*|order\w*)\s+(?:all\s+|its\s+|fellow\s+)?$",
    re.I,
)
_AGENT_BEFORE = re.compile(
    r"(?<!intelligence )\b(?:advisor(?:y|ies)|warnings?|alerts?|notices?|statements?|advice|"
    r"message|guidance|call)\b(?:\s+(?:was|were|is|are|has|have|had|been|being|then|also|"
    r"first|originally|jointly|already|today|yesterday|on|[\w-]+ed|[\w-]+ly|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day)){0,6}\s+(?:by|from)\s+(?:the\s+)?$"
    r"|\b(?:issued|released|published|launched|posted|relaunched|put out|given)\s+"
    r"(?:[\w-]+\s+){0,3}?(?:by|from)\s+(?:the\s+)?$",
    re.I,
)
AGENT_VERB = re.compile(
    r"(?:issu\w*|warn\w*|advis\w*|urg\w*|ask(?:s|ed|ing)?|told|tell(?:s|ing)?|caution\w*|"
    r"call(?:s|ed|ing)?\s+(?:on|for|upon)|recommend\w*|rais(?:ed|es|ing)|updat\w*|"
    r"releas\w*|publish\w*|relaunch\w*|post(?:s|ed)|join(?:s|ed)|(?:was|is|became)\s+the\s+"
    r"(?:first|latest|last|second|third)|said|says|stat(?:ed|es)|emphasi[sz]\w*|stress\w*|"
    r"reiterat\w*|not(?:ed|es)|highlight\w*|offer(?:s|ed)?\s+advice|(?:has\s+)?cit(?:ed|es)|"
    r"retain\w*|maintain\w*|lower\w*|elevat\w*|put\s+out|instruct\w*|order(?:s|ed)|"
    r"encourag\w*|announc\w*|declar\w*|extend\w*|upgrad\w*|downgrad\w*|reissu\w*|"
    r"remind\w*|implor\w*|appeal\w*|direct(?:s|ed))\b",
    re.I,
)
# Words that may stand between a government and its advising verb: auxiliaries,
# adverbs, time adverbials, relative pronouns ("..., which offers advice").
_FILLER_WORDS = frozenset(
    """has have had is are was were also already now still again then just recently
    previously earlier later yesterday today tonight on this last late week monday tuesday
    wednesday thursday friday saturday sunday morning afternoon evening which who that portal
    website site office spokesperson spokesman spokeswoman official officials itself too
    as well""".split()
)
_TOKEN_AFTER = re.compile(r"[\s,]*(?:(\([^()]{0,60}\))|([\w'.-]+))")
_CHAIN = re.compile(r"^(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*|\s*/\s*)(?:the\s+)?$", re.I)
_BARE_BODY = re.compile(
    r"\b(?:the|its|their)\s+(embassy|consulate|high commission|department|ministry|mission|"
    r"government|foreign office|advisory)\b",
    re.I,
)

_CONJUNCTION = re.compile(r"\band\b|&|/")


def _may_name_bare_body(sentence: str) -> bool:
    """False only when _BARE_BODY cannot match: on ASCII text case-insensitive matching
    is matching the lower case, and every match holds one of these words."""
    if not sentence.isascii():
        return True
    low = sentence.lower()
    return (
        "embassy" in low or "consulate" in low or "mission" in low or "department" in low
        or "ministry" in low or "government" in low or "foreign office" in low
        or "advisory" in low
    )  # fmt: skip


_LEFT = 90  # characters of left context the position patterns look at
_SEAT_AFTER = re.compile(r"\s+(?-i:[A-Z][\w.'-]*)(?:\s+(?-i:[A-Z][\w.'-]*))*")
_ENDS_BY_FROM = re.compile(r"\b(?:by|from)\s+(?:the\s+)?$", re.I)
# The same read right to left: it ends at the end of the context ($, or before one final
# newline), so matching this at the start of the reversed context is searching that,
# in one attempt instead of one per character.
_ENDS_BY_FROM_MIRRORED = re.compile(r"\n?(?:\s+eht)?\s+(?:yb|morf)\b", re.I)


def _ends_by_from(left: str) -> bool:
    return _ENDS_BY_FROM_MIRRORED.match(left[::-1]) is not None


_NOT_AGENT_WORDS = frozenset(
    """to at with against into toward towards about outside near following after like
    unlike besides than summoned on for of in and""".split()
)


def _object_position(left: str) -> bool:
    """Whether the words before a mention make it an object ("summoned to the ...")."""
    words = left.lower().split()[-3:]
    if not words:
        return False
    if words[-1] in _NOT_AGENT_WORDS:
        return True
    if len(words) >= 2 and words[-2] in _NOT_AGENT_WORDS:
        return True
    return len(words) == 3 and words[0] in _NOT_AGENT_WORDS and words[1] == "the"


@dataclass(slots=True)
class Ref:
    """One reference to a government in one sentence."""

    code: str | None  # None: a bare "the embassy", resolved by the discourse
    start: int
    end: int
    name: str
    agent: bool = False
    addressed: bool = False  # the citizens it addresses ("British citizens")
    spoke: bool = False  # an advising verb or "by"/"from" makes it speak, not a bare noun
    body: str | None = None  # the kind of body ("embassy", "government"...)


def _speaks_after(sentence: str, pos: int) -> bool:
    """Whether an advising verb follows ``pos`` across only auxiliaries, adverbials, a
    parenthesis ("(CDC)") and a seat ("in Colombo")."""
    window = sentence[pos : pos + 160]
    cursor = 0
    for _ in range(14):
        token = _TOKEN_AFTER.match(window, cursor)
        if token is None or token.end() == cursor:
            return False
        if token.group(1):  # a parenthesis
            cursor = token.end()
            continue
        word = token.group(2)
        if AGENT_VERB.match(window, token.start(2)):
            return True
        low = word.lower()
        if low == "in":  # a seat: "in Colombo", "in New Delhi"
            seat = _SEAT_AFTER.match(window, token.end())
            if seat is None:
                return False
            cursor = seat.end()
            continue
        if low not in _FILLER_WORDS:
            return False
        cursor = token.end()
    return False


def _agency_refs(sentence: str) -> list[Ref]:
    """Named agencies, the longest name winning where two overlap."""
    low = sentence.lower()
    if _ANY_AGENCY_WORD.search(low) is None:
        return []  # no agency's word: none of their patterns can match
    found = [
        (match.start(), match.end(), code, name)
        for word, pattern, code, name in _AGENCY_RES
        if word in low
        for match in pattern.finditer(sentence)
    ]
    found.sort(key=lambda item: item[0] - item[1])
    refs: list[Ref] = []
    for start, end, code, name in found:
        if all(end <= r.start or start >= r.end for r in refs):
            refs.append(Ref(code, start, end, name, body="agency"))
    return refs


def _inside(position: int, refs: list[Ref]) -> bool:
    for ref in refs:  # noqa: SIM110 - ~4x cheaper than any() over a generator
        if ref.start <= position < ref.end:
            return True
    return False


def _addressed(group: list[Ref]) -> bool:
    for ref in group:  # noqa: SIM110 - ~4x cheaper than any() over a generator
        if ref.addressed:
            return True
    return False


def find_refs(sentence: str, mentions: list[Mention]) -> list[Ref]:
    """Every reference to a government in the sentence, with whether it speaks."""
    refs = _agency_refs(sentence)
    for mention in mentions:
        if refs and _inside(mention.start, refs):
            continue
        place = mention.candidates[0]
        if place.kind is PlaceKind.ADMIN:
            continue
        code = place.country
        if place.kind is PlaceKind.CITY:
            # A capital speaks for its government only as the subject or agent.
            if not place.capital:
                continue
            left = sentence[max(0, mention.start - _LEFT) : mention.start]
            if (_ends_by_from(left) and _AGENT_BEFORE.search(left)) or (
                not _object_position(left) and _speaks_after(sentence, mention.end)
            ):
                refs.append(Ref(code, mention.start, mention.end, mention.text, agent=True))
            continue
        after = sentence[mention.end :]
        body = _BODY_AFTER.match(after)
        if body:
            end = mention.end + body.end()
            seat = re.match(r"\s+(?:in|to)\s+[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)*", sentence[end:])
            name_end = end + (seat.end() if seat else 0)
            refs.append(Ref(code, mention.start, name_end, sentence[mention.start : name_end],
                            body=body.group(1).lower()))  # fmt: skip
            continue
        left = sentence[max(0, mention.start - _LEFT) : mention.start]
        before_of = _BODY_BEFORE_OF.search(left) if left.rstrip().endswith(("of", "the")) else None
        if before_of:
            start = before_of.start()
            refs.append(Ref(code, start, mention.end, sentence[start : mention.end],
                            body=before_of.group(1).lower()))  # fmt: skip
            continue
        addressed = bool(_ADDRESSED_AFTER.match(after)) or (
            place.kind is PlaceKind.DEMONYM
            and mention.text.endswith("s")
            and bool(
                _ADDRESSED_BEFORE.search(sentence[max(0, mention.start - _LEFT) : mention.start])
            )
        )
        if addressed:
            refs.append(Ref(code, mention.start, mention.end, mention.text, addressed=True))
            continue
        if place.kind is PlaceKind.COUNTRY:
            refs.append(Ref(code, mention.start, mention.end, mention.text))
    for match in _BARE_BODY.finditer(sentence) if _may_name_bare_body(sentence) else ():
        if any(r.start <= match.start(1) < r.end for r in refs):
            continue
        refs.append(Ref(None, match.start(1), match.end(1), match.group(1),
                        body=match.group(1).lower()))  # fmt: skip
    refs.sort(key=lambda r: r.start)
    _decide_agents(sentence, refs)
    return refs


def _decide_agents(sentence: str, refs: list[Ref]) -> None:
    # Coordinated references ("the United States, the United Kingdom and Canada") share
    # the position of the last one.
    tentative: list[list[Ref]] = []
    for ref in refs:
        if (
            tentative
            and _CHAIN.match(sentence[tentative[-1][-1].end : ref.start])
            and not (ref.addressed)
        ):
            tentative[-1].append(ref)
        else:
            tentative.append([ref])
    groups: list[list[Ref]] = []
    for group in tentative:
        if len(group) > 1 and not _CONJUNCTION.search(
            " ".join(sentence[a.end : b.start] for a, b in pairwise(group))
        ):
            groups.extend([ref] for ref in group)  # a list needs a conjunction
        else:
            groups.append(group)
    for group in groups:
        first, last = group[0], group[-1]
        if _addressed(group):
            continue
        left = sentence[max(0, first.start - _LEFT) : first.start]
        speaks = spoke = False
        if _ends_by_from(left) and _AGENT_BEFORE.search(left):
            speaks = spoke = True
        elif not _object_position(left):
            if _speaks_after(sentence, last.end):
                speaks = spoke = True
            elif last.body and _ADVISORY_NOUN_BODY.match(last.body):
                speaks = True
        for ref in group:
            ref.agent, ref.spoke = speaks, spoke


_INSTITUTION = re.compile(
    r"embass|consulate|commission|mission|representation|ministry|minister|office|department|"
    r"government|authorities|agency|post",
    re.I,
)


def names_issuer(ref: Ref) -> bool:
    """Whether the reference names an institution (used as the issuer's display name)."""
    return bool(ref.body and ref.code and _INSTITUTION.search(ref.body))
