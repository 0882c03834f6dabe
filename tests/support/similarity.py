"""Near-duplicate detection for role bodies: word-shingle Jaccard and containment over normalized text.

Text is normalized (lower case, Markdown punctuation dropped, words only), cut into overlapping 5-word
shingles, and each pair of documents is compared by
  - Jaccard   = |A ∩ B| / |A ∪ B|          (how much the two texts are the same text), and
  - containment = |A ∩ B| / min(|A|, |B|)  (how much of the shorter text is inside the longer one).
Shingles are hashed to ints so the ~13,000 pairs of 164 roles compare in about a second.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass

SHINGLE_WORDS = 5
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingles(text: str, k: int = SHINGLE_WORDS) -> frozenset[int]:
    tokens = words(text)
    if len(tokens) < k:
        return frozenset({hash(tuple(tokens))}) if tokens else frozenset()
    return frozenset(hash(tuple(tokens[i:i + k])) for i in range(len(tokens) - k + 1))


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    jaccard: float
    containment: float


def compare(a: frozenset[int], b: frozenset[int]) -> tuple[float, float]:
    if not a or not b:
        return 0.0, 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common), common / min(len(a), len(b))


def all_pairs(texts: Mapping[str, str]) -> list[Pair]:
    """Every pair, most similar (by Jaccard) first."""
    sets = {key: shingles(text) for key, text in texts.items()}
    pairs = []
    for (ka, sa), (kb, sb) in itertools.combinations(sets.items(), 2):
        jaccard, containment = compare(sa, sb)
        pairs.append(Pair(ka, kb, jaccard, containment))
    pairs.sort(key=lambda p: (p.jaccard, p.containment), reverse=True)
    return pairs


def paragraphs(text: str, min_words: int = 25) -> set[str]:
    """Normalized paragraphs (blank-line separated, list items taken one by one) of at least `min_words`."""
    found = set()
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*+]|\d+\.)\s)", text):
        normalized = " ".join(words(block))
        if len(normalized.split()) >= min_words:
            found.add(normalized)
    return found
