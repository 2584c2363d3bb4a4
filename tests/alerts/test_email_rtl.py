"""Right to left where a person reads (issue 18.6): the HTML email marks each block of feed text
`dir="auto"` and isolates inline feed text, so an Urdu title reads right to left; checked on a
screenshot in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright). Chat and
console payloads keep Urdu text intact.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from alerts.console import format_alert_line
from alerts.email import EmailChannel
from alerts.payload import build_payload
from tests.alerts.conftest import build_alert

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TITLE = "امریکہ کے ساتھ معدنیات کا معاہدہ"
SUMMARY = "یونائیٹڈ اسٹیٹس اسٹریٹجک میٹلز اور ایف ڈبلیو او نے اینٹیمونی اور تانبے کی برآمد پر دستخط کیے۔"


def urdu_alert():
    return build_alert(title=TITLE, summary=SUMMARY, words=("معدنیات", "اینٹیمونی"), feed_name="روزنامہ جنگ")


def email_html() -> str:
    channel = EmailChannel("m", host="127.0.0.1", port=25, sender="a@example.org", recipients=["b@example.org"])
    return channel.build_message(urdu_alert()).get_body(("html",)).get_content()


def png_ink_columns(png: bytes) -> list[int]:
    """The x of every column with a dark pixel, from an 8-bit RGB(A) PNG (a screenshot)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], None
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position:position + 8])
        data = png[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            chunks.append(data)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and not interlace
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * channels
    rows, previous, offset = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[offset], bytearray(raw[offset + 1:offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):  # undo the PNG row filters
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                best = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner))[2]
                line[i] = (line[i] + best) & 255
        rows.append(line)
        previous = line
    return sorted({x for line in rows for x in range(width)
                   if sum(line[x * channels:x * channels + 3]) < 3 * 128})


# Draws each character in the body's fonts and compares it with the "missing glyph" box.
_MISSING_GLYPHS = """(text) => {
  const font = "32px " + getComputedStyle(document.body).fontFamily;
  const draw = (char) => {
    const canvas = document.createElement("canvas"); canvas.width = 64; canvas.height = 64;
    const context = canvas.getContext("2d"); context.font = font; context.fillText(char, 8, 44);
    return Array.from(context.getImageData(0, 0, 64, 64).data).join(",");
  };
  const box = draw("\\uE000");
  return [...new Set(text.replace(/\\s/g, ""))].filter((char) => draw(char) === box);
}"""


def title_ink(html: str) -> tuple[list[int], int, str, list[str]]:
    """(ink columns of the title, its width, its direction, characters drawn as the missing-glyph box)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 900})
            page.set_content(html)
            missing = page.evaluate(_MISSING_GLYPHS, TITLE + SUMMARY)
            heading = page.locator("h1")
            direction = heading.evaluate("element => getComputedStyle(element).direction")
            box = heading.bounding_box()
            # The link inside the heading is black for the screenshot: only the text's ink counts.
            page.add_style_tag(content="h1 a, h1 mark { color: #000 !important; background: none !important; }")
            return png_ink_columns(heading.screenshot()), int(box["width"]), direction, missing
        finally:
            browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make test installs it)")
def test_an_urdu_email_reads_right_to_left_in_chromium():
    html = email_html()
    assert html.count('dir="auto"') >= 5 and "<bdi>" in html
    ink, width, direction, missing = title_ink(html)
    assert direction == "rtl"
    assert ink, "the title rendered no glyphs"
    # Every Urdu letter has a glyph (ے, ہ are missing from DejaVu: Debian's fonts-noto-core has them).
    assert not missing, f"drawn as boxes (no font with these glyphs; apt-get install fonts-noto-core): {missing}"
    # Right to left: the short title hugs the right edge of its 680 px column, not the left
    # (the 2nd percentile of the ink: a stray stroke of the line above may show at the top).
    start = ink[len(ink) // 50]
    assert start > width / 3 and ink[-1] > width - 40, (start, ink[-1], width)
    # The same email without dir="auto" starts the title at the left: the check can fail.
    plain_ink, _, plain_direction, _ = title_ink(html.replace('dir="auto"', ""))
    assert plain_direction == "ltr" and plain_ink[len(plain_ink) // 50] < 40


def test_chat_and_console_payloads_keep_urdu_text_intact():
    alert = urdu_alert()
    assert TITLE in format_alert_line(alert)
    for format in ("json", "slack", "discord", "teams"):
        rendered = json.dumps(build_payload(alert, format), ensure_ascii=False)
        assert TITLE in rendered, format
        assert "روزنامہ جنگ" in rendered, format
