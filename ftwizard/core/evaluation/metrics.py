"""How close a generated answer is to its reference: ROUGE-L (rouge-score), BLEU and
chrF (sacrebleu), and exact match after normalisation.

The libraries are imported inside the functions: ``ftwizard eval`` needs them, nothing
else does, and rouge-score pulls in nltk.
"""

from __future__ import annotations

import re
import string
from functools import cache
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalise(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())


def exact_match(answer: str, reference: str) -> float:
    return float(normalise(answer) == normalise(reference))


@cache
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F1 in [0, 1], with Porter stemming as the ROUGE paper scores it."""
    return float(_rouge().score(reference, answer)["rougeL"].fmeasure)


def sentence_bleu(answer: str, reference: str) -> float:
    """BLEU of one answer, 0-100, smoothed (sacrebleu's default for sentences)."""
    import sacrebleu

    return float(sacrebleu.sentence_bleu(answer, [reference]).score)


def corpus_bleu(answers: list[str], references: list[str]) -> float:
    """BLEU over every answer at once, 0-100: the figure papers report."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(answers, [references]).score)


def corpus_chrf(answers: list[str], references: list[str]) -> float:
    """chrF over every answer, 0-100: character n-grams, kinder to short answers."""
    import sacrebleu

    return float(sacrebleu.corpus_chrf(answers, [references]).score)
