"""JSON through the C accelerator only.

``import json`` pulls in ``re`` and ``enum`` (about 3 ms on this class of machine),
which is a fifth of a hook's whole budget. The hook path uses these two helpers,
built directly on ``_json``; everything else in offmem uses the ``json`` module.
"""


import _json

_WS = " \t\n\r"


class _DecodeContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scan = _json.make_scanner(_DecodeContext())


def loads(text: str):
    """Parse one JSON document; raises ValueError on anything else."""
    start = len(text) - len(text.lstrip(_WS))
    if start == len(text):
        raise ValueError("empty JSON document")
    try:
        value, end = _scan(text, start)
    except Exception:  # noqa: BLE001 - the C scanner's error path needs json.decoder
        import json  # slow path only: a proper message for a malformed document

        return json.loads(text)
    finally:
        _DecodeContext.memo.clear()
    if text[end:].strip(_WS):
        raise ValueError(f"extra data after JSON at offset {end}")
    return value


def _fail(obj):
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


# make_encoder's positional signature: (markers, default, encoder, indent,
# key_separator, item_separator, sort_keys, skipkeys, allow_nan).
# The ASCII string encoder escapes lone surrogates (which a malformed payload
# can carry), so the result is always encodable as UTF-8 for SQLite.
_encode = _json.make_encoder(
    None, _fail, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)


def dumps(obj) -> str:
    """Compact, ASCII-only JSON."""
    return "".join(_encode(obj, 0))
