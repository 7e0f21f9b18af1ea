"""Advice phrases: what an issuer tells its citizens to do, in the text's own words.

A phrase starts at an advice verb in one of four positions: the start of an imperative
sentence or bullet ("Avoid crowds."), after an advising verb and ``to`` ("urged
Americans to leave"), after a modal ("citizens should avoid large gatherings"), or
after "recommended"/"importance of" as a gerund ("recommended avoiding areas"). It
ends at a clause boundary ("while", "because", a comma, a time expression) and
coordinated verbs split it ("stay vigilant, avoid crowds and expect disruption" gives
three phrases).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from monitor.normalise.text import finditer_at_stems, stem_starts

ADVICE_VERBS = frozenset(
    """avoid stay remain monitor be keep consider reconsider leave depart exercise follow
    review have carry let register enroll enrol shelter seek use practice practise get put
    defer postpone limit minimize minimise check contact prepare take beware report obey
    comply refrain evacuate move secure steer continue maintain expect plan make ensure
    notify heed abide respect download sign buy purchase prioritize prioritise do
    watch identify know cooperate vary wear drink apply read listen bring allow stock
    charge save register arrange remember tell inform reduce restrict cancel delay return
    travel exercise observe protect""".split()
)  # fmt: skip
_IRREGULAR_ING = {"being": "be", "having": "have", "using": "use", "leaving": "leave",
                  "making": "make", "taking": "take", "staying": "stay", "getting": "get",
                  "putting": "put", "exercising": "exercise", "practising": "practise",
                  "practicing": "practice", "moving": "move", "prioritizing": "prioritize",
                  "reconsidering": "reconsider", "monitoring": "monitor", "securing": "secure",
                  "observing": "observe", "minimizing": "minimize", "delaying": "delay",
                  "travelling": "travel", "traveling": "travel", "arranging": "arrange",
                  "preparing": "prepare", "refraining": "refrain", "remaining": "remain",
                  "departing": "depart", "registering": "register",
                  "enrolling": "enroll"}  # fmt: skip

_TRIGGER = re.compile(
    r"\b(?:advis(?:e|es|ed|ing)|urg(?:e|es|ed|ing)|ask(?:s|ed|ing)?|tell(?:s|ing)?|told|"
    r"call(?:s|ed|ing)?\s+(?:on|upon)|encourag(?:e|es|ed|ing)|recommend(?:s|ed|ing)?|"
    r"warn(?:s|ed|ing)?|caution(?:s|ed|ing)?|instruct(?:s|ed|ing)?|remind(?:s|ed|ing)?|"
    r"direct(?:s|ed|ing)?|order(?:s|ed|ing)?|advisor(?:y|ies)|warnings?|notices?|alerts?|"
    r"guidance|appeal(?:s|ed|ing)?|implor(?:e|es|ed|ing)|press(?:es|ed|ing)?)\b",
    re.I,
)
_TO_VERB = re.compile(r"\bto\s+[\"']?([a-z]+)\b", re.I)
_MODAL = re.compile(
    r"\b(?:should|must|are advised to|is advised to|are urged to|are encouraged to|need to|"
    r"ought to|are asked to|are told to)\s+(?:(?:be\s+advised|continue|also|always|still)\s+"
    r"(?:to\s+)?)?[\"']?([a-z]+)\b",
    re.I,
)
_GERUND = re.compile(
    r"\b(?:recommend(?:s|ed|ing)?|importance of|suggest(?:s|ed|ing)?|advis(?:e|es|ed|ing)|"
    r"urg(?:e|es|ed|ing))\s+[\"']?([a-z]+ing)\b",
    re.I,
)
_AGAINST = re.compile(r"\bagainst\s+([a-z]+ing)\b", re.I)
_LEADING_CLAUSE = re.compile(
    r"^(?:because|if|when|while|as|since|although|though|given|due to|in light of|with|"
    r"until|before|after|during|once|whenever|wherever)\b[^,]{0,160},\s*",
    re.I,
)
_QUOTED = re.compile(r"[\"']([A-Za-z][^\"]{2,200}?)[\"']")

# A phrase ends at the first of these (the match is excluded from the phrase).
# One character class first (a clause mark or whitespace), so that the engine skips to
# candidate characters instead of trying every alternative at every character; the same
# alternatives, in the same order, follow for whitespace.
_STOP = re.compile(
    r"[,;:()\"\s](?:(?<=[,;:()\"])"
    r"|(?<=\s)(?:-\s|(?:while|because|due to|as a result|as well as|as|if|when|until|unless|"
    r"since|citing|cited|in light of|particularly|especially|including|to include|to prevent|"
    r"so that|following|after|before|amid|despite|which|who|whose|and said|but|or else|"
    r"because of|warning|saying|adding|according)\b"
    r"|(?:over|in|for|during|within)\s+the\s+(?:next|coming|following)\b"
    r"|(?:today|tonight|tomorrow|this weekend|on (?:mon|tues|wednes|thurs|fri|satur|sun)day)\b"
    r"|(?:that|where)\s))",
    re.I,
)
_GENERIC_PLACE = re.compile(r"\b(?:areas?|places?|locations?|zones?|parts?|regions?)$", re.I)
_SPLIT = re.compile(
    r"[,\s](?:(?<=,)\s*(?:and\s+)?|(?<=\s)\s*and\s+(?:to\s+)?|(?<=\s)\s*or\s+)"
    r"(?=[\"']?([a-z]+)\b)",
    re.I,
)
_MAX_WORDS = 10
_BE_ADVICE = re.compile(
    r"\s+[\"']?(?:aware|alert|vigilant|careful|prepared|ready|cautious|mindful|wary|"
    r"extra|especially|particularly|very|extremely|on guard|on alert|sure)\b",
    re.I,
)
_CLAUSE_BREAK = re.compile(
    r"\b(?:after|before|because|while|although|though|but|since|"
    r"when|whereas|once)\b|[;:]",
    re.I,
)
_OPENING_QUOTE = re.compile(r"(?<=\s)\"(?=\w)")
_FIRST_WORD = re.compile(r"[\"']?([A-Za-z]+)")
_PIECE_WORD = re.compile(r"[\"']?([A-Za-z]+)(?![\w-])")
_LETTERS = re.compile(r"([A-Za-z]+)")


@dataclass(frozen=True, slots=True)
class AdvicePhrase:
    text: str  # lower case
    start: int  # offset in the sentence


def _base(word: str) -> str | None:
    low = word.lower()
    if low in ADVICE_VERBS:
        return low
    if low in _IRREGULAR_ING:
        return _IRREGULAR_ING[low]
    if low.endswith("ing"):
        stem = low[:-3]
        for candidate in (stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2]
                          else stem):  # fmt: skip
            if candidate in ADVICE_VERBS:
                return candidate
    return None


def _cut(rest: str) -> str:
    """The phrase that starts ``rest``, up to its clause boundary."""
    rest = _OPENING_QUOTE.sub("", rest)
    end = len(rest)
    for match in _STOP.finditer(rest):
        if match.group().strip().lower() == "where" and _GENERIC_PLACE.search(
            rest[: match.start()].rstrip()
        ):
            continue
        if match.group().strip() in {",", "-"} and match.start() < 4:
            continue
        end = match.start()
        break
    phrase = rest[:end]
    words = phrase.split()
    if len(words) > _MAX_WORDS:
        words = words[:_MAX_WORDS]
    return " ".join(words).strip(" \"'.!?").lower()


def _phrases_from(sentence: str, start: int, verb_start: int, base: str) -> list[AdvicePhrase]:
    """Phrases beginning at ``start`` with coordinated advice verbs split off."""
    out: list[AdvicePhrase] = []
    rest = sentence[start:]
    # Replace a leading gerund by its base form ("avoiding areas" -> "avoid areas").
    first_word = _FIRST_WORD.match(rest)
    if first_word:
        rest = base + rest[first_word.end() :]
    # Split at coordinated advice verbs before cutting at clause boundaries.
    pieces: list[tuple[int, str]] = []
    cursor = 0
    for match in _SPLIT.finditer(rest):
        nxt = match.group(1)
        if _base(nxt) is None or (
            nxt.lower() == "be" and not _BE_ADVICE.match(rest[match.end() + 2 :])
        ):
            continue
        if cursor == 0 and match.start() == 0:
            continue
        pieces.append((cursor, rest[cursor : match.start()]))
        cursor = match.end()
    pieces.append((cursor, rest[cursor:]))
    for offset, piece in pieces:
        word = _PIECE_WORD.match(piece)
        if word is None:
            continue
        verb = _base(word.group(1))
        if verb is None:
            break
        if verb == "be" and not _BE_ADVICE.match(piece[word.end() :]):
            continue
        body = verb + piece[word.end() :]
        text = _cut(body)
        text = text.replace('"', "").strip(" '")
        if len(text.split()) >= 1 and text not in {"be", "do", "have", "get", "make", "take"}:
            out.append(AdvicePhrase(text, verb_start + offset))
    return out


# Cheap tests that let most sentences skip the expensive patterns: substrings of the
# lower-cased sentence that every match of the pattern contains.
def _modal_hint(low: str) -> bool:
    return (
        "should" in low or "must" in low or "advised to" in low or "urged to" in low
        or "encouraged to" in low or "need to" in low or "ought" in low or "asked to" in low
        or "told to" in low
    )  # fmt: skip


def _gerund_hint(low: str) -> bool:
    return (
        "recommend" in low or "importance of" in low or "suggest" in low or "advis" in low
        or "urg" in low
    )  # fmt: skip


# Stems each match of these patterns opens with (see text.stem_starts).
_GERUND_STEMS = ("recommend", "importance of", "suggest", "advis", "urg")
_TRIGGER_STEMS = ("advis", "urg", "ask", "tell", "told", "call", "encourag", "recommend",
                  "warn", "caution", "instruct", "remind", "direct", "order", "notice", "alert",
                  "guidance", "appeal", "implor", "press")  # fmt: skip


def _gerunds(sentence: str) -> Iterator[re.Match[str]]:
    """``_GERUND.finditer(sentence)``, tried only at its stems."""
    return finditer_at_stems(_GERUND, sentence, _GERUND_STEMS)


def _to_verbs(sentence: str, low: str) -> Iterator[re.Match[str]]:
    """``_TO_VERB.finditer(sentence)``, tried only where "to" is."""
    if not sentence.isascii():
        yield from _TO_VERB.finditer(sentence)
        return
    end = 0
    at = low.find("to")
    while at >= 0:
        if at >= end and (match := _TO_VERB.match(sentence, at)) is not None:
            yield match
            end = match.end()
        at = low.find("to", at + 1)


def _last_trigger(sentence: str, low: str, lo: int, hi: int) -> re.Match[str] | None:
    """``_last(_TRIGGER.finditer(sentence, lo, hi))``. Trigger matches are whole words
    (or "call on") and none starts inside another, so the last one found left to right
    is the one that starts furthest right: try the stems from the right."""
    if not sentence.isascii():
        return _last(_TRIGGER.finditer(sentence, lo, hi))
    for at in reversed(stem_starts(low, _TRIGGER_STEMS, lo, hi)):
        match = _TRIGGER.match(sentence, at, hi)
        if match is not None:
            return match
    return None


def _last(matches: Iterator[re.Match[str]]) -> re.Match[str] | None:
    last = None
    for last in matches:  # noqa: B007 - the loop keeps the last match
        pass
    return last


def extract_advice(sentence: str, *, imperative: bool = False) -> list[AdvicePhrase]:
    """Advice phrases in one sentence. ``imperative``: the sentence may open with one
    (a bullet, an Actions section, a quote, a first-party advisory)."""
    found: list[AdvicePhrase] = []

    def add_all(phrases: list[AdvicePhrase]) -> None:
        for phrase in phrases:
            if all(phrase.text not in seen.text and seen.text not in phrase.text
                   for seen in found):  # fmt: skip
                found.append(phrase)

    low = sentence.lower()
    if imperative:
        clean = sentence.strip().lstrip("\"'").strip()
        offset = len(sentence) - len(sentence.lstrip().lstrip("\"'").lstrip())
        lead = _LEADING_CLAUSE.match(clean)
        start = lead.end() if lead else 0
        word = _LETTERS.match(clean[start:])
        if (
            word
            and (verb := _base(word.group(1)))
            and word.group(1).lower() == verb
            and clean[start + word.end() : start + word.end() + 1] != "-"
        ):
            add_all(_phrases_from(clean, start, offset + start, verb))
        elif word and clean[start:].lower().startswith(("do not", "don't", "never")):
            add_all([AdvicePhrase(_cut(clean[start:]), offset + start)])
    for match in _QUOTED.finditer(sentence) if '"' in sentence or "'" in sentence else ():
        inner = match.group(1)
        word = _LETTERS.match(inner)
        opens = word is not None and (
            word.group(1)[0].isupper()
            or sentence[: match.start()].rstrip().endswith(("to", "be", ",", "and"))
        )
        if word and opens and (verb := _base(word.group(1))) and word.group(1).lower() == verb:
            add_all(_phrases_from(sentence, match.start(1), match.start(1), verb))
    # "urged Americans ... to depart": an advice verb after "to", with an advising word
    # before it in the same clause. Candidates first (cheap), the trigger check only for them.
    for match in _to_verbs(sentence, low) if " to " in low else ():
        verb = _base(match.group(1))
        if not verb or match.group(1).lower() != verb:
            continue
        window_start = max(0, match.start() - 220)
        trigger = _last_trigger(sentence, low, window_start, match.start())
        if trigger is None or _CLAUSE_BREAK.search(sentence, trigger.end(), match.start()):
            continue
        add_all(_phrases_from(sentence, match.start(1), match.start(1), verb))
    for match in _MODAL.finditer(sentence) if _modal_hint(low) else ():
        verb = _base(match.group(1))
        if verb and match.group(1).lower() == verb:
            add_all(_phrases_from(sentence, match.start(1), match.start(1), verb))
    for match in _gerunds(sentence) if _gerund_hint(low) else ():
        verb = _base(match.group(1))
        if verb:
            add_all(_phrases_from(sentence, match.start(1), match.start(1), verb))
    for match in _AGAINST.finditer(sentence) if "against" in low else ():
        verb = _base(match.group(1))
        if verb and _TRIGGER.search(sentence[: match.start()]):
            phrase = "do not " + _cut(verb + sentence[match.end() :])
            add_all([AdvicePhrase(phrase, match.start())])
    found.sort(key=lambda p: p.start)
    return found
