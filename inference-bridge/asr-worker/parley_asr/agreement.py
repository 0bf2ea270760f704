"""LocalAgreement-2: text is confirmed once two consecutive hypotheses agree on it.

The policy of whisper_streaming (Macháček et al., 2023): each pass
re-transcribes the audio buffer; the longest common prefix of this pass's
words and the previous pass's unconfirmed words becomes confirmed. Words of a
new hypothesis that end before the confirmed text (the buffer still holds
their audio until it is trimmed) are dropped by time, and a repeat of the last
confirmed words at the start of the new hypothesis (an n-gram of up to 5
words) by text.

Plain logic on `Word`s with absolute sample times: no model, no clock.
"""

from __future__ import annotations

import re
import unicodedata

from .engine import Word

SAMPLE_RATE = 16000
# Timing slack when dropping re-transcribed confirmed words: word times from
# cross-attention are approximate (one encoder position is 20 ms).
OVERLAP_SLACK_SAMPLES = SAMPLE_RATE // 10
MAX_NGRAM = 5

_PUNCTUATION = re.compile(r"[^\w']+")


def normalise(text: str) -> str:
    """Comparison key of a word: case, accents' composition and punctuation do not count."""
    return _PUNCTUATION.sub("", unicodedata.normalize("NFC", text).casefold())


class LocalAgreement:
    """Confirmed and tentative words of one stream's open segment."""

    def __init__(self) -> None:
        self.confirmed: list[Word] = []  # confirmed, not yet handed out as a final
        self.tentative: list[Word] = []  # the last hypothesis beyond the confirmed words
        self._confirmed_end = 0  # end (samples) of the last word ever confirmed
        self._tail: list[str] = []  # normalised last confirmed words, for the n-gram check

    def update(self, hypothesis: list[Word]) -> list[Word]:
        """Takes a new hypothesis of the buffer; returns the words it confirms."""
        new = self._beyond_confirmed(hypothesis)
        agreed = 0
        while (
            agreed < len(new)
            and agreed < len(self.tentative)
            and normalise(new[agreed].text) == normalise(self.tentative[agreed].text)
        ):
            agreed += 1
        confirmed = new[:agreed]
        self.tentative = new[agreed:]
        if confirmed:
            self.confirmed.extend(confirmed)
            self._confirmed_end = max(self._confirmed_end, confirmed[-1].end)
            self._tail = (self._tail + [normalise(w.text) for w in confirmed])[-MAX_NGRAM:]
        return confirmed

    def flush(self, hypothesis: list[Word]) -> list[Word]:
        """End of the segment: the last hypothesis is taken whole, agreed or not.
        Returns every word of the segment (confirmed ones first) and resets it."""
        words = self.confirmed + self._beyond_confirmed(hypothesis)
        self.confirmed, self.tentative = [], []
        if words:
            self._confirmed_end = max(self._confirmed_end, words[-1].end)
            self._tail = (self._tail + [normalise(w.text) for w in words])[-MAX_NGRAM:]
        return words

    def take_confirmed(self) -> list[Word]:
        """Hands out the confirmed words (the buffer is trimmed behind them)."""
        words, self.confirmed = self.confirmed, []
        return words

    def _beyond_confirmed(self, hypothesis: list[Word]) -> list[Word]:
        new = [w for w in hypothesis if w.start > self._confirmed_end - OVERLAP_SLACK_SAMPLES]
        if not new or not self._tail or new[0].start - self._confirmed_end > SAMPLE_RATE:
            return new
        # The model often repeats the last confirmed words at the start of the
        # window (their audio is still in the buffer, or the prompt primes it).
        keys = [normalise(w.text) for w in new[:MAX_NGRAM]]
        for n in range(min(MAX_NGRAM, len(self._tail), len(keys)), 0, -1):
            if keys[:n] == self._tail[-n:]:
                return new[n:]
        return new
