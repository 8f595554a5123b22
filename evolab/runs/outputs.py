"""Pre-recorded outputs: a JSONL file of `{"key": …, "sample": 0, "output": "…"}` lines,
scored by a run instead of calling a model. Shared by the API and `run_eval --outputs`."""

from __future__ import annotations

import json

from evolab.core.errors import ValidationFailed
from evolab.runs.actions import MAX_SAMPLES

Outputs = dict[tuple[str, int], str]


def parse_outputs_jsonl(data: bytes) -> Outputs:
    """Outputs by (case key, sample); the first bad line raises ValidationFailed naming it.

    `sample` defaults to 0; blank lines are skipped; a (key, sample) given twice is an error.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"The file is not UTF-8 (byte {exc.start}).", field="outputs") from None
    outputs: Outputs = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue

        def bad(message: str, number: int = number) -> ValidationFailed:
            return ValidationFailed(f"line {number}: {message}", field="outputs", details={"line": number})

        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise bad(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise bad('expected an object like {"key": "case-1", "output": "…"}')
        key, sample, output = row.get("key"), row.get("sample", 0), row.get("output")
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if not isinstance(key, str) or not key.strip():
            raise bad('"key" must be a non-empty string')
        if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < MAX_SAMPLES:
            raise bad(f'"sample" must be an integer from 0 to {MAX_SAMPLES - 1}')
        if not isinstance(output, str):
            raise bad('"output" must be a string')
        if (key, sample) in outputs:
            raise bad(f"case {key!r} sample {sample} is given twice")
        outputs[(key, sample)] = output
    if not outputs:
        raise ValidationFailed("The outputs file has no lines.", field="outputs")
    return outputs


def samples_for(outputs: Outputs, requested: int | None) -> int:
    """Samples per case for a run of these outputs: `requested`, or by default the highest
    sample index in the file + 1; refused when the file has samples beyond `requested`."""
    needed = max(sample for _, sample in outputs) + 1
    if requested is not None and requested < needed:
        raise ValidationFailed(
            f"The outputs hold sample {needed - 1}, so samples must be at least {needed}.", field="samples"
        )
    return requested or needed
