"""Signature sanitizing: nothing executable survives, ordinary formatting does."""

from __future__ import annotations

from app.mail.signature import sanitize_signature, signature_text

HOSTILE = (
    '<p onclick="steal()" style="color:#333;position:fixed;behavior:url(x.htc)">Sam '
    "<b>Sender</b></p><script>alert(1)</script><style>body{display:none}</style>"
    '<a href="javascript:alert(1)">a</a><a href="data:text/html,x">b</a>'
    '<a href="https://contoso.example">site</a> <a href="mailto:sam@contoso.example">mail</a>'
    '<img src="https://contoso.example/logo.png" onerror="x()" alt="Contoso">'
    '<img src="data:image/png;base64,AAAA"><img src="mailto:x@y">'
    '<form action="https://evil.example"><input name="p"><button>Go</button></form>'
    "<iframe src='https://evil.example'></iframe><!--[if mso]><script>x</script><![endif]-->"
    "<svg onload=alert(1)><circle/></svg>"
)


def test_scripts_handlers_forms_and_bad_links_are_removed() -> None:
    out = str(sanitize_signature(HOSTILE))
    low = out.lower()
    for bad in ("<script", "onclick", "onerror", "onload", "<form", "<input", "<button",
                "<iframe", "<style", "<svg", "javascript:", "data:", "position", "behavior",
                "<!--", "alert"):  # fmt: skip
        assert bad not in low, bad
    assert 'href="https://contoso.example"' in out
    assert 'href="mailto:sam@contoso.example"' in out
    assert 'src="https://contoso.example/logo.png"' in out
    assert "color:#333" in out.replace(" ", "")
    assert "<b>Sender</b>" in out


def test_plain_text_signature() -> None:
    assert signature_text("<p>Sam Sender<br>Contoso &amp; Co</p><p>+1 555 0100</p>") == (
        "Sam Sender\nContoso & Co\n+1 555 0100"
    )
    assert "alert" not in signature_text("<script>alert(1)</script>Sam")
