"""Render a harness version and an eval case into the chat messages of an episode.

Every harness file is a Jinja template evaluated in an immutable sandbox: a harness may be
written by a model (the evolution loop proposes edits), so templates must not reach Python
internals. Undefined names are errors (StrictUndefined), so a typo fails the render instead
of silently producing an empty prompt.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from evolab.backends.types import Message
from evolab.engine.harness_config import HARNESS_YAML, HarnessConfig, parse_harness_config

SYSTEM_FILE = "system.md"
WORKFLOW_FILE = "workflow.md"
SKILLS_DIR = "skills/"


class HarnessRenderError(ValueError):
    """A template failed to compile or render; names the harness file and line."""

    def __init__(self, file: str | None, line: int | None, message: str) -> None:
        self.file = file
        self.line = line
        self.message = message
        where = file or "<harness>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class HarnessFilesLoader(jinja2.BaseLoader):
    """Loads templates from a harness version's `{path: text}` files.

    The filename reported to Jinja is the harness path, so tracebacks (and our error
    messages) point at `skills/refunds.md` rather than at an anonymous string.
    """

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = files

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        path = posixpath.normpath(template)
        if path not in self.files:
            raise jinja2.TemplateNotFound(template)
        return self.files[path], path, lambda: True

    def list_templates(self) -> list[str]:
        return sorted(self.files)


def skill_paths(files: Mapping[str, str]) -> list[str]:
    """Paths of the skill files, sorted (the default system prompt's order)."""
    return sorted(path for path in files if path.startswith(SKILLS_DIR) and path.endswith(".md"))


def render_messages(
    files: Mapping[str, str],
    case: Mapping[str, Any],
    config: HarnessConfig | None = None,
    *,
    environment: ImmutableSandboxedEnvironment | None = None,
) -> list[Message]:
    """Chat messages for one case under one harness version.

    System message: the `templates.system` template when harness.yaml names one, else
    system.md, workflow.md and every skills/*.md (sorted) joined by blank lines; omitted
    when empty. User turn: the `templates.user` template when set and the case input is
    text, else the input itself. A case whose input is a list of chat messages is used
    verbatim after the system message (a user template does not apply to it).
    """
    if config is None:
        config = parse_harness_config(files.get(HARNESS_YAML))
    env = environment or harness_environment(files)
    context = _context(files, case)

    if config.templates.system:
        system_text = _render(env, config.templates.system, context)
    else:
        parts = [
            _render(env, path, context) for path in (SYSTEM_FILE, WORKFLOW_FILE, *skill_paths(files)) if path in files
        ]
        system_text = "\n\n".join(part.strip() for part in parts if part.strip())

    messages: list[Message] = []
    if system_text.strip():
        messages.append({"role": "system", "content": system_text})

    case_input = case.get("input", "")
    if isinstance(case_input, list):
        messages.extend(_chat_input(case_input))
    elif config.templates.user:
        messages.append({"role": "user", "content": _render(env, config.templates.user, context)})
    else:
        messages.append({"role": "user", "content": str(case_input)})
    return messages


def check_templates(files: Mapping[str, str], config: HarnessConfig | None = None) -> None:
    """Compile every template of a harness version (no rendering) and check entry paths.

    Cheap enough to run when a version is uploaded; raises HarnessRenderError.
    """
    if config is None:
        config = parse_harness_config(files.get(HARNESS_YAML))
    for entry in (config.templates.system, config.templates.user):
        if entry and entry not in files:
            raise HarnessRenderError(HARNESS_YAML, None, f"template {entry!r} does not exist")
    env = harness_environment(files)
    for path in files:
        if path.endswith(".md"):
            try:
                env.get_template(path)
            except jinja2.TemplateSyntaxError as exc:
                raise HarnessRenderError(
                    exc.filename or exc.name or path, exc.lineno, exc.message or "syntax error"
                ) from None


def harness_environment(files: Mapping[str, str]) -> ImmutableSandboxedEnvironment:
    """The sandboxed template environment of one harness version. Reuse it for every case
    of the version (pass it to `render_messages`): it caches compiled templates."""
    return ImmutableSandboxedEnvironment(
        loader=HarnessFilesLoader(files),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def _context(files: Mapping[str, str], case: Mapping[str, Any]) -> dict[str, Any]:
    skills = [
        {"path": path, "name": posixpath.splitext(posixpath.basename(path))[0], "text": files[path]}
        for path in skill_paths(files)
    ]
    return {"case": case, "skills": skills, "files": MappingProxyType(dict(files))}


def _render(env: ImmutableSandboxedEnvironment, path: str, context: dict[str, Any]) -> str:
    try:
        template = env.get_template(path)
        return template.render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise HarnessRenderError(exc.filename or exc.name or path, exc.lineno, exc.message or "syntax error") from None
    except jinja2.TemplateNotFound as exc:
        file, line = _template_position(exc.__traceback__, path)
        raise HarnessRenderError(file, line, f"template {exc.name!r} not found") from None
    except SecurityError as exc:
        file, line = _template_position(exc.__traceback__, path)
        raise HarnessRenderError(file, line, f"refused by the template sandbox: {exc}") from None
    except (
        jinja2.TemplateError,
        TypeError,
        ValueError,
        ArithmeticError,
        LookupError,
        RecursionError,
    ) as exc:
        # Runtime errors inside a template: Jinja rewrites the traceback so its frames carry
        # the template's filename and line, which is what the harness author needs.
        file, line = _template_position(exc.__traceback__, path)
        raise HarnessRenderError(file, line, str(exc)) from None


def _template_position(tb: TracebackType | None, fallback: str) -> tuple[str, int | None]:
    """The innermost traceback frame that Jinja rewrote to point into a template."""
    position: tuple[str, int | None] = (fallback, None)
    while tb is not None:
        frame = tb.tb_frame
        # Jinja's rewritten frames execute a stub with `__jinja_exception__` in globals,
        # the template's filename as co_filename and the template line as line number.
        if "__jinja_exception__" in frame.f_globals:
            position = (frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return position


def _chat_input(items: list[Any]) -> list[Message]:
    messages: list[Message] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or "role" not in item or "content" not in item:
            raise HarnessRenderError(None, None, f"case input[{index}] is not a chat message with role and content")
        messages.append({"role": str(item["role"]), "content": item["content"]})
    return messages
