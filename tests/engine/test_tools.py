from __future__ import annotations

import asyncio

import pytest

from evolab.engine.tools import ToolBox, ToolError, evaluate_arithmetic, search_passages


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("-(4 - 10) // 4", 1),
        ("7 % 3", 1),
        ("2 ** 10", 1024),
        ("10 / 4", 2.5),
        ("-2 ** 2", -4),
        ("1.5e3 + .5", 1500.5),
    ],
)
def test_the_calculator_does_arithmetic(expression: str, expected: float) -> None:
    assert evaluate_arithmetic(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('id')", "unsupported syntax"),
        ("abs(-1)", "unsupported syntax"),
        ("x + 1", "unsupported syntax"),
        ("'a' * 3", "unsupported literal"),
        ("True + 1", "unsupported literal"),
        ("2 ** 100000", "exponent larger than"),
        ("9 ** 9 ** 9", "exponent larger than"),
        ("(10 ** 1000) ** 999", "result too large"),
        ("1 / 0", "division by zero"),
        ("1e308 * 10", "result too large"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 +", "not an arithmetic expression"),
        ("1+" * 300 + "1", "longer than"),
    ],
)
def test_the_calculator_refuses_what_is_not_bounded_arithmetic(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        evaluate_arithmetic(expression)


def test_lookup_ranks_passages_by_keywords() -> None:
    documents = [
        {"title": "Shipping", "text": "Parcels ship in two days.\n\nExpress shipping costs 9 EUR."},
        {"title": "Returns", "text": "Return a parcel within 30 days for a full refund."},
    ]

    hits = search_passages(documents, "express shipping cost", limit=2)

    assert hits[0].text == "Express shipping costs 9 EUR."
    assert search_passages(documents, "zebra") == []


def test_the_toolbox_exposes_openai_function_schemas() -> None:
    toolbox = ToolBox.for_case(["calculator", "python", "lookup", "submit_answer"], case={})

    schemas = toolbox.schemas()

    assert [schema["type"] for schema in schemas] == ["function"] * 4
    assert {schema["function"]["name"] for schema in schemas} == {"calculator", "python", "lookup", "submit_answer"}
    for schema in schemas:
        assert schema["function"]["parameters"]["type"] == "object"
        assert schema["function"]["parameters"]["required"]
    with pytest.raises(ValueError, match="unknown tool"):
        ToolBox.for_case(["shell"])


def test_the_python_tool_runs_code_in_the_sandbox() -> None:
    toolbox = ToolBox.for_case(["python"])

    output = asyncio.run(toolbox.call("python", {"code": "import os\nprint(sum(range(10)), os.getcwd() != '/')"}))

    assert output.startswith("exit code: 0\nstdout:\n45 True")


def test_lookup_without_documents_says_so() -> None:
    toolbox = ToolBox.for_case(["lookup"], case={"documents": []})

    assert asyncio.run(toolbox.call("lookup", {"query": "refund"})) == "No documents are attached to this task."
