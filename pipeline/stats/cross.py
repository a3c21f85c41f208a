"""Cross-attention statistics: what a decoder head's attention from the target's words to the
source's words does, as one number per (layer, head) (registered in
pipeline.stats.definitions, which says which statistics each part has).

W[l, h, i, j]: rows = the target's n_t words i, columns = the source's n_s words j (word maps
per Clark et al.: a row is the mean over the word's tokens, a column the sum over the word's
tokens); the rest of a row, 1 - sum_j W[i, j], went to the source's special tokens (EOS, and
BART's <s>: the special share, the known sink). Positions across two sentences mean nothing
as such (no distance, no previous word): these statistics compare a target word with the
source as a whole (alignment entropy), at its relative position (diagonal), or by form
(copy). docs/store.md has the definitions and their references.
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


def diagonal(m: WordMaps) -> np.ndarray:
    """Mean over the target words i of W[i, j(i)], the attention paid to the source word at the
    same relative position (`aligned_columns`): the monotone diagonal of an alignment; a
    uniform head gets 1 / n_s. Needs two target words (one has no relative position)."""
    if m.n_rows < 2:
        return m.nan()
    j = aligned_columns(m.n_rows, m.n)
    return m.per_head(m.row_mean(m.C[j, np.arange(m.n_rows)]))


def copy(m: WordMaps) -> np.ndarray:
    """Over the target words i (no punctuation) whose form occurs in the source (case-folded),
    the mean of sum_{j: form j == form i} W[i, j]: attention to the word's copies in the
    source (names, numbers, a summary's copied words: the copy attention of pointer-generator
    models, See et al. 2017). NaN where no target word occurs in the source."""
    return m.pick(m.same_form)
