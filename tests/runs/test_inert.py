"""`|inert` (evolab/core/templatetags/inert.py) and the transcript view of the result page."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from evolab.runs.transcripts import transcript_entries


def _render(value: object) -> str:
    return Template("{% load inert %}{{ value|inert }}").render(Context({"value": value}))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        (
            '<a href="javascript:x()" hx-get="/evil">',
            "&lt;a href=&quot;javascript:x()&quot; hx-get=&quot;/evil&quot;&gt;",
        ),
        ("abc\u202edef", 'abc<span class="ctl" title="invisible control character">U+202E</span>def'),
        ("\u2066x\u2069", "U+2066</span>x<span"),
        ("a\x1b[31mb\x00c\x7f", "a\u241b[31mb\u2400c\u2421"),
        ("next\x85line", "U+0085"),
        ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
        (None, ""),
    ],
)
def test_inert_escapes_then_shows_controls(text: object, shown: str) -> None:
    rendered = _render(text)
    assert shown in rendered
    assert not any(char in rendered for char in "\u202e\u2066\u2069\x1b\x00\x7f\x85")


def test_a_control_named_in_text_cannot_forge_markup() -> None:
    # The spans are added after escaping, so text that looks like one stays text.
    assert _render('<span class="ctl">U+202E</span>') == "&lt;span class=&quot;ctl&quot;&gt;U+202E&lt;/span&gt;"


def test_transcript_entries_fold_reasoning_and_tool_results() -> None:
    transcript = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": "<think>plan</think>Let me compute.",
            "reasoning_details": [{"type": "reasoning.text", "text": "details"}],
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "1+1"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "2"},
        {"role": "tool", "tool_call_id": "orphan", "content": "stray"},
        {"role": "assistant", "content": "2", "reasoning": "done"},
    ]
    records = [
        {"call_id": "c1", "name": "calculator", "arguments": {"expression": "1+1"}, "result": "2", "duration_s": 0.1}
    ]
    entries = transcript_entries(transcript, records)
    assert [entry.role for entry in entries] == ["system", "user", "assistant", "tool", "assistant"]
    assert entries[1].text == "hi"
    call_turn = entries[2]
    assert call_turn.text == "Let me compute." and call_turn.reasoning == "details\n\nplan"
    [call] = call_turn.tool_calls
    assert (call.name, call.arguments, call.result, call.duration_s) == (
        "calculator",
        '{"expression": "1+1"}',
        "2",
        0.1,
    )
    assert entries[3].tool_call_id == "orphan" and entries[3].text == "stray"
    assert entries[4].reasoning == "done" and entries[4].text == "2"
