"""Sentence- and section-aware chunks with exact character offsets."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.errors import ConfigError
from assistant.models import Chunk, Document
from assistant.text import MAX_SENTENCE_WORDS, blocks, sentence_spans, word_spans


VECTOR_METHODS = ("sentences", "model")


@dataclass(frozen=True, slots=True)
class Chunker:
    """Groups whole sentences into chunks of at most `size` words, sharing `overlap` sentences.

    A chunk never crosses a section heading and never cuts a sentence of at most `size` words;
    a longer one (text with no sentence breaks) is cut at word boundaries into runs of at most
    `size` words, so no chunk is ever longer than `size` words (see `text.word_spans`).
    """

    size: int = 160
    overlap: int = 1
    # How a chunk's vector is made (recorded with the chunking, since an index must not mix
    # them): "sentences" composes it from its sentences' vectors and its title's; "model"
    # embeds the chunk's whole text (indexes built before sentence composition).
    vectors: str = "sentences"

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 16:
            raise ConfigError(f"chunk size must be an integer of at least 16 words, got {self.size!r}")
        if not isinstance(self.overlap, int) or self.overlap < 0:
            raise ConfigError(f"chunk overlap must be a whole number of sentences, got {self.overlap!r}")
        if self.vectors not in VECTOR_METHODS:
            raise ConfigError(f"chunk vectors must be one of {', '.join(VECTOR_METHODS)}, got "
                              f"{self.vectors!r}")
        if self.overlap * 8 >= self.size:
            raise ConfigError(
                f"chunk overlap of {self.overlap} sentences leaves no room in chunks of "
                f"{self.size} words: lower the overlap or raise the size"
            )

    def settings(self) -> dict[str, int | str]:
        """What the manifest records, so a later ingest can check it chunks the same way."""
        out: dict[str, int | str] = {"method": "sentences-v1", "size": self.size,
                                     "overlap": self.overlap}
        if self.vectors != "model":  # an index built before composition records no "vectors"
            out["vectors"] = self.vectors
        return out

    def split(self, doc: Document) -> list[Chunk]:
        """The chunks of one document, in order."""
        text = doc.text
        chunks: list[Chunk] = []
        section: str | None = None
        pending: list[tuple[int, int]] = []  # sentences of the current section

        def flush() -> None:
            for start, end in self._group(pending, text):
                chunks.append(
                    Chunk(
                        doc_id=doc.doc_id,
                        ordinal=len(chunks),
                        char_start=start,
                        char_end=end,
                        text=text[start:end],
                        section=section,
                    )
                )
            pending.clear()

        for block in blocks(text):
            if block.is_heading:
                flush()
                section = text[block.start : block.end]
            else:
                # Sentences come cut to at most `size` words (and never over the quote limit).
                pending.extend(sentence_spans(text, block.start, block.end,
                                              max_words=min(self.size, MAX_SENTENCE_WORDS)))
        flush()
        return chunks

    def _group(self, sents: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
        counts = [len(word_spans(text, s, e)) for s, e in sents]
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(sents):
            j, words = i, 0
            while j < len(sents) and (j == i or words + counts[j] <= self.size):
                words += counts[j]
                j += 1
            out.append((sents[i][0], sents[j - 1][1]))
            if j >= len(sents):
                break
            # Step back by the overlap, but always move forward by at least one sentence.
            i = max(j - self.overlap, i + 1)
        return out
