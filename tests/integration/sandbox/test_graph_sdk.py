"""Microsoft's own Graph SDK (``msgraph-sdk``) against the Graph sandbox: a second judge of
the sandbox's fidelity, written by the people who run Graph (beside Kaltura's official
client for the Kaltura sandbox).

The SDK code is what its documentation shows, unchanged but for three things a test must
set: the base URL (the sandbox's), an HTTP client that trusts the sandbox's CA, and a
token from the sandbox's identity server, got with MSAL (device code flow). The SDK's own
middleware stays on (retry on 429 with Retry-After, among others).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import msal  # type: ignore[import-untyped]
import pytest
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import (
    SendMailPostRequestBody,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import options as sdk_options
from msgraph_core import GraphClientFactory

from app.sandbox.httpd import FaultConfig
from app.sandbox.microsoft import MicrosoftSandbox

T = TypeVar("T")
SCOPES = ["User.Read", "Mail.Send", "People.Read", "User.ReadBasic.All"]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class _Token(AccessTokenProvider):  # type: ignore[misc]
    """Hands the SDK a token got elsewhere (with MSAL), only for the sandbox's host."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator(["127.0.0.1"])


def msal_token(ms: MicrosoftSandbox, scopes: list[str] = SCOPES) -> str:
    """A delegated token from the sandbox's identity server, by MSAL's device code flow
    (the sandbox approves it as its first sender)."""
    app = msal.PublicClientApplication(
        ms.client_id,
        authority=ms.authority,
        instance_discovery=False,
        http_client=ms.session(),
        token_cache=msal.TokenCache(),
    )
    flow = app.initiate_device_flow(scopes=scopes)
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    return str(result["access_token"])


def sdk(ms: MicrosoftSandbox, token: str) -> GraphServiceClient:
    """The SDK's client as its documentation builds it, pointed at the sandbox."""
    tls = ssl.create_default_context(cafile=str(ms.ca_file))
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=tls, timeout=30), options=sdk_options
    )
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(_Token(token)), http)
    adapter.base_url = f"{ms.graph.base_url}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


@pytest.fixture
def graph_sdk(ms_sandbox: MicrosoftSandbox) -> GraphServiceClient:
    return sdk(ms_sandbox, msal_token(ms_sandbox))


def test_me(ms_sandbox: MicrosoftSandbox, graph_sdk: GraphServiceClient) -> None:
    me = run(graph_sdk.me.get())
    assert me is not None and me.mail == ms_sandbox.senders[0]["email"]
    assert me.display_name and me.id


def test_users_startswith_or_filter_with_select(
    ms_sandbox: MicrosoftSandbox, graph_sdk: GraphServiceClient
) -> None:
    """What the recipient search sends: startswith on name and mail, a few properties."""
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter="startswith(displayName,'zo') or startswith(mail,'zo')",
        select=["displayName", "mail", "jobTitle"],
        top=10,
    )
    page = run(graph_sdk.users.get(RequestConfiguration(query_parameters=query)))
    assert page is not None and page.value
    for user in page.value:
        name, mail = (user.display_name or "").lower(), (user.mail or "").lower()
        assert name.startswith("zo") or mail.startswith("zo"), (name, mail)
        # Only what was selected (a directory object's id always comes along).
        assert user.given_name is None and user.user_principal_name is None
        assert user.id
    assert len(page.value) <= 10


def test_people_search(ms_sandbox: MicrosoftSandbox, graph_sdk: GraphServiceClient) -> None:
    from msgraph.generated.users.item.people.people_request_builder import (
        PeopleRequestBuilder,
    )

    query = PeopleRequestBuilder.PeopleRequestBuilderGetQueryParameters(search='"zo"', top=5)
    page = run(graph_sdk.me.people.get(RequestConfiguration(query_parameters=query)))
    assert page is not None and page.value is not None
    for person in page.value:
        text = " ".join(
            [person.display_name or ""]
            + [s.address or "" for s in person.scored_email_addresses or []]
        ).lower()
        assert "zo" in text


def test_advanced_queries_need_consistency_level(graph_sdk: GraphServiceClient) -> None:
    """$count on a directory collection is an advanced query: with ConsistencyLevel:
    eventual it is answered, without it Graph refuses (docs: "Advanced query capabilities
    on Microsoft Entra ID objects")."""
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        count=True, filter="endswith(mail,'@contoso.example')", top=5
    )
    with_header = RequestConfiguration(query_parameters=query)
    with_header.headers.add("ConsistencyLevel", "eventual")
    page = run(graph_sdk.users.get(with_header))
    assert (
        page is not None
        and page.odata_count is not None
        and page.odata_count >= len(page.value or [])
    )
    with pytest.raises(ODataError) as refused:
        run(graph_sdk.users.get(RequestConfiguration(query_parameters=query)))
    assert refused.value.response_status_code == 400


def test_send_mail_with_an_inline_attachment_lands_intact(
    ms_sandbox: MicrosoftSandbox, graph_sdk: GraphServiceClient
) -> None:
    """The SDK's sendMail, as its documentation writes it: its body says ``Message`` and
    ``SaveToSentItems`` (the sandbox used to refuse those with 400)."""
    body = SendMailPostRequestBody(
        message=Message(
            subject="Hello Zoë",
            body=ItemBody(content_type=BodyType.Html, content='<p>Hi</p><img src="cid:logo">'),
            to_recipients=[
                Recipient(email_address=EmailAddress(address="zoe.dubois@contoso.example"))
            ],
            attachments=[
                FileAttachment(
                    odata_type="#microsoft.graph.fileAttachment",
                    name="logo.png",
                    content_type="image/png",
                    content_bytes=PNG,
                    content_id="logo",
                    is_inline=True,
                )
            ],
        ),
        save_to_sent_items=False,
    )
    run(graph_sdk.me.send_mail.post(body))
    (rec,) = ms_sandbox.graph.sent_messages(ms_sandbox.senders[0]["email"])
    msg = rec["message"]
    assert msg["subject"] == "Hello Zoë" and rec["saveToSentItems"] is False
    assert msg["toRecipients"][0]["emailAddress"]["address"] == "zoe.dubois@contoso.example"
    (attachment,) = msg["attachments"]
    assert base64.b64decode(attachment["contentBytes"]) == PNG
    assert attachment["isInline"] is True and attachment["contentId"] == "logo"


def test_429_with_retry_after_is_retried_by_the_sdk(
    ms_sandbox: MicrosoftSandbox, graph_sdk: GraphServiceClient
) -> None:
    faults = ms_sandbox.graph_server.faults
    faults.configure(FaultConfig(throttle_next=1, retry_after_seconds=1.0, match=r"^/v1\.0/me$"))
    faults.clear_log()
    me = run(graph_sdk.me.get())
    assert me is not None and me.mail
    log = faults.request_log(r"^/v1\.0/me$")
    assert [r.status for r in log] == [429, 200]
    assert log[1].time - log[0].time >= 0.9  # it waited as Retry-After said


def test_invalid_and_expired_tokens_are_refused_as_graph_refuses_them(
    ms_sandbox: MicrosoftSandbox,
) -> None:
    with pytest.raises(ODataError) as bad:
        run(sdk(ms_sandbox, "not-a-token").me.get())
    assert bad.value.response_status_code == 401
    assert bad.value.error is not None and bad.value.error.code == "InvalidAuthenticationToken"
    token = msal_token(ms_sandbox)
    ms_sandbox.identity.expire_all_tokens()
    with pytest.raises(ODataError) as expired:
        run(sdk(ms_sandbox, token).me.get())
    assert expired.value.response_status_code == 401
    assert expired.value.error is not None
    assert expired.value.error.code == "InvalidAuthenticationToken"


def test_batch_as_the_sdk_builds_it(
    ms_sandbox: MicrosoftSandbox, graph_sdk: GraphServiceClient
) -> None:
    """JSON batching with the SDK's own builder, as its documentation writes it: two
    sendMail requests in one ``$batch``, each answered 202. Graph wants item URLs relative
    to the version ("Combine multiple HTTP requests using JSON batching"); an absolute one,
    which SDK versions produced (msgraph-sdk-python issue #1015), gets 400 for that item,
    from Graph and from the sandbox alike."""
    from msgraph_core.requests.batch_request_content import BatchRequestContent
    from msgraph_core.requests.batch_request_item import BatchRequestItem

    def batch(*, absolute: bool) -> Any:
        items = []
        for n in range(2):
            info = graph_sdk.me.send_mail.to_post_request_information(
                SendMailPostRequestBody(
                    message=Message(
                        subject=f"Batched {n}",
                        body=ItemBody(content_type=BodyType.Text, content="Hi"),
                        to_recipients=[
                            Recipient(email_address=EmailAddress(address=f"b{n}@contoso.example"))
                        ],
                    )
                )
            )
            item = BatchRequestItem(request_information=info)
            if absolute:  # what issue #1015 reports the builder sent
                item.url = f"{ms_sandbox.graph.base_url}/v1.0/me/sendMail"
            items.append(item)
        content = BatchRequestContent({i.id: i for i in items})
        return run(graph_sdk.batch.post(batch_request_content=content))

    sent = batch(absolute=False)
    assert sorted(r.status for r in sent.responses.values()) == [202, 202]
    mailbox = ms_sandbox.graph.sent_messages(ms_sandbox.senders[0]["email"])
    assert {r["message"]["subject"] for r in mailbox} == {"Batched 0", "Batched 1"}
    refused = batch(absolute=True)
    assert sorted(r.status for r in refused.responses.values()) == [400, 400]
    assert len(ms_sandbox.graph.sent_messages(ms_sandbox.senders[0]["email"])) == 2
