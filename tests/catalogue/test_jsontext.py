"""The one JSON reader's depth check: its fast path for wide, shallow batches refuses exactly what the scan refuses."""

import json
import random

import pytest

from catalogue import jsontext
from catalogue.jsontext import InvalidJSON


def refused(check, text: str, limit: int) -> bool:
    try:
        check(text, limit)
    except InvalidJSON:
        return True
    return False


def test_a_wide_shallow_batch_passes_the_depth_check():
    # Given a frame of 500 messages: a thousand brackets, three levels deep
    text = json.dumps([{"op": "predict", "id": i, "features": {"x": [1, 2]}} for i in range(500)])

    # When / then
    assert jsontext.loads(text)[499]["id"] == 499


@pytest.mark.parametrize(
    "text",
    [
        "[" * 40 + "]" * 40,
        '{"a": ' * 40 + "1" + "}" * 40,
        '[{"a": "]]]]"}, ' + "[" * 40 + "]" * 40 + "]",
        '["\\"[" , ' + "[" * 40 + "]" * 40 + "]",  # an escaped quote does not end the string
    ],
)
def test_text_nested_deeper_than_the_limit_is_refused(settings, text):
    settings.RHYTHMIC_MAX_JSON_DEPTH = 32

    with pytest.raises(InvalidJSON, match="nested deeper than 32"):
        jsontext.loads(text)


def test_the_fast_depth_check_agrees_with_the_scan_on_any_text():
    # Given random texts of brackets, quotes, escapes and other characters, balanced or not
    rng = random.Random(15)
    alphabets = (["[", "]", "{", "}", '"', "\\", "a", "\ud800", "é"], ["[", "]", "{", "}", '"', "a"])
    for _ in range(30_000):
        alphabet = rng.choice(alphabets)
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        limit = rng.randint(0, 4)

        # When / then: the fast check refuses a text exactly when the bracket-by-bracket scan does
        assert refused(jsontext._check_depth, text, limit) == refused(jsontext._scan_depth, text, limit), (text, limit)
