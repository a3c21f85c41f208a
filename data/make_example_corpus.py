"""Derive the bundled example corpus: adult -> child utterance pairs from Sarah (Brown corpus).

An adult utterance (any speaker_role but Target_Child) immediately followed by
the Target_Child's becomes one sentence, `<MOT> Who's that ? <CHI> Oh yeah .`,
with one span per speaker. Standard library only; the output is deterministic.

    python data/make_example_corpus.py \
        [--source data/sarah_brown-ud-gold.conllu] [--out data/sarah_pairs.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO / "data" / "sarah_brown-ud-gold.conllu"  # vendored: see data/README.md
DEFAULT_OUT = REPO / "data" / "sarah_pairs.jsonl"
LIMIT = 2000  # take every pair, or the first LIMIT in file order if there are more
MINIMUM = 500
CHILD = "Target_Child"
# CHAT speaker codes; any other role gets its first three letters upper-cased, except
# that "CHI" stays the Target_Child's alone (the role "Child" would otherwise take it).
CODES = {"Mother": "MOT", "Father": "FAT", "Investigator": "INV", CHILD: "CHI"}
OTHER_CHILD = "OCH"


def read_utterances(path: Path) -> Iterator[dict]:
    """Each sentence of a CoNLL-U file: its `# key = value` comments and its surface tokens."""
    comments: dict[str, str] = {}
    tokens: list[str] = []
    covered = 0  # the last word number inside the current multiword token
    with path.open(encoding="utf-8") as f:
        for line in [*f, "\n"]:
            line = line.rstrip("\r\n")
            if not line.strip():
                if tokens:
                    yield {**comments, "tokens": tokens}
                comments, tokens, covered = {}, [], 0
            elif line.startswith("#"):
                key, _, value = line[1:].partition("=")
                comments[key.strip()] = value.strip()
            else:
                ident, form = line.split("\t")[:2]
                if "-" in ident:  # a multiword token: its FORM is the surface, not its parts
                    tokens.append(form)
                    covered = int(ident.split("-")[1])
                elif "." not in ident and int(ident) > covered:
                    tokens.append(form)


def speaker_code(role: str) -> str:
    """The CHAT-style tag for a speaker role: MOT, FAT, INV, CHI, else the role's first letters."""
    code = CODES.get(role, role[:3].upper())
    return OTHER_CHILD if code == "CHI" and role != CHILD else code


def make_pair(adult: dict, child: dict, source: str) -> dict:
    """One example sentence: both utterances tagged by speaker, one span each."""
    spans, parts, start = [], [], 0
    for utterance in (adult, child):
        code = speaker_code(utterance["speaker_role"])
        part = " ".join([f"<{code}>", *utterance["tokens"]])
        spans.append({"label": code, "start": start, "end": start + len(part)})
        parts.append(part)
        start += len(part) + 1
    meta = {"source": source}
    for who, utterance in (("adult", adult), ("child", child)):
        meta[f"{who}_sent_id"] = utterance["sent_id"]
        meta[f"{who}_speaker_role"] = utterance["speaker_role"]
        meta[f"{who}_speaker_age"] = float(utterance["speaker_age"])
    pair_id = f"{adult['sent_id']}-{child['sent_id']}"
    return {"id": pair_id, "text": " ".join(parts), "spans": spans, "meta": meta}


def make_pairs(source: Path, limit: int = LIMIT) -> list[dict]:
    """Adjacent (adult, Target_Child) utterance pairs in file order, at most `limit`."""
    pairs, previous = [], None
    for utterance in read_utterances(source):
        if (
            previous is not None
            and previous["speaker_role"] != CHILD
            and utterance["speaker_role"] == CHILD
        ):
            pairs.append(make_pair(previous, utterance, source.name))
            if len(pairs) == limit:
                break
        previous = utterance
    return pairs


def main(argv: list[str] | None = None) -> int:
    """Write the pairs as JSON lines (sorted keys, UTF-8) and report how many."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--limit", type=int, default=LIMIT)
    args = parser.parse_args(argv)
    pairs = make_pairs(args.source, args.limit)
    if len(pairs) < MINIMUM:
        print(f"only {len(pairs)} pairs in {args.source} (need {MINIMUM})", file=sys.stderr)
        return 1
    with args.out.open("w", encoding="utf-8", newline="\n") as f:
        for pair in pairs:
            f.write(json.dumps(pair, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {len(pairs)} pairs to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
