"""Built-in tools an agent may call: calculator, python, lookup, submit_answer.

Each tool has an OpenAI function-tool schema and an async `run(arguments) -> str`. Tool
failures are returned to the model as text (it can recover), never raised into the loop.
"""

from __future__ import annotations

import ast
import asyncio
import math
import operator
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evolab.engine.sandbox import SandboxLimits, run_sandboxed

SUBMIT_ANSWER = "submit_answer"
# What the model sees of a long tool result; the full text stays out of the context window.
MAX_TOOL_OUTPUT_CHARS = 8000


class ToolError(Exception):
    """A tool could not do what was asked; the message is shown to the model."""


ToolRunner = Callable[[dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    run: ToolRunner

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool definition."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass
class ToolBox:
    """The tools enabled for one episode, bound to its case."""

    tools: dict[str, Tool] = field(default_factory=dict)

    @classmethod
    def for_case(
        cls,
        names: Iterable[str],
        *,
        case: Mapping[str, Any] | None = None,
        sandbox_limits: SandboxLimits | None = None,
        sandbox_tier: int | None = None,
    ) -> ToolBox:
        """Build the named built-in tools; `lookup` searches `case["documents"]`."""
        documents = list((case or {}).get("documents") or [])
        factories: dict[str, Callable[[], Tool]] = {
            "calculator": calculator_tool,
            "python": lambda: python_tool(limits=sandbox_limits, tier=sandbox_tier),
            "lookup": lambda: lookup_tool(documents),
            SUBMIT_ANSWER: submit_answer_tool,
        }
        tools = {}
        for name in names:
            if name not in factories:
                raise ValueError(f"unknown tool {name!r}")
            tools[name] = factories[name]()
        return cls(tools)

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self.tools.values()]

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        tool = self.tools.get(name)
        if tool is None:
            raise ToolError(f"unknown tool {name!r}; available: {', '.join(self.tools) or 'none'}")
        return truncate(await tool.run(arguments))


def truncate(text: str, limit: int = MAX_TOOL_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… [truncated {len(text) - limit} characters]"


# --- calculator ---------------------------------------------------------------------------

MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 1000
# Bound on intermediate integers, so `10**1000 * 10**1000 * …` cannot eat memory.
MAX_INT_BITS = 20_000

_BINARY_OPERATORS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def evaluate_arithmetic(expression: str) -> int | float:
    """Evaluate + - * / // % ** with parentheses and unary signs, without `eval`."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolError(f"not an arithmetic expression: {expression!r}") from None
    return _evaluate(tree.body)


def _evaluate(node: ast.expr) -> int | float:
    if isinstance(node, ast.Constant):
        # bool is an int subclass; True + True is not arithmetic a user meant.
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        raise ToolError(f"unsupported literal {node.value!r}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT:
                raise ToolError(f"exponent larger than {MAX_EXPONENT}")
            # Refuse before computing: the result's size is known in advance.
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > MAX_INT_BITS:
                raise ToolError("result too large")
        try:
            result: int | float = _BINARY_OPERATORS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("result too large") from None
        if isinstance(result, complex):
            raise ToolError("result is not a real number")
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise ToolError("result too large")
        if isinstance(result, float) and not math.isfinite(result):
            raise ToolError("result too large")
        return result
    raise ToolError(f"unsupported syntax: {ast.unparse(node)!r}")


def calculator_tool() -> Tool:
    async def run(arguments: dict[str, Any]) -> str:
        expression = arguments.get("expression")
        if not isinstance(expression, str):
            raise ToolError("argument 'expression' (string) is required")
        return str(evaluate_arithmetic(expression))

    return Tool(
        name="calculator",
        description=(
            "Evaluate an arithmetic expression exactly. Supports + - * / // % ** and "
            "parentheses, e.g. '(17 + 5) * 3 / 4'."
        ),
        parameters={
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "The expression."}},
            "required": ["expression"],
            "additionalProperties": False,
        },
        run=run,
    )


# --- python ---------------------------------------------------------------------------------

MAX_STREAM_CHARS = 4000


def python_tool(*, limits: SandboxLimits | None = None, tier: int | None = None) -> Tool:
    async def run(arguments: dict[str, Any]) -> str:
        code = arguments.get("code")
        if not isinstance(code, str):
            raise ToolError("argument 'code' (string) is required")
        # The sandbox blocks on a subprocess; keep the event loop serving other episodes.
        result = await asyncio.to_thread(run_sandboxed, code, limits=limits, tier=tier)
        lines = [f"exit code: {result.exit_code}"]
        if result.killed_reason:
            lines.append(f"killed: {result.killed_reason}")
        lines.append("stdout:\n" + _tail(result.stdout, MAX_STREAM_CHARS))
        if result.stderr:
            lines.append("stderr:\n" + _tail(result.stderr, MAX_STREAM_CHARS))
        return "\n".join(lines)

    return Tool(
        name="python",
        description=(
            "Run a Python 3 program in an isolated sandbox (no network, time and memory "
            "limits) and return its exit code, stdout and stderr. Print what you need."
        ),
        parameters={
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The complete program."}},
            "required": ["code"],
            "additionalProperties": False,
        },
        run=run,
    )


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


# --- lookup ---------------------------------------------------------------------------------

PASSAGE_CHARS = 600
_WORD = re.compile(r"\w+", re.UNICODE)
# Words that match nearly every passage and would drown the useful ones.
_STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "how", "in", "is", "it", "of", "on", "or"}
    | {"the", "this", "to", "was", "what", "when", "where", "which", "who", "why", "with"}
)


@dataclass(frozen=True)
class Passage:
    title: str
    text: str


def split_passages(documents: Sequence[Mapping[str, Any]]) -> list[Passage]:
    """Documents cut into paragraphs, long paragraphs into ~PASSAGE_CHARS pieces."""
    passages = []
    for document in documents:
        title = str(document.get("title", ""))
        for paragraph in re.split(r"\n\s*\n", str(document.get("text", ""))):
            paragraph = paragraph.strip()
            while paragraph:
                if len(paragraph) <= PASSAGE_CHARS:
                    passages.append(Passage(title, paragraph))
                    break
                cut = paragraph.rfind(" ", 0, PASSAGE_CHARS)
                cut = cut if cut > 0 else PASSAGE_CHARS
                passages.append(Passage(title, paragraph[:cut].strip()))
                paragraph = paragraph[cut:].strip()
    return passages


def _terms(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS]


def search_passages(documents: Sequence[Mapping[str, Any]], query: str, *, limit: int = 3) -> list[Passage]:
    """Best passages for a keyword query, scored by term frequency times inverse document frequency.

    Title words count as part of each passage, so "refund policy" finds the passages of
    a document titled "Refund policy".
    """
    passages = split_passages(documents)
    query_terms = set(_terms(query))
    if not passages or not query_terms:
        return []
    bags = [Counter(_terms(f"{passage.title} {passage.text}")) for passage in passages]
    frequency = Counter(term for bag in bags for term in set(bag) & query_terms)
    scored = []
    for index, bag in enumerate(bags):
        score = sum(
            (1 + math.log(bag[term])) * math.log(1 + len(bags) / frequency[term]) for term in query_terms if bag[term]
        )
        if score > 0:
            scored.append((-score, index))
    return [passages[index] for _, index in sorted(scored)[:limit]]


def lookup_tool(documents: Sequence[Mapping[str, Any]]) -> Tool:
    async def run(arguments: dict[str, Any]) -> str:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("argument 'query' (non-empty string) is required")
        limit = arguments.get("max_results", 3)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10:
            raise ToolError("argument 'max_results' must be an integer from 1 to 10")
        if not documents:
            return "No documents are attached to this task."
        hits = search_passages(documents, query, limit=limit)
        if not hits:
            return f"No passage matches {query!r}."
        return "\n\n".join(f"[{hit.title}]\n{hit.text}" for hit in hits)

    return Tool(
        name="lookup",
        description="Search the documents attached to this task by keywords; returns the best passages.",
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Keywords to search for."},
                "max_results": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        run=run,
    )


# --- submit_answer --------------------------------------------------------------------------


def submit_answer_tool() -> Tool:
    async def run(arguments: dict[str, Any]) -> str:
        return "Answer submitted."

    return Tool(
        name=SUBMIT_ANSWER,
        description="Submit your final answer. This ends the task.",
        parameters={
            "type": "object",
            "properties": {"answer": {"type": "string", "description": "The final answer."}},
            "required": ["answer"],
            "additionalProperties": False,
        },
        run=run,
    )
