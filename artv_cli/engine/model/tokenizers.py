"""Tokenizers built in code (no download): one token per character, or the synthetic world's words."""

from __future__ import annotations

from transformers import CLIPTokenizer


def char_tokenizer() -> CLIPTokenizer:
    """A byte-level CLIP tokenizer with no merges (one token per character), built without any download."""
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for char in alphabet:
            vocab[char + suffix] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def world_tokenizer() -> CLIPTokenizer:
    """The byte-level tokenizer plus BPE merges that make each word of the synthetic world one token.

    Any other text still tokenizes, character by character. Written by hand (the `tokenizers` trainer
    breaks ties differently from run to run): each word, in sorted order, gets merges of its first two
    pieces until it is one token; a merge ranked after all earlier ones cannot change an earlier word.
    """
    from artv_cli.engine.data.captions import vocabulary

    words = vocabulary()
    ranks: dict[tuple[str, str], int] = {}
    for word in sorted(words):
        pieces = _bpe([*word[:-1], word[-1] + "</w>"], ranks)
        while len(pieces) > 1:
            ranks[(pieces[0], pieces[1])] = len(ranks)
            pieces = _bpe(pieces, ranks)
    vocab = dict(char_tokenizer().get_vocab())
    for left, right in ranks:
        vocab.setdefault(left + right, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=list(ranks), model_max_length=77)


def _bpe(pieces: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding of one word: merge the lowest-ranked adjacent pair until none is ranked."""
    while len(pieces) > 1:
        pairs = [
            (ranks.get((a, b), len(ranks)), i)
            for i, (a, b) in enumerate(zip(pieces[:-1], pieces[1:], strict=True))
        ]
        rank, i = min(pairs)
        if rank == len(ranks):
            return pieces
        pieces = [*pieces[:i], pieces[i] + pieces[i + 1], *pieces[i + 2 :]]
    return pieces
