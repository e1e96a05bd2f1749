"""crypto_tune._json: values the result documents can hold."""

from __future__ import annotations

import json
import math

import numpy as np

from crypto_tune._json import json_document, json_value


def test_numpy_scalars_become_python_numbers() -> None:
    assert json_value(np.int32(7)) == 7 and type(json_value(np.int32(7))) is int
    assert json_value(np.float32(0.5)) == 0.5 and type(json_value(np.float32(0.5))) is float


def test_nan_and_infinities_become_null_and_other_values_pass() -> None:
    for value in (math.nan, math.inf, -math.inf, np.float64("nan")):
        assert json_value(value) is None
    assert json_value(True) is True and json_value("x") == "x" and json_value(None) is None
    document = {"a": [json_value(v) for v in (np.float64(1.5), math.nan, np.int64(2))]}
    assert json.loads(json.dumps(document, allow_nan=False)) == {"a": [1.5, None, 2]}


def test_json_document_cleans_every_nested_leaf() -> None:
    document = {
        "folds": [{"ic": 0.0, "hit_rate": math.nan}, {"hit_rate": np.float64(0.5)}],
        "pair": (np.bool_(True), -math.inf),
        1: {"deep": [np.int64(3), None, "x"]},
    }
    clean = json_document(document)
    text = json.dumps(clean, allow_nan=False)  # raises on any NaN or infinity left
    assert json.loads(text) == {
        "folds": [{"ic": 0.0, "hit_rate": None}, {"hit_rate": 0.5}],
        "pair": [True, None],
        "1": {"deep": [3, None, "x"]},
    }
