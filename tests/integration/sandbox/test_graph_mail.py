"""The Graph sandbox's mail: sendMail validation, storage, drafts, readable copies."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from app.sandbox.microsoft import MicrosoftSandbox
from tests.fixtures.sandbox_microsoft import sign_in
from tests.integration.sandbox.test_graph import Graph, assert_graph_error

Factory = Callable[..., MicrosoftSandbox]
SCOPES = ("User.Read", "Mail.Send", "Mail.ReadWrite")
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()


@pytest.fixture
def graph(ms_sandbox: MicrosoftSandbox) -> Graph:
    return Graph(ms_sandbox, sign_in(ms_sandbox, SCOPES)["access_token"])


def message(**extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "subject": "Hello Zoë",
        "body": {"contentType": "HTML", "content": '<p>Hi!</p><img src="cid:logo">'},
        "toRecipients": [
            {"emailAddress": {"address": "zoe.dubois@contoso.example", "name": "Zoë"}}
        ],
        "attachments": [
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": "logo.png",
                "contentType": "image/png",
                "contentBytes": PNG,
                "contentId": "logo",
                "isInline": True,
            }
        ],
    }
    msg.update(extra)
    return msg


def sender(ms: MicrosoftSandbox) -> str:
    return ms.senders[0]["email"]


def test_send_mail_202_empty_and_stored_as_json_and_html(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    r = graph("POST", "/me/sendMail", json={"message": message(), "saveToSentItems": "false"})
    assert r.status_code == 202 and r.content == b""
    stored = ms_sandbox.graph.sent_messages(sender(ms_sandbox))
    assert len(stored) == 1
    rec = stored[0]
    assert rec["message"]["subject"] == "Hello Zoë" and rec["saveToSentItems"] is False
    assert rec["id"] and rec["received"].endswith("Z")
    box = ms_sandbox.graph.data_dir / "mailboxes" / sender(ms_sandbox) / "sent"
    assert json.loads((box / "1.json").read_text(encoding="utf-8"))["id"] == rec["id"]
    page = (box / "1.html").read_text(encoding="utf-8")
    assert f"data:image/png;base64,{PNG}" in page and "cid:logo" not in page
    assert "Hello Zoë" in page and "zoe.dubois@contoso.example" in page


@pytest.mark.parametrize(
    ("message_key", "save_key"),
    [
        ("Message", "SaveToSentItems"),
        ("MESSAGE", "savetosentitems"),
        ("message", "SaveToSentItems"),
    ],
)
def test_send_mail_parameters_in_either_spelling(
    ms_sandbox: MicrosoftSandbox, graph: Graph, message_key: str, save_key: str
) -> None:
    """Graph's metadata spells sendMail's parameters ``Message`` and ``SaveToSentItems``
    (what Microsoft's SDKs, generated from it, send); the reference's examples spell them
    ``message`` and ``saveToSentItems``; Graph takes both (docs/protocols.md, "Graph:
    sending mail")."""
    r = graph("POST", "/me/sendMail", json={message_key: message(), save_key: False})
    assert r.status_code == 202, r.text
    (rec,) = ms_sandbox.graph.sent_messages(sender(ms_sandbox))
    assert rec["message"]["subject"] == "Hello Zoë" and rec["saveToSentItems"] is False


def test_send_mail_refuses_a_parameter_twice_or_unknown(graph: Graph) -> None:
    twice = graph("POST", "/me/sendMail", json={"message": message(), "Message": message()})
    assert_graph_error(twice, 400, "RequestBodyRead")
    unknown = graph("POST", "/me/sendMail", json={"message": message(), "saveToSent": True})
    assert_graph_error(unknown, 400, "RequestBodyRead")
    assert "'saveToSent'" in unknown.json()["error"]["message"]


def test_every_accepted_message_is_kept_in_order_and_survives_restart(
    ms_sandbox_factory: Factory,
) -> None:
    ms = ms_sandbox_factory()
    g = Graph(ms, sign_in(ms, SCOPES)["access_token"])
    for i in range(3):
        body = {"message": message(subject=f"n{i}"), "saveToSentItems": i % 2 == 0}
        assert g("POST", "/me/sendMail", json=body).status_code == 202
    data_dir = ms.graph.data_dir
    ms.stop()
    again = ms_sandbox_factory(data_dir)
    assert [m["message"]["subject"] for m in again.graph.sent_messages(sender(again))] == [
        "n0",
        "n1",
        "n2",
    ]
    g2 = Graph(again, sign_in(again, SCOPES)["access_token"])
    assert g2("POST", "/me/sendMail", json={"message": message(subject="n3")}).status_code == 202
    assert (data_dir / "mailboxes" / sender(again) / "sent" / "4.json").exists()


def test_text_body_and_plain_attachment_render(ms_sandbox: MicrosoftSandbox, graph: Graph) -> None:
    att = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "notes.txt",
        "contentBytes": base64.b64encode(b"hi").decode(),
    }
    msg = message(body={"contentType": "text", "content": "<b>not html</b>"}, attachments=[att])
    assert graph("POST", "/me/sendMail", json={"message": msg}).status_code == 202
    page = next(
        (ms_sandbox.graph.data_dir / "mailboxes" / sender(ms_sandbox) / "sent").glob("*.html")
    ).read_text(encoding="utf-8")
    assert "&lt;b&gt;not html&lt;/b&gt;" in page and 'download="notes.txt"' in page


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "ErrorInvalidParameter"),
        ({"message": message(toRecipients=[])}, 400, "ErrorInvalidRecipients"),
        ({"message": message(toRecipients=[{"emailAddress": {}}])}, 400, "ErrorInvalidRecipients"),
        (
            {"message": message(toRecipients=[{"emailAddress": {"address": "not an address"}}])},
            400,
            "ErrorInvalidRecipients",
        ),
        ({"message": message(toRecipients="zoe@contoso.example")}, 400, "RequestBodyRead"),
        (
            {"message": message(body={"contentType": "Markdown", "content": "x"})},
            400,
            "RequestBodyRead",
        ),
        ({"message": message(shoeSize=42)}, 400, "RequestBodyRead"),
        ({"message": message(subject=["x"])}, 400, "RequestBodyRead"),
        ({"message": message(), "saveToSentItems": "maybe"}, 400, "RequestBodyRead"),
        ({"message": message(), "extra": 1}, 400, "RequestBodyRead"),
        ({"message": "text"}, 400, "RequestBodyRead"),
        ([1, 2], 400, "BadRequest"),
    ],
)
def test_send_mail_validation(
    ms_sandbox: MicrosoftSandbox, graph: Graph, body: Any, status: int, code: str
) -> None:
    assert_graph_error(graph("POST", "/me/sendMail", json=body), status, code)
    assert ms_sandbox.graph.sent_messages(sender(ms_sandbox)) == []


@pytest.mark.parametrize(
    ("attachment", "code"),
    [
        ({"name": "a", "contentBytes": PNG}, "RequestBodyRead"),
        (
            {"@odata.type": "#microsoft.graph.itemAttachment", "name": "a"},
            "ErrorInvalidAttachmentType",
        ),
        (
            {"@odata.type": "#microsoft.graph.fileAttachment", "contentBytes": PNG},
            "ErrorRequiredPropertyMissing",
        ),
        (
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a"},
            "ErrorRequiredPropertyMissing",
        ),
        (
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": "a",
                "contentBytes": "***not base64***",
            },
            "ErrorMimeContentInvalidBase64String",
        ),
        (
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a", "contentBytes": "abc"},
            "ErrorMimeContentInvalidBase64String",
        ),
        (
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": "a",
                "contentBytes": PNG,
                "isInline": "perhaps",
            },
            "RequestBodyRead",
        ),
        (
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": "a",
                "contentBytes": PNG,
                "colour": 1,
            },
            "RequestBodyRead",
        ),
    ],
)
def test_attachment_validation(graph: Graph, attachment: dict[str, Any], code: str) -> None:
    r = graph("POST", "/me/sendMail", json={"message": message(attachments=[attachment])})
    assert_graph_error(r, 400, code)


def test_malformed_json_empty_body_and_odd_characters(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    hdr = {"Content-Type": "application/json"}
    for raw in (b"{", b'{"message": ', b"\xff\xfe\x00garbage", b"[" * 100_000, b"null"):
        r = graph("POST", "/me/sendMail", data=raw, headers=hdr)
        assert r.status_code == 400, raw[:20]
        assert r.json()["error"]["code"] in ("BadRequest", "ErrorInvalidParameter")
    assert_graph_error(
        graph("POST", "/me/sendMail", data=b"", headers=hdr),
        400,
        "BadRequest",
        "Empty Payload. JSON content expected.",
    )
    # a lone surrogate and control characters are accepted and stored without damage
    odd = message(subject="\ud800 \x00 \u202e odd ")
    raw = json.dumps({"message": odd}).encode()
    assert graph("POST", "/me/sendMail", data=raw, headers=hdr).status_code == 202
    assert len(ms_sandbox.graph.sent_messages(sender(ms_sandbox))) == 1


def test_over_4mb_is_413_and_nothing_is_stored(ms_sandbox: MicrosoftSandbox, graph: Graph) -> None:
    big = base64.b64encode(b"\x00" * (3 * 1024 * 1024 + 200_000)).decode()
    att = {"@odata.type": "#microsoft.graph.fileAttachment", "name": "big.bin", "contentBytes": big}
    r = graph("POST", "/me/sendMail", json={"message": message(attachments=[att])})
    assert_graph_error(r, 413, "RequestEntityTooLarge")
    assert ms_sandbox.graph.sent_messages(sender(ms_sandbox)) == []
    # the connection stays usable after a refused upload
    assert graph("GET", "/me").status_code == 200


def test_mime_send_mail(ms_sandbox: MicrosoftSandbox, graph: Graph) -> None:
    mime = (
        b"To: zoe.dubois@contoso.example\r\nSubject: MIME hi\r\n"
        b"Content-Type: text/html\r\n\r\n<p>hi</p>\r\n"
    )
    r = graph(
        "POST", "/me/sendMail", data=base64.b64encode(mime), headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 202
    assert ms_sandbox.graph.sent_messages(sender(ms_sandbox))[0]["message"]["subject"] == "MIME hi"
    bad = graph(
        "POST", "/me/sendMail", data=b"%%%not-base64%%%", headers={"Content-Type": "text/plain"}
    )
    assert_graph_error(bad, 400, "ErrorMimeContentInvalidBase64String")


def test_user_without_mailbox(ms_sandbox: MicrosoftSandbox) -> None:
    nobox = ms_sandbox.no_mailbox_user["email"]
    g = Graph(ms_sandbox, sign_in(ms_sandbox, SCOPES, login_hint=nobox)["access_token"])
    assert g("GET", "/me").json()["userPrincipalName"] == nobox
    r = g("POST", "/me/sendMail", json={"message": message()})
    assert_graph_error(r, 404, "MailboxNotEnabledForRESTAPI")
    assert_graph_error(
        g("POST", "/me/messages", json=message()), 404, "MailboxNotEnabledForRESTAPI"
    )


# ---------------------------------------------------------------- drafts


def test_draft_flow_with_immutable_id(ms_sandbox: MicrosoftSandbox, graph: Graph) -> None:
    r = graph("POST", "/me/messages", json=message(), headers={"Prefer": 'IdType="ImmutableId"'})
    assert r.status_code == 201, r.text
    assert r.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    draft = r.json()
    mid = draft["id"]
    assert draft["isDraft"] is True and draft["subject"] == "Hello Zoë"
    drafts_folder = graph("GET", "/me/mailFolders/drafts").json()["id"]
    sent_folder = graph("GET", "/me/mailFolders/sentitems").json()["id"]
    assert draft["parentFolderId"] == drafts_folder
    assert ms_sandbox.graph.sent_messages(sender(ms_sandbox)) == []

    prefer = {"Prefer": 'IdType="ImmutableId"'}
    assert (
        graph("POST", f"/me/messages/{mid}/send", headers={"Content-Length": "0"}).status_code
        == 202
    )
    after = graph("GET", f"/me/messages/{mid}", headers=prefer).json()
    assert (
        after["id"] == mid and after["isDraft"] is False and after["parentFolderId"] == sent_folder
    )
    stored = ms_sandbox.graph.sent_messages(sender(ms_sandbox))
    assert len(stored) == 1 and stored[0]["source"] == "draft" and stored[0]["immutableId"] == mid
    # re-sending an already-sent message is refused (our documented choice), not duplicated
    assert_graph_error(graph("POST", f"/me/messages/{mid}/send"), 400, "ErrorInvalidOperation")
    assert len(ms_sandbox.graph.sent_messages(sender(ms_sandbox))) == 1
    sel = graph(
        "GET", f"/me/messages/{mid}", params={"$select": "isDraft,parentFolderId"}, headers=prefer
    ).json()
    assert sel["isDraft"] is False and "subject" not in sel


def test_draft_rest_id_is_gone_after_send(graph: Graph) -> None:
    mid = graph("POST", "/me/messages", json=message()).json()["id"]
    assert "Preference-Applied" not in graph("GET", f"/me/messages/{mid}").headers
    assert graph("GET", f"/me/messages/{mid}").json()["isDraft"] is True
    assert graph("POST", f"/me/messages/{mid}/send").status_code == 202
    assert_graph_error(graph("GET", f"/me/messages/{mid}"), 404, "ErrorItemNotFound")
    assert_graph_error(graph("POST", f"/me/messages/{mid}/send"), 404, "ErrorItemNotFound")


def test_drafts_need_mail_readwrite_and_recipients_to_send(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    send_only = Graph(ms_sandbox, sign_in(ms_sandbox, ["Mail.Send"])["access_token"])
    assert_graph_error(send_only("POST", "/me/messages", json=message()), 403, "ErrorAccessDenied")
    assert_graph_error(send_only("GET", "/me/messages/x"), 403, "ErrorAccessDenied")
    empty = graph("POST", "/me/messages", json={"subject": "no one"}).json()["id"]
    assert_graph_error(graph("POST", f"/me/messages/{empty}/send"), 400, "ErrorInvalidRecipients")
    assert_graph_error(
        graph("GET", "/me/messages/AAMk%20%00%E2%9C%93..%5C.."), 404, "ErrorItemNotFound"
    )
    assert_graph_error(graph("GET", "/me/mailFolders/inbox-of-someone"), 404, "ErrorItemNotFound")
    assert_graph_error(graph("POST", "/me/messages", json={"shoeSize": 1}), 400, "RequestBodyRead")


def test_drafts_survive_a_restart(ms_sandbox_factory: Factory) -> None:
    ms = ms_sandbox_factory()
    g = Graph(ms, sign_in(ms, SCOPES)["access_token"])
    mid = g(
        "POST", "/me/messages", json=message(), headers={"Prefer": 'IdType="ImmutableId"'}
    ).json()["id"]
    data_dir = ms.graph.data_dir
    ms.stop()
    again = ms_sandbox_factory(data_dir)
    g2 = Graph(again, sign_in(again, SCOPES)["access_token"])
    assert g2("GET", f"/me/messages/{mid}").json()["isDraft"] is True
    assert g2("POST", f"/me/messages/{mid}/send").status_code == 202


def test_damaged_mailbox_file_does_not_stop_the_server(ms_sandbox_factory: Factory) -> None:
    ms = ms_sandbox_factory()
    g = Graph(ms, sign_in(ms, SCOPES)["access_token"])
    assert g("POST", "/me/sendMail", json={"message": message()}).status_code == 202
    data_dir = ms.graph.data_dir
    ms.stop()
    box = data_dir / "mailboxes" / sender(ms) / "sent"
    (box / "1.json").write_text("{broken")
    again = ms_sandbox_factory(data_dir)
    assert again.graph.sent_messages(sender(again)) == []
    g2 = Graph(again, sign_in(again, SCOPES)["access_token"])
    assert g2("POST", "/me/sendMail", json={"message": message()}).status_code == 202
    assert (box / "1.json").read_text(encoding="utf-8") == "{broken"  # never overwritten
    assert (box / "2.json").exists()
