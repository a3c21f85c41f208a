"""Cross-attention statistics: what a decoder head's attention from the target's words to the
source's words does, as one number per (layer, head) (registered in
pipeline.stats.definitions, which says which statistics each part has).

W[l, h, i, j]: rows = the target's n_t words i, columns = the source's n_s words j (word maps
per Clark et al.: a row is the mean over the word's tokens, a column the sum over the word's
tokens); the rest of a row, 1 - sum_j W[i, j], went to the source's special tokens (EOS, and
BART's <s>: the special share, the known sink). Positions across two sentences mean nothing
as such (no distance, no previous word): these statistics compare a target word with the
source as a whole (alignment entropy), at its relative position (diagonal), or by form
(copy, copy_next). A row is the decoder reading target word i (teacher forcing: the step that
then predicts word i + 1), as on every part. docs/store.md has the definitions and their
references.
"""

from __future__ import annotations

import functools

import numpy as np

from pipeline.stats.word_maps import WordMaps, xlog2x


def align_entropy(m: WordMaps) -> np.ndarray:
    """Mean over the target words i that attend to some source word (a_i = sum_j W[i, j] > 0)
    of the entropy in bits of p_ij = W[i, j] / a_i, the word's attention over the source words
    renormalised (special tokens left out): -sum_j p_ij log2 p_ij = log2 a_i - sum_j W[i, j]
    log2 W[i, j] / a_i. 0 = one source word; a uniform head gets log2 n_s (after the
    attention entropy of Ghader & Monz 2017). NaN where no target word attends to the source."""
    mass = m.row_sum  # (r, M): a_i
    plogp = xlog2x(m.C).sum(axis=0)  # (r, M): sum_j W log2 W
    defined = mass > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        bits = np.where(defined, np.log2(np.maximum(mass, np.float32(1e-30))) - plogp / mass,
                        np.float32(0.0))
    bits = np.maximum(bits, np.float32(0.0))  # rounding: an entropy is never below 0
    count = defined.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = bits.sum(axis=0) / count.astype(np.float32)
    return m.per_head(np.where(count > 0, mean, np.float32(np.nan)).astype(np.float32))


@functools.lru_cache(maxsize=1024)
def aligned_columns(n_t: int, n_s: int) -> np.ndarray:
    """The source word at each target word's relative position: j(i) = round(i (n_s - 1) /
    (n_t - 1)), halves rounded up, for i = 0 .. n_t - 1 (n_t >= 2): the first word to the
    first, the last to the last, in integers (no float ties). int64 (n_t,)."""
    i = np.arange(n_t)
    return (2 * i * (n_s - 1) + (n_t - 1)) // (2 * (n_t - 1))


BAND = 1  # the diagonal's half-width in source words


def diagonal(m: WordMaps) -> np.ndarray:
    """Mean over the target words i of sum_{|j - j(i)| <= BAND} W[i, j], the attention paid to
    the source words around the one at the same relative position (`aligned_columns`): the
    monotone diagonal of an alignment, as a band one word either side, so that it holds a row
    read one word before the word it predicts (a row is the decoder reading word i: an
    alignment to the word it generates sits about one word on) and small reorderings. A
    uniform head gets (the band's words) / n_s, about 3 / n_s. Needs two target words (one has
    no relative position)."""
    if m.n_rows < 2:
        return m.nan()
    i, j = np.arange(m.n_rows), aligned_columns(m.n_rows, m.n)
    paid = np.zeros(m.C.shape[1:], dtype=np.float32)  # (r, M)
    for k in range(-BAND, BAND + 1):  # in order of j: the same sum for any batch
        inside = (j + k >= 0) & (j + k < m.n)
        paid[i[inside]] += m.C[j[inside] + k, i[inside]]
    return m.per_head(m.row_mean(paid))


def copy(m: WordMaps) -> np.ndarray:
    """Over the target words i (no punctuation) whose form occurs in the source (case-folded),
    the mean of sum_{j: form j == form i} W[i, j]: attention to the copies in the source of the
    word the decoder reads (as `duplicate` within one sentence). NaN where no target word
    occurs in the source."""
    return m.pick(m.same_form)


def copy_next(m: WordMaps) -> np.ndarray:
    """Over the target words i (no punctuation) with a copy j < n_s - 1 in the source, the mean
    of sum_j W[i, j + 1]: attention to the source word after the copy of the word the decoder
    reads, the next word to copy (as `induction` within one sentence: prefix matching across
    the two; what a copying head attends to, the copy attention of pointer-generator models,
    See et al. 2017). NaN where no target word has such a copy."""
    shifted = np.zeros_like(m.same_form)  # shifted[j + 1, i] = same_form[j, i]
    shifted[1:] = m.same_form[:-1]
    return m.pick(shifted)
