"""Landing and thumbnail URLs from profile templates (app.kaltura.links)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from app.kaltura import links
from app.kaltura.errors import KalturaSettingsError


@dataclass(frozen=True)
class Ep:
    service_url: str = "https://www.kaltura.com"
    partner_id: int = 1234
    uiconf_id: int = 5678
    landing_url_template: str = ""


HOSTILE = '<script>alert("x")</script> & Ünïcode/?#'


def test_default_for_an_organization_is_the_kaltura_player_page() -> None:
    url = links.landing_url(Ep(), "1_abc")
    assert url == (
        "https://cdnapisec.kaltura.com/p/1234/embedPlaykitJs/uiconf_id/5678"
        "?iframeembed=true&entry_id=1_abc"
    )


def test_default_for_the_sandbox_is_its_landing_page() -> None:
    ep = Ep(service_url="http://127.0.0.1:8123", partner_id=100)
    url = links.landing_url(ep, "0_x", recipient_token="t1", recipient_name="Ada")
    assert url == "http://127.0.0.1:8123/landing/0_x?r=t1&name=Ada"


def test_custom_template_encodes_every_placeholder() -> None:
    ep = Ep(
        landing_url_template="https://v.example.com/watch/{entry_id}?p={partner_id}"
        "&u={uiconf_id}&t={recipient_token}&n={recipient_name}"
    )
    url = links.landing_url(ep, "1_a/b", recipient_token="a&b=c", recipient_name=HOSTILE)
    parts = urlsplit(url)
    assert parts.netloc == "v.example.com"
    assert parts.path == "/watch/1_a%2Fb"
    q = parse_qs(parts.query)
    assert q == {"p": ["1234"], "u": ["5678"], "t": ["a&b=c"], "n": [HOSTILE]}
    assert "<" not in url and '"' not in url and " " not in url


def test_mediaspace_and_static_builtins() -> None:
    ms = links.landing_url(Ep(landing_url_template="mediaspace:https://videos.example.com/"), "1_z")
    assert ms == "https://videos.example.com/media/t/1_z"
    st = links.landing_url(
        Ep(landing_url_template="static:https://cdn.example.com/vm/index.html"),
        "1_z",
        recipient_name="Bo",
        recipient_token="tok",
    )
    parts = urlsplit(st)
    assert parts.path == "/vm/index.html"
    assert parse_qs(parts.query) == {
        "entry_id": ["1_z"],
        "partner_id": ["1234"],
        "uiconf_id": ["5678"],
        "service_url": ["https://www.kaltura.com"],
        "name": ["Bo"],
        "r": ["tok"],
    }
    ep = Ep(landing_url_template="static:https://x.example/?lang=de")
    with_query = links.landing_url(ep, "e")
    assert parse_qs(urlsplit(with_query).query)["lang"] == ["de"]


def test_unknown_placeholder_names_the_setting() -> None:
    with pytest.raises(KalturaSettingsError) as err:
        links.landing_url(Ep(landing_url_template="https://x.example/{entryid}"), "1_a")
    assert err.value.setting == "landing_url_template"
    assert "{entryid}" in err.value.message


def test_template_that_is_not_a_web_address_is_refused() -> None:
    with pytest.raises(KalturaSettingsError):
        links.landing_url(Ep(landing_url_template="javascript:alert({entry_id})"), "1_a")
    with pytest.raises(ValueError):
        links.landing_url(Ep(), "")


def test_thumbnail_url() -> None:
    assert links.thumbnail_url(Ep(), "1_a", width=480) == (
        "https://cdnapisec.kaltura.com/p/1234/sp/123400/thumbnail/entry_id/1_a/width/480"
    )
    onprem = Ep(service_url="https://kaltura.corp.example/")
    assert links.thumbnail_url(onprem, "1_a", version=3, height=90, vid_sec=1.5) == (
        "https://kaltura.corp.example/p/1234/sp/123400/thumbnail/entry_id/1_a"
        "/version/3/height/90/vid_sec/1.5"
    )
