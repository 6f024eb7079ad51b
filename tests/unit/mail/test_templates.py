"""Templates: built-ins render, user templates override, every failure says where and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.mail.message import Composition, build_message, make_recipient, template_context
from app.mail.templates import TemplateCatalog, TemplateError

LINK = "https://videos.example/v/1_abc?t=tok"


def user_template(root: Path, name: str, body: str, subject: str = "Hi", text: str = "") -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "body.html").write_text(body, encoding="utf-8")
    (folder / "subject.txt").write_text(subject, encoding="utf-8")
    if text:
        (folder / "body.txt").write_text(text, encoding="utf-8")


def context(composition: Composition) -> dict[str, object]:
    return template_context(
        composition, make_recipient("ann@example.com", display_name="Ann Lee"), LINK
    )


def test_builtins_are_listed_and_described() -> None:
    catalog = TemplateCatalog()
    names = catalog.names()
    assert {"personal-note", "sales-follow-up", "text-first"} <= set(names)
    for name in names:
        info = catalog.info(name)
        assert info.builtin and info.title and info.description


@pytest.mark.parametrize("name", ["personal-note", "sales-follow-up", "text-first"])
def test_each_builtin_renders_greeting_link_and_text(name: str, composition: Composition) -> None:
    comp = Composition(**{**composition.__dict__, "template": name})
    parts = TemplateCatalog().render(name, context(comp))
    assert "Hi Ann," in parts.html
    assert LINK.replace("&", "&amp;") in parts.html or LINK in parts.html
    assert "Hi Ann," in parts.text and LINK in parts.text
    assert parts.subject and "\n" not in parts.subject


def test_user_template_overrides_and_is_listed(tmp_path: Path, composition: Composition) -> None:
    user_template(
        tmp_path, "mine", "<p>Dear {{ recipient.first_name }}</p>", "For {{ recipient.email }}"
    )
    catalog = TemplateCatalog(user=tmp_path)
    assert "mine" in catalog.names()
    assert not catalog.info("mine").builtin
    parts = catalog.render("mine", context(composition))
    assert parts.html == "<p>Dear Ann</p>"
    assert parts.subject == "For ann@example.com"


def test_undefined_variable_reports_line_and_name(tmp_path: Path, composition: Composition) -> None:
    user_template(
        tmp_path,
        "typo",
        "<p>Hi</p>\n<p>{{ recipient.first_name }}</p>\n<p>{{ recipient.nickname }}</p>",
    )
    with pytest.raises(TemplateError) as err:
        TemplateCatalog(user=tmp_path).render("typo", context(composition))
    assert err.value.line == 3
    assert err.value.missing == "nickname"
    assert "line 3" in err.value.message and "nickname" in err.value.message
    assert "nothing was sent" in err.value.hint.lower()


def test_undefined_top_level_variable(tmp_path: Path, composition: Composition) -> None:
    user_template(tmp_path, "t", "{{ coupon_code }}")
    with pytest.raises(TemplateError) as err:
        TemplateCatalog(user=tmp_path).render("t", context(composition))
    assert err.value.missing == "coupon_code" and err.value.line == 1


def test_build_message_reports_before_sending(tmp_path: Path, composition: Composition) -> None:
    user_template(tmp_path, "broken", "{{ video.nope }}")
    comp = Composition(**{**composition.__dict__, "template": "broken"})
    with pytest.raises(TemplateError, match="nope"):
        build_message(
            comp, make_recipient("a@example.com"), LINK, catalog=TemplateCatalog(user=tmp_path)
        )


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ recipient.__class__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ self._TemplateReference__context }}",
        "{{ (1).__class__.__base__ }}",
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 99999999 }}",
        "{{ sender.signature.__html__.__globals__ }}",
    ],
)
def test_python_internals_are_blocked(
    tmp_path: Path, composition: Composition, source: str
) -> None:
    user_template(tmp_path, "evil", source)
    with pytest.raises(TemplateError):
        TemplateCatalog(user=tmp_path).render("evil", context(composition))


def test_syntax_error_names_file_and_line(tmp_path: Path, composition: Composition) -> None:
    user_template(tmp_path, "bad", "<p>ok</p>\n{% if %}\n")
    with pytest.raises(TemplateError) as err:
        TemplateCatalog(user=tmp_path).render("bad", context(composition))
    assert err.value.line == 2 and "body.html" in err.value.message


def test_subject_template_errors(composition: Composition) -> None:
    catalog = TemplateCatalog()
    with pytest.raises(TemplateError, match="syntax error"):
        catalog.render(
            "personal-note", context(composition), subject_source="Hi {{ recipient.first_name"
        )
    with pytest.raises(TemplateError) as err:
        catalog.render(
            "personal-note", context(composition), subject_source="Hi {{ recipient.nick }}"
        )
    assert err.value.missing == "nick"


def test_user_errors_inside_templates_are_template_errors(
    tmp_path: Path, composition: Composition
) -> None:
    user_template(tmp_path, "div", "{{ 1 / 0 }}")
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        TemplateCatalog(user=tmp_path).render("div", context(composition))


@pytest.mark.parametrize("name", ["../etc", "Personal", "", "a/b", "x" * 80])
def test_bad_names(name: str) -> None:
    with pytest.raises(TemplateError):
        TemplateCatalog().render(name, {})


def test_unknown_template_lists_known_ones() -> None:
    with pytest.raises(TemplateError) as err:
        TemplateCatalog().render("no-such", {})
    assert "personal-note" in err.value.hint


def test_html_is_autoescaped_and_text_is_not(composition: Composition) -> None:
    ctx = template_context(
        composition, make_recipient("a@example.com", display_name="<b>Bo</b> & Co"), LINK
    )
    parts = TemplateCatalog().render("personal-note", ctx)
    assert "&lt;b&gt;Bo&lt;/b&gt;" in parts.html and "<b>Bo</b>" not in parts.html
    assert "Hi <b>Bo</b>," in parts.text  # plain text is not HTML: nothing to escape


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        # Time: a loop that prints nothing is stopped too.
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "took longer than 1 s",
        ),
        # Output size.
        (
            "{% for i in range(100000) %}Hello, {{ recipient.first_name }}! {% endfor %}",
            "produced more than 10000 characters",
        ),
        # Memory: every way of making a string as long as a number says.
        ("{{ 'x'.ljust(10**9) }}", "may not do"),
        ("{{ '{:>999999999}'.format(1) }}", "may not do"),
        ("{{ '%999999999d' % 1 }}", "may not do"),
        ("{{ 'x' * 10**9 }}", "may not do"),
        ("{{ 'x' | center(999999999) }}", "syntax error"),  # no such filter here
    ],
)
def test_a_typed_subject_runs_under_limits(
    composition: Composition, subject: str, reason: str
) -> None:
    with pytest.raises(TemplateError, match=reason) as err:
        TemplateCatalog().render("personal-note", context(composition), subject_source=subject)
    assert err.value.template in ("subject", "personal-note")


def test_a_normal_subject_is_not_bothered_by_the_limits(composition: Composition) -> None:
    parts = TemplateCatalog().render(
        "personal-note",
        context(composition),
        subject_source="{% for w in ['Hi', recipient.first_name] %}{{ w }} {% endfor %}",
    )
    assert parts.subject == "Hi Ann"
