"""Datasets in the catalogue: CSV and JSON Lines files stored with their schema, read back row for row, and every
bad file refused with the line and the column that is wrong."""

import csv
import io
import json

import pytest
from river import datasets

from catalogue.datasets import dataset_preview, dataset_rows, selectors
from catalogue.datasets.parsing import BadFile
from catalogue.datasets.services import dataset_create, dataset_delete
from catalogue.errors import Conflict, InvalidInput, TooLarge
from catalogue.models import Dataset

pytestmark = pytest.mark.django_db

TRUMP = list(datasets.TrumpApproval())
FEATURES = list(TRUMP[0][0])


def trump_csv(rows=TRUMP) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*FEATURES, "approval"])
    for x, y in rows:
        writer.writerow([*(x[name] for name in FEATURES), y])
    return out.getvalue().encode()


def trump_jsonl(rows=TRUMP) -> bytes:
    return b"".join(json.dumps({**x, "approval": y}).encode() + b"\n" for x, y in rows)


def create(content: bytes, *, fmt="csv", target="y", **kwargs) -> Dataset:
    return dataset_create(name=kwargs.pop("name", "d"), content=content, target=target, fmt=fmt, **kwargs)


def refusal(content: bytes, *, fmt="csv", target="y", **kwargs) -> str:
    with pytest.raises(InvalidInput) as caught:
        create(content, fmt=fmt, target=target, **kwargs)
    return caught.value.message


# --- round trips -----------------------------------------------------------------------------------


def test_a_csv_of_trump_approval_reads_back_exactly_rivers_rows_in_order():
    dataset = create(trump_csv(), target="approval")

    rows = list(dataset_rows(Dataset.objects.get(pk=dataset.pk)))

    assert rows == TRUMP
    assert [type(v) for v in rows[0][0].values()] == [type(v) for v in TRUMP[0][0].values()]
    assert dataset.rows == len(TRUMP) == 1001
    assert dataset.columns == [{"name": name, "type": "number", "missing": 0} for name in [*FEATURES, "approval"]]


def test_a_jsonl_of_trump_approval_reads_back_exactly_rivers_rows_in_order():
    dataset = create(trump_jsonl(), fmt="jsonl", target="approval")

    assert list(dataset_rows(dataset)) == TRUMP
    assert dataset.format == "jsonl" and dataset.rows == 1001


def test_rows_start_at_the_row_asked_for():
    dataset = create(trump_csv(), target="approval")

    assert list(dataset_rows(dataset, start=990)) == TRUMP[990:]


def test_the_format_is_guessed_from_the_file_name_then_the_content():
    assert dataset_create(name="a", content=trump_jsonl(TRUMP[:3]), target="approval").format == "jsonl"
    assert dataset_create(name="b", content=trump_csv(TRUMP[:3]), target="approval").format == "csv"
    named = dataset_create(name="c", content=b"{,y\n1,2\n", target="y", filename="odd.csv")
    assert named.format == "csv"


def test_csv_types_missing_values_and_the_preview():
    content = b"n,flag,word,y\n1,true,a,1.5\n,FALSE,,2\n3.25,,b,\n"

    dataset = create(content)

    assert dataset.columns == [
        {"name": "n", "type": "number", "missing": 1},
        {"name": "flag", "type": "boolean", "missing": 1},
        {"name": "word", "type": "string", "missing": 1},
        {"name": "y", "type": "number", "missing": 1},
    ]
    assert list(dataset_rows(dataset)) == [
        ({"n": 1, "flag": True, "word": "a"}, 1.5),
        ({"flag": False}, 2),
        ({"n": 3.25, "word": "b"}, None),
    ]
    assert dataset_preview(dataset, limit=2) == [
        {"n": 1, "flag": True, "word": "a", "y": 1.5},
        {"n": None, "flag": False, "word": None, "y": 2},
    ]


def test_a_column_of_numbers_and_words_is_a_string_column_kept_as_written():
    dataset = create(b"zip,y\n007,1\nabc,2\n")

    assert dataset.columns[0] == {"name": "zip", "type": "string", "missing": 0}
    assert [x for x, _ in dataset_rows(dataset)] == [{"zip": "007"}, {"zip": "abc"}]


def test_declared_types_replace_the_inferred_ones():
    dataset = create(b"zip,y\n007,1\n010,2\n", types={"zip": "string"})

    assert [x for x, _ in dataset_rows(dataset)] == [{"zip": "007"}, {"zip": "010"}]


def test_jsonl_columns_are_the_keys_in_first_seen_order_and_absent_keys_are_missing():
    dataset = create(b'{"a": 1, "y": "yes"}\n\n{"b": true, "y": "no"}\n{"a": null, "y": null}\n', fmt="jsonl")

    assert dataset.columns == [
        {"name": "a", "type": "number", "missing": 2},
        {"name": "y", "type": "string", "missing": 1},
        {"name": "b", "type": "boolean", "missing": 2},
    ]
    assert list(dataset_rows(dataset)) == [({"a": 1}, "yes"), ({"b": True}, "no"), ({}, None)]


# --- bad files: the line and the column --------------------------------------------------------------


def test_a_row_with_too_few_fields_names_its_line_and_the_missing_column():
    assert refusal(b"a,b,y\n1,2,3\n4,5\n") == "line 3, column 'y': has 2 fields; the header (line 1) has 3"


def test_a_row_with_too_many_fields_names_its_line():
    message = refusal(b"a,y\n1,2\n3,4\n5,6,7\n")
    assert message.startswith("line 4: has 3 fields; the header (line 1) has 2")


def test_a_quoted_newline_counts_in_the_line_number():
    message = refusal(b'a,y\n"one\ntwo",1\n3\n')
    assert message.startswith("line 4, column 'y'")


def test_undecodable_bytes_name_their_line_and_byte():
    message = refusal(b"a,y\n1,2\nab\xff,3\n")
    assert message == "line 3: byte 3 (0xff) is not UTF-8; save the file as UTF-8"


def test_a_jsonl_line_that_is_not_an_object_names_its_line():
    message = refusal(b'{"y": 1}\n[1, 2]\n', fmt="jsonl")
    assert message.startswith("line 2: is a JSON list, not an object")


def test_a_jsonl_line_that_is_not_json_names_its_line():
    assert refusal(b'{"y": 1}\n{"y": 2}\n{"y": \n', fmt="jsonl").startswith("line 3: is not JSON")


def test_a_number_column_with_a_non_number_names_the_line_and_the_column():
    message = refusal(b'{"x": 1, "y": 1}\n{"x": 2.5, "y": 1}\n{"x": "three", "y": 1}\n', fmt="jsonl")
    assert message == "line 3, column 'x': 'three' is a string, but the column is a number column since line 1"


def test_a_declared_number_column_with_a_non_number_names_the_line_and_the_column():
    message = refusal(b"x,y\n1,1\n2,1\nthree,1\n", types={"x": "number"})
    assert message == "line 4, column 'x': 'three' is not a number, and the column is declared a number"


def test_a_jsonl_value_that_is_a_list_is_refused_with_its_line_and_column():
    message = refusal(b'{"x": [1], "y": 1}\n', fmt="jsonl")
    assert message.startswith("line 1, column 'x': holds a list")


def test_a_nul_character_is_refused_with_its_line():
    assert refusal(b"x,y\n1,2\na\x00,1\n").startswith("line 3: holds a NUL character")
    assert refusal(b'{"x": "a\\u0000", "y": 1}\n', fmt="jsonl").startswith("line 1: is not JSON")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty: send a CSV or JSON Lines file"),
        (b"x,y\n", "the file holds no rows"),
        (b"x,,y\n1,2,3\n", "line 1: column 2 of the header has no name"),
        (b"x,x,y\n1,2,3\n", "line 1, column 'x': the header names this column twice"),
    ],
)
def test_files_without_a_table_are_refused(content, message):
    assert refusal(content) == message


def test_every_bad_file_error_is_a_400_naming_the_file_field():
    with pytest.raises(BadFile) as caught:
        create(b"a,y\n1\n")
    assert caught.value.status == 400 and caught.value.field == "file"


def test_the_target_must_be_a_column():
    message = refusal(b"a,b\n1,2\n", target="c")
    assert message == "target 'c' is not a column of the file; its columns: 'a', 'b'"


def test_declared_types_must_name_columns_and_types():
    assert refusal(b"a,y\n1,2\n", types={"b": "number"}) == "types: the file has no column 'b'"
    assert refusal(b"a,y\n1,2\n", types={"a": "date"}).startswith("types: 'a' must be one of number, boolean")


# --- the size limit, names, delete -----------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_with_413(settings):
    settings.RHYTHMIC_MAX_DATASET_BYTES = 100
    content = trump_csv(TRUMP[:5])

    with pytest.raises(TooLarge) as caught:
        create(content, target="approval")

    assert caught.value.status == 413
    assert "RHYTHMIC_MAX_DATASET_BYTES" in caught.value.message
    assert not Dataset.objects.exists()


def test_a_name_is_taken_once():
    create(b"a,y\n1,2\n", name="same")

    with pytest.raises(Conflict):
        create(b"a,y\n1,2\n", name="same")


def test_a_bad_name_is_refused():
    assert refusal(b"a,y\n1,2\n", name="Not A Slug").startswith("name must be 1-100 lowercase letters")


def test_the_stored_dataset_records_its_bytes_and_who_made_it(maintainer):
    content = trump_csv(TRUMP[:10])

    dataset = create(content, target="approval", user=maintainer, description="ten polls")

    stored = selectors.dataset_get(dataset_id=dataset.pk, with_content=True)
    assert bytes(stored.content) == content and stored.size == len(content)
    assert stored.created_by == maintainer and stored.description == "ten polls"
    assert selectors.dataset_get(dataset_id="nope") is None
    assert list(selectors.dataset_list()) == [stored]


def test_delete_removes_the_dataset():
    dataset = create(b"a,y\n1,2\n")

    dataset_delete(dataset=dataset)

    assert not Dataset.objects.exists()
