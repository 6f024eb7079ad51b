"""Email templates: the built-in ones in ``resources/templates/`` and the user's own.

A template is a folder ``<name>/`` holding ``template.json`` (title, description),
``subject.txt`` (a one-line Jinja template), ``body.html`` (usually extending the shared
``_layout.html`` and using ``_macros.html`` for the Outlook-safe preview and button) and
``body.txt`` (the plain-text alternative). User templates live in
:func:`app.paths.templates_dir` with the same layout; a user template with a built-in
name takes its place.

Rendering uses Jinja2's :class:`SandboxedEnvironment` (no access to Python internals:
``{{ ''.__class__ }}`` is refused), ``StrictUndefined`` (a misspelt variable is an error,
not an empty string) and autoescaping for HTML. Text parts (subject, plain body) are
rendered without HTML escaping, since they are not HTML; they are cleaned of control
characters by the caller. Every failure becomes a :class:`TemplateError` naming the
template, the line and the missing variable, raised before anything is sent.
"""

from __future__ import annotations

import json
import operator
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import jinja2
import jinja2.exceptions
import jinja2.sandbox
from markupsafe import Markup, escape

from app import paths
from app.errors import MailError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

#: Largest string/list a template may build with ``*`` and largest exponent for ``**``:
#: a template is user input too, and ``{{ 'x' * 10**10 }}`` must not eat the memory.
MAX_BUILT_LENGTH = 200_000
MAX_EXPONENT = 64
#: A subject the user types runs under these bounds (time, and the text it may produce).
SUBJECT_SECONDS = 1.0
SUBJECT_MAX_CHARS = 10_000
#: Methods and filters that build a string as long as a number says (``'x'.ljust(10**9)``,
#: ``'%9999999999d' % 1``, ``'x'|center(10**9)``): refused in every template.
_WIDENING_METHODS = frozenset(
    {"format", "format_map", "center", "ljust", "rjust", "zfill", "expandtabs"}
)
_WIDENING_FILTERS = ("center", "indent", "wordwrap", "format")


class TemplateError(MailError):
    """A template could not be loaded or rendered. Says which one, where, and why."""

    def __init__(
        self,
        message: str,
        *,
        template: str = "",
        line: int | None = None,
        missing: str = "",
        hint: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.template = template
        self.line = line
        self.missing = missing


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    title: str
    description: str
    builtin: bool
    folder: Path


@dataclass(frozen=True)
class RenderedParts:
    subject: str
    html: str
    text: str


class _Sandbox(jinja2.sandbox.SandboxedEnvironment):
    """The stock sandbox plus limits on ``*``, ``**`` and ``%`` and on widening string
    methods (memory and CPU exhaustion)."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _WIDENING_METHODS:
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def wrap_str_format(self, value: Any) -> None:
        """No ``str.format``: the stock sandbox would run it (safely, but with any width),
        so it is left to :meth:`is_safe_attribute`, which refuses it."""

    def call_binop(
        self, context: jinja2.runtime.Context, operator_: str, left: Any, right: Any
    ) -> Any:
        if operator_ == "%":
            if isinstance(left, str):  # printf formatting: widths can be any size
                raise jinja2.exceptions.SecurityError("string formatting with % is not allowed")
            return operator.mod(left, right)
        if operator_ == "**":
            if isinstance(right, int) and abs(right) > MAX_EXPONENT:
                raise jinja2.exceptions.SecurityError("exponent too large")
            return operator.pow(left, right)
        sequence, times = (left, right) if isinstance(right, int) else (right, left)
        if (
            isinstance(times, int)
            and isinstance(sequence, str | list | tuple)
            and len(sequence) * times > MAX_BUILT_LENGTH
        ):
            raise jinja2.exceptions.SecurityError("the result would be too large")
        return operator.mul(left, right)


def _nl2br(value: Any) -> Markup:
    """Escape, then turn line breaks into ``<br>`` (notes keep their paragraphs)."""
    text = str(value)
    return Markup("<br>\n").join(escape(line) for line in text.split("\n"))


def builtin_dir() -> Path:
    return paths.resources_dir() / "templates"


class TemplateCatalog:
    """Finds and renders templates. Cheap to create; compiled templates are cached."""

    def __init__(self, *, builtin: Path | None = None, user: Path | None = None) -> None:
        self.builtin = builtin or builtin_dir()
        self.user = user if user is not None else paths.templates_dir()
        loader = jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(str(self.user)), jinja2.FileSystemLoader(str(self.builtin))]
        )
        self._html = self._make_env(loader, autoescape=True)
        self._text = self._make_env(loader, autoescape=False)

    @staticmethod
    def _make_env(loader: jinja2.BaseLoader, *, autoescape: bool) -> jinja2.Environment:
        env = _Sandbox(
            loader=loader,
            autoescape=autoescape,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=True,
        )
        env.filters["nl2br"] = _nl2br
        for name in _WIDENING_FILTERS:
            env.filters.pop(name, None)
        return env

    # ----------------------------------------------------------------- discovery

    def names(self) -> list[str]:
        """Every usable template name, built-in and user, sorted."""
        found: set[str] = set()
        for base in (self.builtin, self.user):
            if base.is_dir():
                found |= {
                    p.name
                    for p in base.iterdir()
                    if p.is_dir() and NAME_RE.match(p.name) and (p / "body.html").is_file()
                }
        return sorted(found)

    def info(self, name: str) -> TemplateInfo:
        folder = self._folder(name)
        meta: dict[str, Any] = {}
        meta_path = folder / "template.json"
        if meta_path.is_file():
            try:
                loaded = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise TemplateError(
                    f"The template {name!r} has an unreadable template.json: {exc}.",
                    template=name,
                    hint=f"Fix or delete {meta_path}.",
                ) from exc
            if isinstance(loaded, dict):
                meta = loaded
        return TemplateInfo(
            name=name,
            title=str(meta.get("title", name)),
            description=str(meta.get("description", "")),
            builtin=folder.parent == self.builtin,
            folder=folder,
        )

    def _folder(self, name: str) -> Path:
        if not NAME_RE.match(name):
            raise TemplateError(
                f"{name!r} is not a template name.",
                template=name,
                hint="Template names use lower-case letters, digits, '-' and '_'.",
            )
        for base in (self.user, self.builtin):
            if (base / name / "body.html").is_file():
                return base / name
        known = ", ".join(self.names()) or "none"
        raise TemplateError(
            f"There is no template named {name!r}.",
            template=name,
            hint=f"Known templates: {known}.",
        )

    # ----------------------------------------------------------------- rendering

    def render(
        self,
        name: str,
        context: Mapping[str, Any],
        *,
        subject_source: str | None = None,
        clean_subject: Callable[[str], str] = str.strip,
    ) -> RenderedParts:
        """Subject, HTML and plain text of template ``name`` for one recipient.

        ``subject_source`` replaces the template's ``subject.txt`` (the user typed one).
        The cleaned subject is passed to the HTML and text bodies as ``subject``.
        """
        self._folder(name)  # a clear error for an unknown name, before any loading
        if subject_source is None:
            subject_tpl = self._load(self._text, f"{name}/subject.txt", name, optional=True)
            if subject_tpl is None:
                subject_tpl = self._compile_string("{{ video.title }}", name)
        else:
            subject_tpl = self._compile_string(subject_source, "subject")
        subject = clean_subject(self._run(subject_tpl, context, name, bounded=True))
        ctx = {**context, "subject": subject}
        html_tpl = self._load(self._html, f"{name}/body.html", name)
        assert html_tpl is not None
        html = self._run(html_tpl, ctx, name)
        text_tpl = self._load(self._text, f"{name}/body.txt", name, optional=True)
        text = self._run(text_tpl, ctx, name) if text_tpl is not None else ""
        return RenderedParts(subject=subject, html=html, text=text.strip() + "\n")

    def _compile_string(self, source: str, label: str) -> jinja2.Template:
        try:
            return self._text.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"The {label} template has a syntax error on line {exc.lineno}: {exc.message}.",
                template=label,
                line=exc.lineno,
                hint="Fix the template text; variables look like {{ recipient.first_name }}.",
            ) from exc

    def _load(
        self, env: jinja2.Environment, path: str, name: str, *, optional: bool = False
    ) -> jinja2.Template | None:
        try:
            return env.get_template(path)
        except jinja2.TemplateNotFound as exc:
            if optional and exc.name == path:
                return None
            raise TemplateError(
                f"The template {name!r} needs {exc.name!r}, which does not exist.",
                template=name,
                hint="Check the template's file names and its {% extends %}/{% import %} lines.",
            ) from exc
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or exc.name or path
            raise TemplateError(
                f"The template {name!r} has a syntax error in {Path(where).name}, "
                f"line {exc.lineno}: {exc.message}.",
                template=name,
                line=exc.lineno,
                hint="Fix the template file and try again.",
            ) from exc

    def _run(
        self, tpl: jinja2.Template, context: Mapping[str, Any], name: str, *, bounded: bool = False
    ) -> str:
        try:
            if bounded:
                return _render_bounded(tpl, context)
            return tpl.render(context)
        except _OverBudget as exc:
            raise TemplateError(
                f"The subject template {exc}.",
                template=name,
                hint="Keep the subject short and simple; nothing was sent.",
            ) from exc
        except jinja2.UndefinedError as exc:
            file, line = _template_position(exc.__traceback__)
            missing = _missing_name(str(exc))
            where = f"{file}, line {line}" if line else file or name
            raise TemplateError(
                f"The template {name!r} uses a variable that does not exist ({where}): "
                f"{missing or exc}.",
                template=name,
                line=line,
                missing=missing,
                hint="Known variables: recipient, sender, video, note, cta, subject. "
                "Fix the template; nothing was sent.",
            ) from exc
        except jinja2.exceptions.SecurityError as exc:
            file, line = _template_position(exc.__traceback__)
            where = f" ({file}, line {line})" if line else ""
            raise TemplateError(
                f"The template {name!r} tried something templates may not do{where}: {exc}.",
                template=name,
                line=line,
                hint="Templates can use the documented variables only. Nothing was sent.",
            ) from exc
        except jinja2.TemplateError as exc:
            file, line = _template_position(exc.__traceback__)
            raise TemplateError(
                f"The template {name!r} failed: {exc}.",
                template=name,
                line=line,
                hint="Fix the template; nothing was sent.",
            ) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            # Errors a user's template can cause ({{ 1/0 }}, {{ note + 1 }}): their fault, not ours.
            file, line = _template_position(exc.__traceback__)
            where = f" ({file}, line {line})" if line else ""
            raise TemplateError(
                f"The template {name!r} failed{where}: {type(exc).__name__}: {exc}.",
                template=name,
                line=line,
                hint="Fix the template; nothing was sent.",
            ) from exc


class _OverBudget(Exception):
    """A bounded template ran too long or produced too much."""


def _render_bounded(
    tpl: jinja2.Template,
    context: Mapping[str, Any],
    *,
    seconds: float = SUBJECT_SECONDS,
    max_chars: int = SUBJECT_MAX_CHARS,
) -> str:
    """Render ``tpl`` within ``seconds`` of time and ``max_chars`` of output.

    Time is checked on every line the template's own code runs (a trace function limited
    to template frames, this thread only), so even a loop that prints nothing is stopped.
    """
    deadline = time.monotonic() + seconds

    def in_template(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _OverBudget(f"took longer than {seconds:g} s to render")
        return in_template

    def on_call(frame: FrameType, event: str, arg: Any) -> Any:
        return in_template if frame.f_code.co_filename == "<template>" else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        out: list[str] = []
        size = 0
        for chunk in tpl.generate(context):
            size += len(chunk)
            if size > max_chars:
                raise _OverBudget(f"produced more than {max_chars} characters")
            out.append(chunk)
        return "".join(out)
    finally:
        sys.settrace(previous)


def _template_position(tb: TracebackType | None) -> tuple[str, int | None]:
    """The deepest traceback frame that belongs to a template: (file name, line)."""
    file, line = "", None
    while tb is not None:
        code = tb.tb_frame.f_code
        filename = code.co_filename
        # Jinja rewrites tracebacks so that template frames carry the template's file name
        # and line; compiled-from-string templates are "<template>".
        if filename.endswith((".html", ".txt")) or filename == "<template>":
            file = "subject" if filename == "<template>" else "/".join(Path(filename).parts[-2:])
            line = tb.tb_lineno
        tb = tb.tb_next
    return file, line


def _missing_name(message: str) -> str:
    m = re.search(r"has no attribute '([^']+)'", message)
    if m:
        return m.group(1)
    m = re.search(r"'([^']+)' is undefined", message)
    return m.group(1) if m else ""
