"""The training corpus through ``datasets``, converted (memory-mapped Arrow cache, converted once) and streamed
(``IterableDataset``): the same sentences and the same clear errors on both paths, from the library and from the
CLI (one line, exit status 2, before training where the problem can be seen up front)."""

import csv
import gzip
import os

import pytest
from cli_runs import flags, user_error

from sentcse.trainers.cli.train import main
from sentcse.trainers.data import CorpusError, load_corpus

PATHS = pytest.mark.parametrize("streaming", [False, True], ids=["converted", "streaming"])


def sentences(name, streaming, **kwargs):
    """Every sentence of the corpus as training reads it (streamed: with a 1-sentence shuffle buffer, each file in
    its own order; the order of the files is shuffled, so several files are compared sorted)."""
    corpus = load_corpus(str(name), streaming=streaming, shuffle_buffer_size=1, **kwargs)
    assert corpus.streaming is streaming
    return [example["sentence"] for example in corpus.dataset]


def write_gz(path, text: str):
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


@PATHS
def test_blank_and_control_only_lines_are_skipped_and_counted(tmp_path, streaming, caplog):
    text = ("\ufeffBOM first\n\x00\x00\x00\n\x1b[0m\x7f \n\u200b\n\n" "ok\x00 line\r\n" "tab\tinside\x0cfeed\n"
            "caf\u00e9 \u200dkept\n" "lone\rreturn\n")
    path = write_gz(tmp_path / "corpus.txt.gz", text)
    with caplog.at_level("WARNING", logger="sentcse.trainers.data"):
        got = sentences(path, streaming)
    # ESC and DEL are dropped ("[0m" is text); a form feed inside a line is a space; a lone CR ends a line
    assert got == ["BOM first", "[0m", "ok line", "tab\tinside feed", "caf\u00e9 \u200dkept", "lone", "return"]
    assert "skipped 3 blank lines (2 of them only control characters such as NUL)" in caplog.text
    if not streaming:
        corpus = load_corpus(str(path))
        assert (corpus.blank_lines, corpus.control_lines, corpus.num_sentences) == (3, 2, 7)


@PATHS
def test_several_files_by_list_and_by_glob(tmp_path, streaming):
    (tmp_path / "parts").mkdir()
    write_gz(tmp_path / "parts" / "a.txt.gz", "one\ntwo\n")
    (tmp_path / "parts" / "b.txt").write_text("three\n\nfour\n")
    listed = f"{tmp_path / 'parts' / 'a.txt.gz'},{tmp_path / 'parts' / 'b.txt'}"
    assert sorted(sentences(listed, streaming)) == sorted(["one", "two", "three", "four"])
    assert sorted(sentences(tmp_path / "parts" / "*", streaming)) == sorted(["one", "two", "three", "four"])
    if not streaming:  # file order is kept by the conversion
        assert sentences(listed, False) == ["one", "two", "three", "four"]


@PATHS
def test_bad_files_raise_errors_naming_the_file_line_and_fix(tmp_path, streaming):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"".join(b"fine line %d\n" % i for i in range(50)) + "caf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1.txt: line 51 is not valid UTF-8 .*re-encode the file as UTF-8"):
        sentences(latin1, streaming)
    packed = tmp_path / "packed.txt"  # gzip by its content, as datasets reads it
    packed.write_bytes(gzip.compress(b"a sentence\n" * 100))
    assert sentences(packed, streaming) == ["a sentence"] * 100
    whole = gzip.compress("".join(f"sentence number {i} with some words\n" for i in range(3000)).encode())
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(whole[:-8] + bytes(8))  # CRC and length trailer zeroed
    for path in (truncated, corrupt):
        with pytest.raises(CorpusError,
                           match=rf"{path.name} is a truncated or corrupt gzip file \(.+\): copy it again"):
            sentences(path, streaming)
    not_gzip = tmp_path / "plain.txt.gz"
    not_gzip.write_text("a sentence\nanother\n")
    with pytest.raises(ValueError, match=r"plain.txt.gz is not gzip-compressed: rename it to .txt or compress it"):
        sentences(not_gzip, streaming)
    with pytest.raises(IsADirectoryError, match=r"is a folder; pass a .txt or .gz file .*or a glob"):
        sentences(tmp_path, streaming)
    with pytest.raises(FileNotFoundError, match=r"'.*missing.txt' not found; pass --train_file"):
        sentences(tmp_path / "missing.txt", streaming)
    with pytest.raises(FileNotFoundError, match=r"pattern '.*nothing-\*.txt' matches no file"):
        sentences(tmp_path / "nothing-*.txt", streaming)


@PATHS
def test_a_corpus_without_a_sentence_is_an_error_at_load(tmp_path, streaming):
    blank = tmp_path / "blank.txt"
    blank.write_bytes(b"\n\n  \n\x00\x01\n")
    with pytest.raises(ValueError, match=r"blank.txt: no sentence found"):
        load_corpus(str(blank), streaming=streaming)  # not only when training reads it


@PATHS
def test_max_sentences_takes_the_first_ones_and_is_checked(tmp_path, streaming):
    good = tmp_path / "good.txt"
    good.write_text("one\n\ntwo\nthree\n")
    assert sorted(sentences(good, streaming, max_sentences=2)) == ["one", "two"]
    for bad in (0, -3):
        with pytest.raises(ValueError, match=rf"--max_train_samples must be >= 1, got {bad}"):
            load_corpus(str(good), max_sentences=bad, streaming=streaming)
    with pytest.raises(TypeError, match=r"--max_train_samples must be an int"):
        load_corpus(str(good), max_sentences="2", streaming=streaming)
    with pytest.raises(ValueError, match=r"--shuffle_buffer_size must be an int >= 1, got 0"):
        load_corpus(str(good), streaming=streaming, shuffle_buffer_size=0)


def test_a_converted_corpus_is_memory_mapped_and_converted_once(tmp_path):
    path = write_gz(tmp_path / "corpus.txt.gz", "".join(f"sentence {i}\n" for i in range(1000)) + "\n")
    first = load_corpus(str(path))
    files = first.dataset.cache_files
    assert files and all(f["filename"].startswith(os.environ["HF_DATASETS_CACHE"]) for f in files)
    assert type(first.dataset.data).__name__ == "MemoryMappedTable"  # read from disk, not held in memory
    again = load_corpus(str(path))
    assert again.dataset.cache_files == files and again.num_sentences == 1000 and again.blank_lines == 1
    assert len(again.sentences) == 1000 and again.sentences[3] == "sentence 3"
    assert list(again.sentences)[-1] == "sentence 999"
    write_gz(path, "changed\n")  # a changed file is converted again, never read from a stale cache
    assert load_corpus(str(path)).sentences[:5] == ["changed"]


def test_a_streamed_corpus_is_shuffled_in_its_buffer_and_reproducible(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"sentence {i}\n" for i in range(200)))
    one = [e["sentence"] for e in load_corpus(str(path), streaming=True, shuffle_buffer_size=50, seed=1).dataset]
    same = [e["sentence"] for e in load_corpus(str(path), streaming=True, shuffle_buffer_size=50, seed=1).dataset]
    assert one == same and sorted(one) == sorted(f"sentence {i}" for i in range(200))
    assert one != [f"sentence {i}" for i in range(200)]


# ---------------------------------------------------------------- the CLI
def test_streaming_needs_max_steps_and_trains(tmp_path, backbone, capsys):  # noqa: F811
    corpus = write_gz(tmp_path / "corpus.txt.gz", "".join(f"the cat {i} sat on the mat\n" for i in range(40)))
    argv = flags(backbone, corpus, tmp_path / "out", "--streaming")
    at = argv.index("--max_steps")
    no_steps = argv[:at] + argv[at + 2:]
    assert "--streaming reads a corpus of unknown length: set --max_steps" in user_error(capsys, no_steps)
    assert not (tmp_path / "out").exists()
    trainer = main(argv)
    assert trainer.state.global_step == 4 and (tmp_path / "out" / "model.safetensors").is_file()


def test_a_bad_line_met_while_streaming_stops_the_run_in_one_line(tmp_path, backbone, capsys):  # noqa: F811
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"".join(b"the cat %d sat on the mat\n" % i for i in range(12)) + b"caf\xe9\n")
    line = user_error(capsys, flags(backbone, corpus, tmp_path / "out", "--streaming", "--max_steps", "8",
                                    "--shuffle_buffer_size", "1"))
    assert "corpus.txt: line 13 is not valid UTF-8" in line


def test_a_corpus_error_is_one_line_before_training(tmp_path, backbone, capsys):  # noqa: F811
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"fine\ncaf\xe9\n")
    line = user_error(capsys, flags(backbone, corpus, tmp_path / "out"))
    assert "corpus: " in line and "corpus.txt: line 2 is not valid UTF-8" in line
    assert not (tmp_path / "out").exists()


@PATHS
def test_a_hub_dataset_is_cleaned_the_same_way(monkeypatch, streaming):
    """A Hub dataset (a local stand-in for ``datasets.load_dataset``): its ``train`` split, column ``text``, cleaned
    and counted like a file; a missing column is named."""
    import datasets

    rows = {"text": ["first one", "", "\x00\x00", None, "ok\x00 second"], "id": [1, 2, 3, 4, 5]}
    asked = []

    def stand_in(name, split=None, streaming=False, cache_dir=None):
        asked.append((name, split, streaming))
        table = datasets.Dataset.from_dict(rows)
        return table.to_iterable_dataset() if streaming else table

    monkeypatch.setattr(datasets, "load_dataset", stand_in)
    corpus = load_corpus("someone/wiki-sentences", streaming=streaming, shuffle_buffer_size=1)
    assert asked[0] == ("someone/wiki-sentences", "train", streaming)
    assert sorted(example["sentence"] for example in corpus.dataset) == ["first one", "ok second"]
    if not streaming:
        assert (corpus.blank_lines, corpus.control_lines) == (3, 1)
    with pytest.raises(ValueError,
                       match=r"dataset 'someone/wiki-sentences' has no column 'body'; columns: \['text', 'id'\]"):
        load_corpus("someone/wiki-sentences", text_column="body", streaming=streaming)


def test_a_corpus_of_several_files_is_recorded_by_their_names(tmp_path):
    from sentcse.trainers.cards.portable import portable_run
    from sentcse.trainers.cards.record import RunRecord
    from sentcse.trainers.cards.sections import corpus_info

    listed = f"{tmp_path / 'a.txt.gz'},{tmp_path / 'more' / 'b.txt'}"
    run = portable_run({"train_file": listed, "n_sentences": 12})
    assert run["train_file"] == "a.txt.gz,b.txt" and run["local_inputs"] == ["train_file"]
    assert corpus_info(RunRecord(**run))["description"] == "`a.txt.gz,b.txt` (12 unlabeled sentences, a local file)"
    assert portable_run({"train_file": str(tmp_path / "parts" / "*.txt.gz")})["train_file"] == "*.txt.gz"


def test_epoch_shuffled_reads_every_sentence_once_per_epoch_in_a_new_order():
    from sentcse.trainers.data import Corpus, EpochShuffled

    corpus = Corpus.from_sentences([f"s{i}" for i in range(50)])
    shuffled = EpochShuffled(corpus.dataset, seed=3)
    first = [shuffled[i]["sentence"] for i in range(len(shuffled))]
    assert sorted(first) == sorted(f"s{i}" for i in range(50)) and first != [f"s{i}" for i in range(50)]
    assert [row["sentence"] for row in shuffled.__getitems__(list(range(50)))] == first  # the batched read agrees
    shuffled.set_epoch(1)
    second = [shuffled[i]["sentence"] for i in range(50)]
    assert sorted(second) == sorted(first) and second != first
    shuffled.set_epoch(0)
    assert [shuffled[i]["sentence"] for i in range(50)] == first  # a resumed epoch reads the same order
    assert [EpochShuffled(corpus.dataset, seed=3)[i]["sentence"] for i in range(50)] == first


def test_a_resumed_run_reads_the_same_order_and_ends_with_the_same_weights(tmp_path, backbone):  # noqa: F811
    """``EpochShuffled`` orders: a run cut after step 4 (in its second epoch) and resumed ends where the uninterrupted
    run ends, weight for weight."""
    import shutil

    import torch
    from safetensors.torch import load_file

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the cat {i} sat on the mat {i % 3}\n" for i in range(12)))  # 3 batches an epoch

    def run(out, *extra):
        return main(flags(backbone, corpus, out, "--max_steps", "6", "--save_total_limit", "3", *extra))

    run(tmp_path / "whole")
    run(tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoint-6")
    for name in ("model.safetensors", "config.json"):
        (tmp_path / "cut" / name).unlink()
    resumed = run(tmp_path / "cut", "--resume_from_checkpoint", "last")
    assert resumed.state.global_step == 6
    whole, cut = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    for name in whole:
        torch.testing.assert_close(cut[name], whole[name], rtol=0, atol=0, msg=name)


def test_persistent_loader_workers_take_the_order_from_the_trainers_sampler(tmp_path, backbone):  # noqa: F811
    """A persistent worker keeps the dataset copy it started with, and would read epoch 0's order in every epoch:
    with persistent workers the CLI leaves the shuffling to the Trainer's sampler, in the main process."""
    from sentcse.trainers.data import EpochShuffled

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"the cat {i} sat on the mat {i % 3}\n" for i in range(12)))  # 3 batches an epoch
    plain = main(flags(backbone, corpus, tmp_path / "plain", "--max_steps", "6"))
    assert isinstance(plain.train_dataset, EpochShuffled) and plain.args.train_sampling_strategy == "sequential"
    persistent = main(flags(backbone, corpus, tmp_path / "persistent", "--max_steps", "6", "--dataloader_num_workers",
                            "1", "--dataloader_persistent_workers", "true"))
    assert persistent.state.global_step == 6
    assert not isinstance(persistent.train_dataset, EpochShuffled)
    assert persistent.args.train_sampling_strategy == "random"
    stop_loader_workers()


def stop_loader_workers() -> None:
    """Shut down the worker processes of every DataLoader iterator still alive (persistent workers live as long as
    their trainer). Left to the garbage collector, which finds the iterators in reference cycles together with
    their queues, they miss the stop signal and torch waits 5 s for each before it kills it (the next test paid
    10 s for this one's two loaders)."""
    import gc

    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

    for iterator in [o for o in gc.get_objects() if type(o) is _MultiProcessingDataLoaderIter]:
        iterator._shutdown_workers()


def test_the_cli_trains_on_a_hub_datasets_named_column(tmp_path, backbone, monkeypatch, capsys):  # noqa: F811
    import datasets

    rows = {"body": [f"the cat {i} sat on the mat" for i in range(16)], "id": list(range(16))}
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split=None, streaming=False, cache_dir=None:
                        datasets.Dataset.from_dict(rows))
    argv = flags(backbone, "someone/sentences", tmp_path / "out")
    assert "dataset 'someone/sentences' has no column 'text'" in user_error(capsys, argv)
    trainer = main([*argv, "--text_column", "body"])
    assert trainer.state.global_step == 4 and (tmp_path / "out" / "model.safetensors").is_file()


@PATHS
def test_a_table_corpus_is_read_by_its_sentence_column(tmp_path, streaming, monkeypatch):
    """.jsonl/.csv/.tsv/.parquet corpora: the --text_column column, cleaned as text lines are (not raw JSON lines)."""
    import json

    import datasets
    import pandas as pd

    # datasets pauses 5 s after each streamed parquet file, for pyarrow's reader threads to end before the
    # interpreter exits (apache/arrow#45214); this one goes on
    monkeypatch.setattr(datasets.config, "SLEEP_TIME_ON_THREADS_SHUTDOWN", 0)

    rows = [{"id": i, "body": f"sentence {i}\x00 here"} for i in range(5)] + [{"id": 5, "body": "  "}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    pd.DataFrame(rows).to_csv(tmp_path / "c.tsv", index=False, sep="\t")
    pd.DataFrame(rows).to_parquet(tmp_path / "c.parquet")
    expected = [f"sentence {i} here" for i in range(5)]
    for name in ("c.jsonl", "c.csv", "c.tsv", "c.parquet"):
        assert sorted(sentences(tmp_path / name, streaming, text_column="body")) == expected, name
    with pytest.raises(ValueError, match=r"c.jsonl has no column 'text' \(columns: id, body\); pass --text_column"):
        sentences(tmp_path / "c.jsonl", streaming)
    (tmp_path / "plain.txt").write_text("one\ntwo\n")
    with pytest.raises(ValueError, match=r"--text_column 'body' names a column, and .*plain.txt is a .txt/.gz file"):
        sentences(tmp_path / "plain.txt", streaming, text_column="body")
    with pytest.raises(ValueError, match=r"mixes corpus formats \(csv, txt\)"):
        sentences(f"{tmp_path / 'c.csv'},{tmp_path / 'plain.txt'}", streaming, text_column="body")


def test_a_corpus_of_repeated_sentences_is_warned_about(tmp_path, caplog):
    repeated = tmp_path / "same.txt"
    repeated.write_text("the same sentence\n" * 10)
    with caplog.at_level("WARNING"):
        load_corpus(str(repeated))
    assert "90% of the first 10 sentences repeat an earlier one" in caplog.text
    caplog.clear()
    varied = tmp_path / "varied.txt"
    varied.write_text("".join(f"sentence {i}\n" for i in range(10)))
    with caplog.at_level("WARNING"):
        load_corpus(str(varied))
    assert "repeat an earlier one" not in caplog.text


def test_an_empty_corpus_file_is_one_line(tmp_path, backbone, capsys):  # noqa: F811
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    assert "empty.txt: no sentence found" in user_error(capsys, flags(backbone, empty, out))


def test_a_streamed_run_resumes_only_before_its_stream_wrapped(tmp_path, backbone, capsys):  # noqa: F811
    """A resumed stream skips batches of its first pass: a checkpoint written after the stream wrapped is refused in
    one line (40 sentences, batch 4: the stream wraps at step 10), an earlier one resumes."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"the cat number {i}\n" for i in range(40)))
    out = tmp_path / "out"
    argv = flags(backbone, corpus, out, "--streaming", "true", "--max_steps", "12", "--save_steps", "4",
                 "--save_total_limit", "10")
    main(argv)
    error = user_error(capsys, [*argv, "--resume_from_checkpoint", str(out / "checkpoint-12")])
    assert "checkpoint-12 of this streamed run was written after the stream passed the end of its corpus" in error
    trainer = main([*argv, "--resume_from_checkpoint", str(out / "checkpoint-8")])
    assert trainer.state.global_step == 12


def test_the_converted_corpus_follows_the_files_content_and_the_cleaning_rule(tmp_path, monkeypatch):
    """New content under the old mtime (cp -p, rsync -t) is converted again, for every kind of local file; so is
    the corpus when a pattern of the cleaning rule changes."""
    import re

    import pandas as pd

    from sentcse.trainers import data

    def rewrite(path, write):
        stat = path.stat()
        write()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    def writers(path, words):
        rows = pd.DataFrame({"text": [f"{words} a", f"{words} b"]})
        return {".txt": lambda: path.write_text(f"{words} a\n{words} b\n"),
                ".csv": lambda: rows.to_csv(path, index=False),
                ".tsv": lambda: rows.to_csv(path, sep="\t", index=False),
                ".jsonl": lambda: rows.to_json(path, orient="records", lines=True),
                ".parquet": lambda: rows.to_parquet(path)}[path.suffix]

    for suffix in (".txt", ".csv", ".tsv", ".jsonl", ".parquet"):
        corpus = tmp_path / f"c{suffix}"
        writers(corpus, "first")()
        assert sentences(corpus, False) == ["first a", "first b"], suffix
        rewrite(corpus, writers(corpus, "second"))
        assert sentences(corpus, False) == ["second a", "second b"], suffix
    corpus = tmp_path / "c.txt"
    monkeypatch.setattr(data, "_OTHER_CONTROLS", re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9fa]"))
    assert sentences(corpus, False) == ["second", "second b"]  # the rule now drops "a" too


def test_a_file_of_control_characters_is_refused_in_seconds(tmp_path):
    """A NUL-filled file (a crashed copy, a disk image) is one line of its whole size: it is judged on a sample
    spread over it, whatever its size, before anything reads it as lines; the same for a gzip file, a table, and
    a file whose first lines are text."""
    import time

    nul = tmp_path / "zeros.txt"
    with open(nul, "wb") as handle:
        handle.truncate(64 << 20)  # 64 MiB of NUL bytes
    packed = write_gz(tmp_path / "zeros.txt.gz", "\x00" * (4 << 20))
    text_first = tmp_path / "text-first.txt"
    text_first.write_bytes(b"a sentence\n" * 1000 + bytes(8 << 20))
    table = tmp_path / "zeros.jsonl"
    table.write_bytes(b'{"text": "a"}\n' + bytes(1 << 20))
    for path, share in ((nul, "100%"), (packed, "100%"), (text_first, "9[0-9]%"), (table, "100%")):
        for streaming in (False, True):
            start = time.perf_counter()
            with pytest.raises(ValueError, match=rf"{path.name}: not text: {share} of its bytes are control "
                                                 r"characters such as NUL \(in a 1 MiB sample\); pass a UTF-8"):
                load_corpus(str(path), streaming=streaming)
            assert time.perf_counter() - start < 5, path
    mostly_text = tmp_path / "mostly-text.txt"  # a few NUL lines in text stay a cleaning matter
    mostly_text.write_bytes(b"a sentence\n" * 1000 + b"\x00" * 500 + b"\n")
    assert load_corpus(str(mostly_text)).control_lines == 1


@PATHS
def test_a_table_cell_that_is_not_text_is_named_with_its_row(tmp_path, streaming):
    """A number, a list or an object in the sentence column: one error naming the file, the row and the column."""
    import pandas as pd

    (tmp_path / "numbers.jsonl").write_text('{"text": "a sentence"}\n{"text": 5}\n')
    (tmp_path / "lists.jsonl").write_text('{"body": ["a", "b"]}\n{"body": ["c"]}\n')
    pd.DataFrame({"text": ["one", "two", "three"], "body": [{"a": 1}, {"a": 2}, {"a": 3}]}).to_parquet(
        tmp_path / "objects.parquet")
    for name, column, row, value in (("numbers.jsonl", "text", 2, "5 of type int"),
                                     ("lists.jsonl", "body", 1, r"\['a', 'b'\] of type list"),
                                     ("objects.parquet", "body", 1, r"\{'a': 1\} of type dict")):
        with pytest.raises(CorpusError, match=rf"{name}: row {row} of column '{column}' holds {value}, not text; "
                                              "pass --text_column with the sentence column"):
            sentences(tmp_path / name, streaming, text_column=column)


@PATHS
def test_table_corpora_are_read_exactly(tmp_path, streaming):
    """A .tsv has no quoting (a quote is text, an unbalanced one too), and no cell is a missing value: "NA", "null",
    "nan" and numbers are sentences as written; an empty cell is a blank line (skipped and counted)."""
    cells = ['a "quoted" word', '"starts with a quote', "NA", "null", "nan", "1.50", "", "ends\"", "N/A"]
    (tmp_path / "c.tsv").write_text("id\ttext\n" + "".join(f"{i}\t{cell}\n" for i, cell in enumerate(cells)))
    expected = [cell for cell in cells if cell]
    assert sorted(sentences(tmp_path / "c.tsv", streaming)) == sorted(expected)
    with open(tmp_path / "c.csv", "w", newline="") as handle:  # a .csv quotes as the csv module writes
        csv.writer(handle).writerows([["id", "text"], *enumerate(cells)])
    assert sorted(sentences(tmp_path / "c.csv", streaming)) == sorted(expected)
    if not streaming:
        assert load_corpus(str(tmp_path / "c.tsv")).blank_lines == 1


