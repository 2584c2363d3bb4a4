"""canonical_url: the cross-feed identity of an article link (DESIGN.md decision 3)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.parse.canonical import canonical_url, is_tracking_param

CASES = [
    # Pakistani outlets as their feeds and share buttons spell the links
    ("https://www.dawn.com/news/1940011/pakistan-us-sign-500m-critical-minerals-mou?utm_source=rss&utm_medium=feed",
     "https://www.dawn.com/news/1940011/pakistan-us-sign-500m-critical-minerals-mou"),
    ("https://www.thenews.com.pk/latest/1341210-ussm-fwo-ink-deal?utm_source=twitter&utm_campaign=share#comments",
     "https://www.thenews.com.pk/latest/1341210-ussm-fwo-ink-deal"),
    ("https://www.brecorder.com/news/40381234/reko-diq-financing?fbclid=IwAR3xYz_abc-123",
     "https://www.brecorder.com/news/40381234/reko-diq-financing"),
    ("https://tribune.com.pk/story/2563011/antimony-exports?UTM_SOURCE=Newsletter&page=2",
     "https://tribune.com.pk/story/2563011/antimony-exports?page=2"),
    # mining.com with WordPress preview params and Mailchimp/HubSpot tracking
    ("https://www.mining.com/pakistan-rare-earths/?mc_cid=4f1e2d&mc_eid=a1b2c3",
     "https://www.mining.com/pakistan-rare-earths/"),
    ("https://www.mining.com/?p=1234567&_hsenc=p2ANqtz-abc&_hsmi=987",
     "https://www.mining.com/?p=1234567"),
    # Google News links: only tracking parameters go; the rest is sorted
    ("https://news.google.com/rss/articles/CBMiXWh0dHBzOi8vd3d3LmRhd24uY29tL25ld3Mv0gEA?oc=5",
     "https://news.google.com/rss/articles/CBMiXWh0dHBzOi8vd3d3LmRhd24uY29tL25ld3Mv0gEA?oc=5"),
    ("https://news.google.com/rss/search?q=critical+minerals+Pakistan&hl=en-PK&gl=PK&ceid=PK:en",
     "https://news.google.com/rss/search?ceid=PK:en&gl=PK&hl=en-PK&q=critical+minerals+Pakistan"),
    ("https://www.google.com/url?rct=j&sa=t&url=https://www.dawn.com/news/1&ct=ga&cd=CAIyHg&usg=AOvVaw1",
     "https://www.google.com/url?cd=CAIyHg&ct=ga&rct=j&sa=t&url=https://www.dawn.com/news/1&usg=AOvVaw1"),
    # AMP: not unwrapped, only the fragment goes
    ("https://www.dawn.com/news/amp/1940011", "https://www.dawn.com/news/amp/1940011"),
    ("https://www-dawn-com.cdn.ampproject.org/c/s/www.dawn.com/news/amp/1940011#amp_tf=From%20%251%24s&aoh=1712",
     "https://www-dawn-com.cdn.ampproject.org/c/s/www.dawn.com/news/amp/1940011"),
    # feedburner redirect links keep their ~r path; an escaped "~" is decoded
    ("http://feedproxy.google.com/~r/dawn-news/~3/AbC_dEf12/story01.htm",
     "http://feedproxy.google.com/~r/dawn-news/~3/AbC_dEf12/story01.htm"),
    ("http://feeds.feedburner.com/%7Er/MiningWire/%7E3/xYz/?utm_source=feedburner&utm_medium=feed",
     "http://feeds.feedburner.com/~r/MiningWire/~3/xYz/"),
    # scheme, host, ports
    ("HTTPS://WWW.Dawn.COM/News/1940011", "https://www.dawn.com/News/1940011"),
    ("https://www.dawn.com:443/news/1", "https://www.dawn.com/news/1"),
    ("http://www.dawn.com:80/news/1", "http://www.dawn.com/news/1"),
    ("http://www.dawn.com:443/news/1", "http://www.dawn.com:443/news/1"),
    ("https://feeds.example.com:8443/rss?b=2&a=1", "https://feeds.example.com:8443/rss?a=1&b=2"),
    ("https://www.dawn.com:/news/1", "https://www.dawn.com/news/1"),
    ("https://www.dawn.com", "https://www.dawn.com/"),
    ("http://[2001:DB8::1]:80/feed", "http://[2001:db8::1]/feed"),
    ("https://Editor:Secret@Example.com/x", "https://Editor:Secret@example.com/x"),
    # IDN host: lower-cased, left in Unicode
    ("https://BÜCHER.example/Kupfer", "https://bücher.example/Kupfer"),
    # repeated keys keep their order, empty values and pairs
    ("https://example.com/search?tag=copper&tag=antimony&q=", "https://example.com/search?q=&tag=copper&tag=antimony"),
    ("https://example.com/a?x=1&&y=&utm_term=", "https://example.com/a?x=1&y="),
    ("https://example.com/a?", "https://example.com/a"),
    ("https://example.com/a?#", "https://example.com/a"),
    ("https://example.com/a?utm_source=x&gclid=1&msclkid=2&ref=rss&igshid=3", "https://example.com/a"),
    ("https://example.com/a?ocid=msn&cmpid=nl&spm=a2c&yclid=7&dclid=8&mkt_tok=9", "https://example.com/a"),
    ("https://example.com/a?ref_src=twsrc%5Etfw&id=5", "https://example.com/a?id=5"),
    # percent-encoding: upper-case hex, reserved characters stay escaped
    ("https://example.com/caf%c3%a9?q=a%2fb", "https://example.com/caf%C3%A9?q=a%2Fb"),
    ("https://example.com/%41%2D%5F%2E%7e", "https://example.com/%41-_.~"),
    ("https://example.com/news/Reko%20Diq", "https://example.com/news/Reko%20Diq"),
    # whitespace from feeds
    ("  https://www.dawn.com/news/1940011 \n", "https://www.dawn.com/news/1940011"),
    # not absolute http(s): stripped, otherwise unchanged
    ("/news/1940011?utm_source=rss", "/news/1940011?utm_source=rss"),
    ("//www.dawn.com/news/1?utm_source=rss", "//www.dawn.com/news/1?utm_source=rss"),
    ("mailto:desk@dawn.com?subject=Hi", "mailto:desk@dawn.com?subject=Hi"),
    ("ftp://FTP.Example.com/file", "ftp://FTP.Example.com/file"),
    ("tag:dawn.com,2026:1940011", "tag:dawn.com,2026:1940011"),
    (" urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a ", "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"),
    # garbage: stripped input out
    ("http://[::1/feed", "http://[::1/feed"),
    ("https://example.com:port/x", "https://example.com:port/x"),
    ("https://", "https://"),
    ("", ""),
    ("not a url", "not a url"),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_canonical_url_is_idempotent_on_the_table(url, expected):
    assert canonical_url(expected) == expected


def test_reprints_with_tracking_share_one_canonical_url():
    plain = "https://www.thenews.com.pk/print/1341210-ussm-fwo-ink-500m-deal"
    variants = [
        plain + "?utm_source=dlvr.it&utm_medium=twitter",
        plain + "#article-body",
        "HTTPS://WWW.THENEWS.COM.PK:443/print/1341210-ussm-fwo-ink-500m-deal?fbclid=abc",
    ]
    assert {canonical_url(v) for v in variants} == {plain}


@pytest.mark.parametrize(
    ("name", "tracking"),
    [
        ("utm_source", True), ("UTM_Campaign", True), ("utm_anything_new", True), ("fbclid", True),
        ("gclid", True), ("mc_eid", True), ("_hsenc", True), ("ref", True), ("ref_src", True),
        ("pk_campaign", True), (" ocid ", True),
        ("p", False), ("id", False), ("q", False), ("page", False), ("oc", False), ("utm", False),
        ("reference", False), ("", False),
    ],
)
def test_is_tracking_param(name, tracking):
    assert is_tracking_param(name) is tracking


_host = st.from_regex(r"[A-Za-z0-9\-.\u00e9\u00fc\u0130]{0,12}(:[0-9]{0,5})?", fullmatch=True)
_segment = st.text(alphabet="abcXYZ019-._~%/:@!$&'()*+,;= \u00e9", max_size=12)
_pair_name = st.sampled_from(["utm_source", "UTM_Medium", "fbclid", "q", "id", "tag", "ref", "", "a%5Fb", "utm%5Fx"])
_pair = st.tuples(_pair_name, st.sampled_from(["", "=", "=1", "=a%2fb", "=%7e", " ", "=x y"])).map("".join)
_structured = st.builds(
    lambda scheme, host, path, pairs, frag, pad: f"{pad}{scheme}://{host}/{path}"
    + (("?" + "&".join(pairs)) if pairs is not None else "")
    + (f"#{frag}" if frag is not None else "")
    + pad,
    st.sampled_from(["http", "https", "HTTP", "hTTps", "ftp", ""]),
    _host,
    _segment,
    st.none() | st.lists(_pair, max_size=5),
    st.none() | st.text(max_size=5),
    st.sampled_from(["", " ", "\n", "\t", "\u00a0"]),
)


@settings(max_examples=600)
@given(st.one_of(_structured, st.text(max_size=60)))
@example("http://a.com/a\u3000?\u3000")
@example("http://a.com/%%34%31")
@example("http://a.com/%4%41")
@example("https://[::1]x/")
@example("http://\u2100.com/")
@example("http://:::")
def test_canonical_url_never_raises_and_is_idempotent(url):
    once = canonical_url(url)
    assert isinstance(once, str)
    assert canonical_url(once) == once
    assert once == once.strip()


@settings(max_examples=300)
@given(
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9]{1,8}\.(com|pk)(:[0-9]{1,5})?", fullmatch=True),
    st.lists(_pair, max_size=6),
)
def test_no_tracking_parameter_survives(scheme, host, pairs):
    once = canonical_url(f"{scheme}://{host}/news?{'&'.join(pairs)}")
    assert once.startswith(f"{scheme}://")
    query = once.partition("?")[2]
    names = [pair.split("=", 1)[0] for pair in query.split("&") if pair]
    assert not any(is_tracking_param(n) for n in names)
    assert names == sorted(names)
