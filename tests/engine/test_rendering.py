from __future__ import annotations

import pytest

from evolab.engine.harness_config import parse_harness_config
from evolab.engine.rendering import HarnessRenderError, check_templates, render_messages

CASE = {"key": "refund-1", "input": "Can I get a refund?", "metadata": {"tier": "gold"}, "target": "yes"}


def test_the_default_layout_joins_system_workflow_and_sorted_skills() -> None:
    files = {
        "harness.yaml": "",
        "system.md": "You are a support agent.\n",
        "workflow.md": "Think, then answer.\n",
        "skills/zeta.md": "Zeta skill.",
        "skills/alpha.md": "Alpha skill for {{ case.metadata.tier }} customers.",
        "notes/ignored.md": "Not part of the prompt.",
    }

    messages = render_messages(files, CASE)

    assert messages == [
        {
            "role": "system",
            "content": "You are a support agent.\n\nThink, then answer.\n\n"
            "Alpha skill for gold customers.\n\nZeta skill.",
        },
        {"role": "user", "content": "Can I get a refund?"},
    ]


def test_a_system_template_can_include_and_loop_over_skills() -> None:
    files = {
        "harness.yaml": "templates: {system: main.md, user: ask.md}",
        "main.md": "Rules:\n{% include 'skills/refunds.md' %}\n"
        "{% for skill in skills %}- {{ skill.name }} ({{ skill.path }})\n{% endfor %}",
        "ask.md": "[{{ case.key }}] {{ case.input }}",
        "skills/refunds.md": "Refunds within 30 days.",
        "skills/shipping.md": "Ships in 2 days.",
    }

    messages = render_messages(files, CASE)

    assert messages[0]["content"] == (
        "Rules:\nRefunds within 30 days.\n- refunds (skills/refunds.md)\n- shipping (skills/shipping.md)\n"
    )
    assert messages[1] == {"role": "user", "content": "[refund-1] Can I get a refund?"}


def test_chat_message_input_is_used_verbatim_after_the_system_message() -> None:
    files = {"system.md": "Be brief."}
    case = {
        "key": "c",
        "input": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "What is 2+2?"},
        ],
    }

    messages = render_messages(files, case)

    assert messages == [{"role": "system", "content": "Be brief."}, *case["input"]]


def test_an_empty_harness_sends_only_the_user_turn() -> None:
    assert render_messages({}, {"input": "hello"}) == [{"role": "user", "content": "hello"}]


def test_a_syntax_error_names_file_and_line() -> None:
    files = {"system.md": "ok\n{% include 'skills/bad.md' %}", "skills/bad.md": "line one\nline two\n{% if %}\n"}

    with pytest.raises(HarnessRenderError) as caught:
        render_messages(files, CASE)

    assert caught.value.file == "skills/bad.md"
    assert caught.value.line == 3
    assert str(caught.value).startswith("skills/bad.md:3: ")


def test_an_undefined_variable_names_file_and_line() -> None:
    files = {"system.md": "Hello\n\nCustomer: {{ case.metadata.customer_name }}\n"}

    with pytest.raises(HarnessRenderError) as caught:
        render_messages(files, CASE)

    assert (caught.value.file, caught.value.line) == ("system.md", 3)
    assert "customer_name" in caught.value.message


def test_a_missing_include_is_reported() -> None:
    files = {"system.md": "{% include 'skills/nope.md' %}"}

    with pytest.raises(HarnessRenderError, match="not found"):
        render_messages(files, CASE)


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ case.__class__.__init__.__globals__ }}",
        "{{ skills.append(1) }}",
        "{{ case.update({'target': 'pwned'}) }}",
        "{{ files.__class__ }}",
    ],
)
def test_the_template_sandbox_refuses_escapes(attack: str) -> None:
    case = dict(CASE)
    files = {"system.md": f"line\n{attack}"}

    with pytest.raises(HarnessRenderError) as caught:
        render_messages(files, case)

    assert caught.value.file == "system.md"
    assert "unsafe" in caught.value.message or "sandbox" in caught.value.message
    assert case["target"] == "yes"


def test_check_templates_finds_problems_without_rendering() -> None:
    files = {"harness.yaml": "templates: {system: main.md}", "main.md": "{{ case.anything }}", "x.md": "{% for %}"}
    with pytest.raises(HarnessRenderError) as caught:
        check_templates(files)
    assert caught.value.file == "x.md"

    with pytest.raises(HarnessRenderError, match="does not exist"):
        check_templates({"harness.yaml": "templates: {user: missing.md}"})

    check_templates({"harness.yaml": "templates: {system: main.md}", "main.md": "{{ case.anything }}"})


def test_it_uses_a_given_config_over_harness_yaml() -> None:
    files = {"harness.yaml": "templates: {system: a.md}", "a.md": "A", "b.md": "B"}

    messages = render_messages(files, CASE, parse_harness_config("templates: {system: b.md}"))

    assert messages[0]["content"] == "B"
