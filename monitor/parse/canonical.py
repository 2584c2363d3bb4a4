"""Canonical article URLs: one spelling per article link, across feeds and polls.

Pure and total: `canonical_url` never raises and is idempotent
(`canonical_url(canonical_url(u)) == canonical_url(u)`). It is the cross-feed key of
DESIGN.md decision 3, so it only applies changes that keep the same page:

- scheme and host lower-cased (an IDN host stays Unicode, lower-cased), default
  port dropped (:80 for http, :443 for https), an empty port ("host:") dropped;
- fragment dropped;
- tracking parameters dropped (utm_* and the click ids listed below), the remaining
  query parameters sorted by name (a stable sort: repeated keys keep their order),
  empty pairs ("a=1&&b=2") and an empty query ("?") dropped;
- an empty path becomes "/" (RFC 3986 6.2.3); the path keeps its case;
- percent-encoding normalised: hex digits upper-cased ("%e2" -> "%E2"), an escaped
  unreserved letter or "-._~" decoded ("%7E" -> "~"). Reserved characters stay
  escaped, and an escaped hex digit stays escaped too, so that decoding can never
  create a new escape (that would break idempotence);
- surrounding whitespace stripped, trailing whitespace of the path and of each
  query pair too.

Anything that is not an absolute http(s) URL with a host (relative links, mailto:,
ftp:, "//host/path", garbage) comes back stripped and otherwise unchanged. AMP,
Google News and feedburner links are not unwrapped: which page they lead to is
decided by a server, not by the URL's spelling.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "canonical_url", "is_tracking_param"]

# Query parameter names (compared lower-cased) that only tell a site where a reader
# came from. A parameter on this list never selects content on a news site.
TRACKING_PARAMS = frozenset(
    {
        # ad-platform click ids
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "twclid",
        "ttclid", "li_fat_id", "igshid", "igsh", "yclid", "ysclid", "rb_clickid",
        "epik", "srsltid",
        # e-mail platforms (Mailchimp, HubSpot, Marketo, Vero, Oracle, Sailthru)
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp",
        "hsctatracking", "mkt_tok", "vero_id", "vero_conv", "oly_anon_id",
        "oly_enc_id", "wickedid", "sc_cid", "s_cid",
        # analytics and referral markers
        "_ga", "_gl", "spm", "scm", "cmpid", "ocid", "ncid", "xtor", "sr_share",
        "ref", "ref_src", "ref_url", "referrer_src",
        "fb_action_ids", "fb_action_types", "fb_ref", "fb_source",
        "action_object_map", "action_type_map", "action_ref_map",
        "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
        "_openstat", "trk", "trkcampaign",
    }
)
# Families of campaign parameters: utm_source, pk_campaign, mtm_kwd, hsa_acc, ...
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "matomo_", "hsa_")

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Unreserved characters (RFC 3986 2.3) that are safe to decode: not hex digits, so
# a decoded character can never complete a new "%XX" escape.
_DECODABLE = frozenset("GHIJKLMNOPQRSTUVWXYZghijklmnopqrstuvwxyz-._~")


def is_tracking_param(name: str) -> bool:
    """True for a query parameter name that only tracks the reader (utm_*, fbclid, ...)."""
    if not isinstance(name, str):
        return False
    key = name.strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The canonical spelling of an article link; see the module docstring."""
    if not isinstance(url, str):
        return url
    stripped = url.strip()
    try:
        return _canonical(stripped)
    except Exception:  # noqa: BLE001 - a URL we cannot read is kept as it came
        return stripped


def _canonical(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        return url
    netloc = _netloc(parts.netloc, scheme)
    if netloc is None:
        return url
    path = _normalise_escapes(parts.path).rstrip()
    if not path.startswith("/"):
        path = "/" + path
    query = _query(parts.query)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def _netloc(netloc: str, scheme: str) -> str | None:
    """Lower-cased host, default port dropped; None when the authority is malformed."""
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        if end < 0:
            return None
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:] if rest else None
    else:
        host, colon, port_text = hostport.rpartition(":")
        if not colon:
            host, port = hostport, None
        else:
            port = port_text
        if ":" in host or "[" in host or "]" in host:
            return None
    if port is not None:
        if port == "":
            port = None
        elif not (port.isascii() and port.isdigit()):
            return None
        else:
            port = str(int(port))
            if port == _DEFAULT_PORTS[scheme]:
                port = None
    host = host.lower()
    if not host or host == "[]":
        return None
    return f"{userinfo}{at}{host}" + (f":{port}" if port is not None else "")


def _query(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        pair = _normalise_escapes(pair).rstrip()
        if not pair:
            continue
        name = pair.split("=", 1)[0]
        if is_tracking_param(unquote_plus(name)):
            continue
        pairs.append((name, pair))
    pairs.sort(key=lambda item: item[0])  # stable: repeated keys keep their order
    return "&".join(pair for _, pair in pairs)


def _normalise_escapes(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _DECODABLE else "%" + match.group(1).upper()

    return _ESCAPE.sub(fix, text)
