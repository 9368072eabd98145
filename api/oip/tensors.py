"""Open Inference Protocol tensors: request inputs (JSON or binary) into rows of features, predictions into outputs.

An input is one feature: ``{"name", "datatype", "shape": [n] or [n, 1], "data"}`` holds its value in each of n
rows. Binary data (Triton's ``binary_tensor_data`` extension, tritonclient's default) follows the JSON header:
an input or output with ``parameters.binary_data_size`` has its bytes there, in tensor order, little-endian.
"""

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from catalogue.errors import InvalidInput

#: Datatype -> numpy dtype of its binary form (BYTES: length-prefixed strings, no numpy dtype).
NUMPY = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
DATATYPES = (*NUMPY, "BYTES")
INTEGERS = {name: np.iinfo(dtype) for name, dtype in NUMPY.items() if name.startswith(("INT", "UINT"))}


@dataclass
class Tensor:
    name: str
    datatype: str
    values: list


def _refuse(message: str, field: str = "inputs") -> InvalidInput:
    return InvalidInput(message, field=field)


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON header, binary rest) of a request body; ``header_length``: its Inference-Header-Content-Length."""
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        raise _refuse(f"Inference-Header-Content-Length must be a whole number, not {header_length!r}") from None
    if not 0 <= length <= len(body):
        raise _refuse(f"Inference-Header-Content-Length is {length}, but the body has {len(body)} bytes")
    return body[:length], body[length:]


def read_inputs(inputs: Any, binary: bytes) -> tuple[int, list[Tensor]]:
    """(number of rows, one Tensor per input) of a request's ``inputs``; InvalidInput says what to fix."""
    if not isinstance(inputs, list) or not inputs:
        raise _refuse('inputs must be a non-empty list of tensors, like [{"name": "x", "datatype": "FP64", ...}]')
    tensors, rows, offset, names = [], None, 0, set()
    for index, item in enumerate(inputs):
        tensor, offset = _read_input(item, index, binary, offset)
        if tensor.name in names:
            raise _refuse(f"input {tensor.name!r} appears twice", f"inputs[{index}].name")
        names.add(tensor.name)
        if rows is None:
            rows = len(tensor.values)
        elif len(tensor.values) != rows:
            raise _refuse(
                f"input {tensor.name!r} has {len(tensor.values)} rows but {tensors[0].name!r} has {rows}: every "
                "input holds one value per row",
                f"inputs[{index}].shape",
            )
        tensors.append(tensor)
    if not rows:
        raise _refuse("the inputs hold no rows: send shape [n] with n of 1 or more")
    if offset != len(binary):
        raise _refuse(
            f"the body has {len(binary) - offset} bytes of binary data that no input's binary_data_size claims"
        )
    return rows, tensors


def _read_input(item: Any, index: int, binary: bytes, offset: int) -> tuple[Tensor, int]:
    where = f"inputs[{index}]"
    if not isinstance(item, dict):
        raise _refuse(f"{where} must be an object with name, datatype, shape and data", where)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise _refuse(f"{where}.name must be a non-empty string (the feature's name)", f"{where}.name")
    datatype = item.get("datatype")
    if datatype not in DATATYPES:
        raise _refuse(
            f"input {name!r} has datatype {datatype!r}; use one of {', '.join(DATATYPES)}", f"{where}.datatype"
        )
    count = _rows_of(item.get("shape"), name, f"{where}.shape")
    parameters = item.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _refuse(f"input {name!r}: parameters must be an object", f"{where}.parameters")
    size = parameters.get("binary_data_size")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= len(binary) - offset:
            raise _refuse(
                f"input {name!r} has binary_data_size {size!r}, but {len(binary) - offset} bytes of binary data are "
                "left",
                f"{where}.parameters",
            )
        values = _from_binary(binary[offset : offset + size], datatype, name, where)
        offset += size
    else:
        if "data" not in item:
            raise _refuse(f"input {name!r} has no data (nor a binary_data_size)", f"{where}.data")
        values = [_checked(value, datatype, name, f"{where}.data") for value in _flat(item["data"], name, where)]
    if len(values) != count:
        raise _refuse(f"input {name!r} has shape {item['shape']} but {len(values)} values", f"{where}.shape")
    return Tensor(name, datatype, values), offset


def _rows_of(shape: Any, name: str, field: str) -> int:
    """n, for a shape [n] or [n, 1]: one value per row."""
    fine = isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    if not fine or len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise _refuse(
            f"input {name!r} has shape {shape!r}: each input is one feature, of shape [n] or [n, 1] for n rows", field
        )
    return shape[0]


def _flat(data: Any, name: str, where: str) -> list:
    """The values of ``data`` in row-major order: a flat list, or one nested level ([[v], [v]...])."""
    if not isinstance(data, list):
        raise _refuse(f"input {name!r}: data must be a list of values", f"{where}.data")
    flat = []
    for value in data:
        if isinstance(value, list):
            if any(isinstance(inner, list) for inner in value):
                raise _refuse(f"input {name!r}: data nests too deep for a shape [n] or [n, 1]", f"{where}.data")
            flat.extend(value)
        else:
            flat.append(value)
    return flat


def _checked(value: Any, datatype: str, name: str, field: str) -> Any:
    """A JSON value of the datatype, as a Python value; InvalidInput naming the input otherwise."""
    if datatype == "BYTES":
        if isinstance(value, str):
            return value
    elif datatype == "BOOL":
        if isinstance(value, bool):
            return value
    elif datatype in INTEGERS:
        limits = INTEGERS[datatype]
        if isinstance(value, int) and not isinstance(value, bool) and limits.min <= value <= limits.max:
            return value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer of more than 1024 bits
            number = math.inf
        if math.isfinite(number):
            return number
    raise _refuse(f"input {name!r} is {datatype} but holds {value!r}", field)


def _from_binary(raw: bytes, datatype: str, name: str, where: str) -> list:
    if datatype == "BYTES":
        values, at = [], 0
        while at < len(raw):
            if at + 4 > len(raw):
                raise _refuse(f"input {name!r}: BYTES data ends inside a length prefix", f"{where}.parameters")
            (length,) = struct.unpack_from("<I", raw, at)
            at += 4
            if at + length > len(raw):
                raise _refuse(f"input {name!r}: a BYTES element runs past the binary data", f"{where}.parameters")
            try:
                values.append(raw[at : at + length].decode("utf-8"))
            except UnicodeDecodeError:
                raise _refuse(f"input {name!r}: BYTES elements must be UTF-8 text", f"{where}.parameters") from None
            at += length
        return values
    dtype = np.dtype(NUMPY[datatype]).newbyteorder("<")
    if len(raw) % dtype.itemsize:
        raise _refuse(
            f"input {name!r}: {len(raw)} bytes is not a whole number of {datatype} values", f"{where}.parameters"
        )
    values = np.frombuffer(raw, dtype=dtype).tolist()
    if datatype.startswith("FP"):
        for value in values:
            if not math.isfinite(value):
                raise _refuse(f"input {name!r} holds {value!r}: features must be finite numbers", f"{where}.parameters")
    return values


def rows_of(count: int, tensors: list[Tensor]) -> list[dict]:
    """The n rows of features: {input name: its value in that row}."""
    return [{t.name: t.values[i] for t in tensors} for i in range(count)]


# --- outputs --------------------------------------------------------------------------------------


def datatype_of(values: list) -> str:
    """The narrowest datatype that holds every value: BOOL, INT64, FP64, else BYTES (as text)."""
    present = [v for v in values if v is not None]
    if len(present) < len(values) or not present:
        return "BYTES"
    if all(isinstance(v, bool | np.bool_) for v in present):
        return "BOOL"
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in present):
        return "INT64" if all(-(2**63) <= int(v) < 2**63 for v in present) else "BYTES"
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_) for v in present):
        return "FP64"
    return "BYTES"


def output(name: str, values: list) -> dict:
    """An output tensor of shape [n]; values no narrower type holds are sent as text (None: null)."""
    datatype = datatype_of(values)
    if datatype == "BYTES":
        values = [v if v is None or isinstance(v, str) else str(v) for v in values]
    elif datatype == "BOOL":
        values = [bool(v) for v in values]
    elif datatype == "INT64":
        values = [int(v) for v in values]
    else:
        values = [float(v) for v in values]
    return {"name": name, "datatype": datatype, "shape": [len(values)], "data": values}


def to_binary(tensor: dict) -> bytes:
    """The bytes of an output tensor's data (its ``data`` is then replaced by a binary_data_size)."""
    if tensor["datatype"] == "BYTES":
        chunks = []
        for value in tensor["data"]:
            encoded = ("" if value is None else value).encode("utf-8")
            chunks.append(struct.pack("<I", len(encoded)) + encoded)
        return b"".join(chunks)
    dtype = np.dtype(NUMPY[tensor["datatype"]]).newbyteorder("<")
    return np.asarray(tensor["data"], dtype=dtype).tobytes()
