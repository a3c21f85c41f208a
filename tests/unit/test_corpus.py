"""Reading corpora: the three formats, the bad-input matrix, stable ids, the bundled corpus."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import pipeline
from pipeline.corpus import bundled_corpus_path, list_readers, read_corpus
from pipeline.errors import CorpusError
from pipeline.records import Span

REPO = Path(__file__).resolve().parents[2]
SARAH = REPO / "data" / "sarah_brown-ud-gold.conllu"  # the source treebank, vendored


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    """A corpus file in tmp_path."""
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def jsonl(*objects: object) -> bytes:
    """JSON lines from Python objects (strings are written as they are)."""
    lines = [o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in objects]
    return ("\n".join(lines) + "\n").encode("utf-8")


def sha_id(text: str) -> str:
    """The content id the reader derives for a text."""
    return "s-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# --- each format read correctly -------------------------------------------


def test_txt_reads_lines_skipping_blank_ones(tmp_path):
    path = write(tmp_path, "c.txt", "Who's that?\n\n   \nOh <CHI> yeah .\n")
    report = read_corpus(path)
    assert [s.text for s in report.sentences] == ["Who's that?", "Oh <CHI> yeah ."]
    assert [s.id for s in report.sentences] == [sha_id("Who's that?"), sha_id("Oh <CHI> yeah .")]
    assert report.sentences[0].words == ["Who's", "that", "?"]
    assert report.sentences[1].words == ["Oh", "<CHI>", "yeah", "."]
    assert [s.source for s in report.sentences] == [(str(path), 1), (str(path), 4)]
    assert report.skipped == []


def test_jsonl_reads_ids_spans_as_word_indices_and_meta(tmp_path):
    text = "<MOT> who's that ? <CHI> oh yeah ."
    spans = [{"label": "MOT", "start": 0, "end": 18}, {"label": "CHI", "start": 19, "end": 34}]
    data = jsonl({"id": "p1", "text": text, "spans": spans, "meta": {"age": 3}}, "", {"text": "hi"})
    report = read_corpus(write(tmp_path, "c.jsonl", data))
    first, second = report.sentences
    assert (first.id, first.text, first.meta) == ("p1", text, {"age": 3})
    assert first.spans == (Span("MOT", 0, 4), Span("CHI", 4, 8))
    assert first.words[:4] == ["<MOT>", "who's", "that", "?"]
    assert (second.id, second.spans, second.meta, second.source[1]) == (sha_id("hi"), (), {}, 3)


def test_jsonl_reads_a_pairs_target_and_its_spans_over_the_targets_words(tmp_path):
    target = "<TGT> qui est-ce ?"
    data = jsonl({"id": "p", "text": "<SRC> who's that ?", "target": target,
                  "target_spans": [{"label": "TGT", "start": 0, "end": 5},
                                   {"label": "Q", "start": 10, "end": 16}]}, {"text": "hi"})
    pair, plain = read_corpus(write(tmp_path, "c.jsonl", data)).sentences
    assert pair.target == target and pair.target_words == ["<TGT>", "qui", "est", "-", "ce", "?"]
    assert pair.target_word_ranges[1] == (6, 9)
    assert pair.target_spans == (Span("TGT", 0, 1), Span("Q", 2, 5))
    assert pair.id == "p" and pair.words[0] == "<SRC>"
    assert (plain.target, plain.target_word_ranges, plain.target_spans) == (None, (), ())
    assert read_corpus(write(tmp_path, "c.txt", b"hi\n")).sentences[0].target is None


def test_jsonl_span_takes_every_word_it_overlaps(tmp_path):
    data = jsonl(
        {"id": "a", "text": "alpha beta gamma", "spans": [{"label": "x", "start": 3, "end": 7}]}
    )
    (sentence,) = read_corpus(write(tmp_path, "c.jsonl", data)).sentences
    assert sentence.spans == (Span("x", 0, 2),)


CONLLU = """\
# sent_id = 1890093
# speaker_role = Investigator
# text = What's this?
1-2\tWhat's\t_\t_\t_\t_\t_\t_\t_\t_
1\tWhat\twhat\tPRON\tWP\t_\t0\troot\t0:root\t_
2\t's\tbe\tAUX\tVBZ\t_\t1\tcop\t1:cop\t_
3\tthis\tthis\tPRON\tDT\t_\t1\tnsubj\t1:nsubj\tSpaceAfter=No
3.1\tis\tbe\tAUX\t_\t_\t_\t_\t1:cop\t_
4\t?\t?\tPUNCT\t?\t_\t1\tpunct\t1:punct\t_

# sent_id = 1869366
# speaker_role = Target_Child
1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No
1\tdo\tdo\tAUX\tVBP\t_\t3\taux\t3:aux\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t3:advmod\t_
3\t!\t!\tPUNCT\t.\t_\t0\troot\t0:root\t_
"""


def test_conllu_reads_ids_forms_and_meta(tmp_path):
    path = write(tmp_path, "c.conllu", CONLLU)
    first, second = read_corpus(path).sentences
    assert (first.id, first.text, first.source) == ("1890093", "What's this?", (str(path), 1))
    assert first.words == ["What", "'s", "this", "?"]  # no range line, no empty node
    assert first.meta == {"speaker_role": "Investigator"}
    # no `# text`: rebuilt from the forms, no space inside a multiword token or after SpaceAfter=No
    assert (second.id, second.text, second.source[1]) == ("1869366", "don't!", 11)
    assert second.words == ["do", "n't", "!"]
    assert second.meta == {"speaker_role": "Target_Child"}


def test_readers_registry_and_whole_file_errors(tmp_path):
    assert list_readers() == [".conllu", ".jsonl", ".txt"]
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus(tmp_path / "missing.txt")
    with pytest.raises(CorpusError, match="is a directory"):
        read_corpus(tmp_path)
    with pytest.raises(ValueError, match="on_error"):
        read_corpus(write(tmp_path, "c.txt", "a\n"), on_error="ignore")


def test_all_items_skipped_still_raises(tmp_path):
    path = write(tmp_path, "c.jsonl", b"{\n[]\n")
    with pytest.raises(
        CorpusError,
        match=r"no sentences: all items were skipped, 2 skipped \(bad json: 1, not an object: 1\)",
    ):
        read_corpus(path, on_error="skip")


# --- stable ids ------------------------------------------------------------


def test_derived_ids_are_stable_and_repeats_get_suffixes(tmp_path):
    lines = ["one", "two", "one", "three", "one"]
    ids = [s.id for s in read_corpus(write(tmp_path, "a.txt", "\n".join(lines))).sentences]
    base = sha_id("one")
    assert ids == [base, sha_id("two"), f"{base}-2", sha_id("three"), f"{base}-3"]
    fewer = [s.id for s in read_corpus(write(tmp_path, "b.txt", "one\nthree\none\n")).sentences]
    assert fewer == [base, sha_id("three"), f"{base}-2"]  # removing "two" renamed nothing


def test_closing_log_line_counts_repeated_texts(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pipeline.corpus")
    path = write(tmp_path, "a.txt", "one\ntwo\none\nthree\none\ntwo\n\n")
    read_corpus(path)
    assert caplog.messages[-1] == f"read 6 sentences from {path} (3 repeat an earlier text); 0 skipped"
    caplog.clear()
    path = write(tmp_path, "b.txt", "one\ntwo\n")
    read_corpus(path)
    assert caplog.messages[-1] == f"read 2 sentences from {path}; 0 skipped"  # none: as before


# --- the bad-input matrix -------------------------------------------------


@dataclass(frozen=True)
class Fails:
    """Whole-file problem: raises in both modes; the message names the file, line and cause."""

    line: int | None
    phrase: str


@dataclass(frozen=True)
class Skips:
    """One bad item: raises when strict; with on_error="skip" a Skip, and `good` still read."""

    reason: str
    line: int
    good: list[str]
    phrase: str = ""


@dataclass(frozen=True)
class Reads:
    """Accepted: the sentences' (id or text, words) are as listed."""

    texts: list[str]
    ids: list[str] | None = None
    words: list[list[str]] | None = None
    labels: list[str] | None = None


OK = {"id": "ok", "text": "fine words"}
WORD_LINE = "1\thi\thi\tINTJ\tUH\t_\t0\troot\t0:root\t_"
LONG = " ".join(["word"] * 2000)[:10_000]
ODD_IDS = ["a/b", "../../etc/passwd", "with  spaces", "<b>bold</b>&amp;", "ünï 中文 🙂", "x" * 300]
EMOJI = "I ❤️ 👩🏽‍💻!"
RTL = "\u202bשלום עולם\u202c مرحبا"


def span(start, end, label="L"):
    """A jsonl span."""
    return {"label": label, "start": start, "end": end}


def after_ok(*items):
    """A .jsonl file: one good line, then the given items."""
    return jsonl(OK, *items)


def spans_after_ok(*spans):
    """A .jsonl file: one good line, then an item over "alpha beta gamma" with these spans."""
    return after_ok({"id": "s", "text": "alpha beta gamma", "spans": list(spans)})


def conllu(*blocks):
    """A .conllu file from sentence blocks (lists of lines)."""
    return "".join("\n".join(block) + "\n\n" for block in blocks).encode()


def fails(case_id, name, data, line, phrase):
    """A whole-file problem."""
    return pytest.param(name, data, Fails(line, phrase), id=case_id)


def reads(case_id, name, data, texts, **expected):
    """An accepted oddity."""
    return pytest.param(name, data, Reads(texts, **expected), id=case_id)


def skips(case_id, data, reason, line, phrase="", good=("fine words",), name="j.jsonl"):
    """One bad item among good ones."""
    return pytest.param(name, data, Skips(reason, line, list(good), phrase), id=case_id)


GOOD_BLOCK = ["# sent_id = good", WORD_LINE]
CASES = [
    # whole-file problems: raise whatever on_error says
    fails("empty-file", "empty.txt", b"", None, "no sentences: the file is empty"),
    fails("only-blank-lines", "blank.jsonl", b"\n  \n\t\r\n", None, "only blank lines"),
    fails("only-blank-conllu", "blank.conllu", b"\n\n", None, "no sentences"),
    fails("utf8-txt", "bad.txt", b"good\nalso good\nbad \xff byte\n", 3, "invalid UTF-8"),
    fails("utf8-jsonl", "bad.jsonl", jsonl(OK) + b'{"text": "\xc3"}\n', 2, "invalid UTF-8"),
    fails("unknown-extension", "c.csv", b"a,b\n", None, "valid: .conllu, .jsonl, .txt"),
    # accepted oddities
    reads("bom-txt", "bom.txt", b"\xef\xbb\xbfhello world\n", ["hello world"]),
    reads("bom-jsonl", "bom.jsonl", b"\xef\xbb\xbf" + jsonl(OK), ["fine words"]),
    reads("crlf-txt", "crlf.txt", b"a b\r\nc d\r\n", ["a b", "c d"]),
    reads("crlf-jsonl", "crlf.jsonl", jsonl(OK).replace(b"\n", b"\r\n"), ["fine words"]),
    reads("crlf-conllu", "crlf.conllu", conllu(GOOD_BLOCK).replace(b"\n", b"\r\n"), ["hi"]),
    reads(
        "odd-ids-verbatim",
        "ids.jsonl",
        jsonl(*({"id": i, "text": "t"} for i in ODD_IDS)),
        ["t"] * 6,
        ids=ODD_IDS,
    ),
    reads(
        "odd-id-conllu",
        "ids.conllu",
        conllu(["# sent_id = ../a b/<i>", WORD_LINE]),
        ["hi"],
        ids=["../a b/<i>"],
    ),
    reads(
        "markup-label",
        "l.jsonl",
        jsonl({"id": "m", "text": "a b", "spans": [span(0, 1, "<b>")]}),
        ["a b"],
        labels=["<b>"],
    ),
    reads("10000-chars", "long.txt", LONG.encode(), [LONG]),
    reads(
        "zero-width",
        "zw.txt",
        "a\u200bb\u200d c\u2060\n".encode(),
        ["a\u200bb\u200d c\u2060"],
        words=[["a", "b", "c"]],
    ),
    reads("rtl", "rtl.txt", RTL.encode(), [RTL], words=[["שלום", "עולם", "مرحبا"]]),
    reads(
        "emoji",
        "emoji.jsonl",
        jsonl({"id": "e", "text": EMOJI, "spans": [span(2, 4, "😀")]}),
        [EMOJI],
        words=[["I", "❤️", "👩🏽‍💻", "!"]],
        labels=["😀"],
    ),
    # one bad item: an error when strict, a skip with on_error="skip"
    skips("malformed-json", after_ok('{"text": "x",}'), "bad json", 2, "column"),
    skips("json-not-object", jsonl('["a"]', OK), "not an object", 1, "array"),
    skips("missing-text", after_ok({"id": "b"}), "missing text", 2),
    skips("empty-text", jsonl({"id": "b", "text": ""}, OK), "empty text", 1),
    skips("whitespace-text", after_ok({"id": "b", "text": " \t "}), "empty text", 2),
    skips("non-string-text", after_ok({"id": "b", "text": 5}), "bad text", 2, "integer"),
    skips("null-text", after_ok({"id": "b", "text": None}), "bad text", 2, "null"),
    skips("no-words-jsonl", after_ok({"id": "b", "text": "\u200b\u200c"}), "no words", 2),
    skips(
        "no-words-txt",
        "ok here\n\u200b\u200b\n".encode(),
        "no words",
        2,
        good=["ok here"],
        name="zw.txt",
    ),
    skips(
        "duplicate-id",
        after_ok({"id": "b", "text": "x"}, {"id": "ok", "text": "y"}),
        "duplicate id",
        3,
        "first seen on line 1",
        good=["fine words", "x"],
    ),
    skips("empty-id", after_ok({"id": "", "text": "x"}), "bad id", 2, "empty"),
    skips("non-string-id", after_ok({"id": 7, "text": "x"}), "bad id", 2, "integer"),
    skips("newline-in-id", after_ok({"id": "a\nb", "text": "x"}), "bad id", 2, "control"),
    skips("control-char-in-id", after_ok({"id": "a\u0000", "text": "x"}), "bad id", 2, "control"),
    skips("span-out-of-range", spans_after_ok(span(0, 99)), "bad span", 2, "out of range"),
    skips("span-negative", spans_after_ok(span(-1, 3)), "bad span", 2, "out of range"),
    skips("span-inverted", spans_after_ok(span(5, 2)), "bad span", 2, "inverted"),
    skips("span-empty", spans_after_ok(span(3, 3)), "bad span", 2, "empty"),
    skips("spans-overlap", spans_after_ok(span(0, 8), span(6, 16)), "overlapping spans", 2),
    skips("spans-share-a-word", spans_after_ok(span(0, 2), span(3, 5)), "overlapping spans", 2),
    skips("span-covers-no-word", spans_after_ok(span(5, 6)), "bad span", 2, "covers no word"),
    skips("span-float-offset", spans_after_ok(span(0.0, 3)), "bad span", 2, "not an integer"),
    skips("span-bool-offset", spans_after_ok(span(True, 3)), "bad span", 2, "boolean"),
    skips("span-missing-end", spans_after_ok({"label": "L", "start": 0}), "bad span", 2, '"end"'),
    skips("span-missing-label", spans_after_ok({"start": 0, "end": 3}), "bad span", 2, "label"),
    skips("span-empty-label", spans_after_ok(span(0, 3, " ")), "bad span", 2, "empty"),
    skips("span-non-string-label", spans_after_ok(span(0, 3, 7)), "bad span", 2, "not a string"),
    skips("spans-not-a-list", after_ok({"text": "x", "spans": {}}), "bad span", 2, "not an array"),
    skips("meta-not-object", after_ok({"text": "x", "meta": [1]}), "bad meta", 2, "not an object"),
    # a pair's target (issue 26): validated as the text, its spans as the text's
    skips("target-not-string", after_ok({"text": "x", "target": 7}), "bad target", 2, "integer"),
    skips("target-null", after_ok({"text": "x", "target": None}), "bad target", 2, "null"),
    skips("target-blank", after_ok({"text": "x", "target": " "}), "bad target", 2, "empty"),
    skips("target-no-words", after_ok({"text": "x", "target": "\u200b"}), "bad target", 2,
          "no words"),
    skips("target-span-out-of-range", after_ok({"text": "x", "target": "alpha beta",
                                                "target_spans": [span(0, 99)]}),
          "bad target span", 2, "target span 1: [0, 99) is out of range"),
    skips("target-spans-overlap", after_ok({"text": "x", "target": "alpha beta gamma",
                                            "target_spans": [span(0, 8), span(6, 16)]}),
          "overlapping target spans", 2, "target span 1 ('L') and target span 2"),
    skips("target-spans-not-a-list", after_ok({"text": "x", "target": "y", "target_spans": {}}),
          "bad target span", 2, '"target_spans" is a object'),
    skips("target-spans-without-target", after_ok({"text": "x", "target_spans": []}),
          "bad target span", 2, 'without a "target"'),
    skips(
        "conllu-form-not-in-text",
        conllu(["# text = bye", WORD_LINE], GOOD_BLOCK),
        "form not in text",
        2,
        "'hi'",
        good=["hi"],
        name="c.conllu",
    ),
    skips(
        "conllu-short-line",
        conllu(GOOD_BLOCK, ["# sent_id = b", "1\thi\thi"]),
        "bad word line",
        5,
        "3 tab-separated columns",
        good=["hi"],
        name="c.conllu",
    ),
    skips(
        "conllu-bad-id-column",
        conllu(["x" + WORD_LINE], GOOD_BLOCK),
        "bad word line",
        1,
        "ID",
        good=["hi"],
        name="c.conllu",
    ),
    skips(
        "conllu-no-word-lines",
        conllu(["# sent_id = a", "# text = hi"], GOOD_BLOCK),
        "no words",
        1,
        good=["hi"],
        name="c.conllu",
    ),
    skips(
        "conllu-duplicate-id",
        conllu(GOOD_BLOCK, GOOD_BLOCK),
        "duplicate id",
        4,
        "line 1",
        good=["hi"],
        name="c.conllu",
    ),
]


@pytest.mark.parametrize("name, data, expected", CASES)
def test_bad_input(tmp_path, name, data, expected):
    path = write(tmp_path, name, data)
    if isinstance(expected, Reads):
        sentences = read_corpus(path).sentences
        assert [s.text for s in sentences] == expected.texts
        if expected.ids is not None:
            assert [s.id for s in sentences] == expected.ids
        if expected.words is not None:
            assert [s.words for s in sentences] == expected.words
        if expected.labels is not None:
            assert [sp.label for s in sentences for sp in s.spans] == expected.labels
        return
    with pytest.raises(CorpusError) as strict:
        read_corpus(path)
    message = str(strict.value)
    assert name in message
    if isinstance(expected, Fails):
        where = f"{name}:{expected.line}: " if expected.line else f"{name}: "
        assert where in message and expected.phrase in message, message
        with pytest.raises(CorpusError, match=expected.phrase):
            read_corpus(path, on_error="skip")
        return
    assert f"{name}:{expected.line}: {expected.reason}: " in message and expected.phrase in message
    report = read_corpus(path, on_error="skip")
    assert [(s.reason, s.source) for s in report.skipped] == [
        (expected.reason, (str(path), expected.line))
    ]
    assert expected.phrase in report.skipped[0].detail
    assert [s.text for s in report.sentences] == expected.good


# --- the bundled corpus ----------------------------------------------------


def test_bundled_corpus_reads_cleanly():
    path = bundled_corpus_path()
    assert path.is_file(), path
    report = read_corpus(path)
    assert report.skipped == []
    assert len(report.sentences) >= 500
    for s in report.sentences:
        adult, child = s.spans
        assert adult.label != "CHI" and child.label == "CHI", s.id
        assert (adult.first, adult.last, child.last) == (0, child.first, len(s.word_ranges)), s.id
        assert s.text.startswith(f"<{adult.label}> ") and s.words[child.first] == "<CHI>", s.id
        assert s.meta["child_speaker_role"] == "Target_Child", s.id


def test_bundled_corpus_path_prefers_the_installed_package(tmp_path, monkeypatch):
    assert bundled_corpus_path() == REPO / "data" / "sarah_pairs.jsonl"  # a source checkout
    packaged = tmp_path / "pipeline" / "data" / "sarah_pairs.jsonl"  # a wheel: force-included
    packaged.parent.mkdir(parents=True)
    packaged.write_bytes(b"")
    monkeypatch.setattr(pipeline, "__file__", str(tmp_path / "pipeline" / "__init__.py"))
    assert bundled_corpus_path() == packaged


def test_example_corpus_script_reproduces_the_bundled_file(tmp_path):
    assert SARAH.is_file(), SARAH
    script = REPO / "data" / "make_example_corpus.py"
    out = tmp_path / "pairs.jsonl"
    cmd = [sys.executable, str(script), "--out", str(out)]  # --source defaults to SARAH
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "wrote 1092 pairs" in done.stderr
    assert out.read_bytes() == (REPO / "data" / "sarah_pairs.jsonl").read_bytes()
