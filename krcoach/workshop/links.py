"""The workshop's addresses: the two pages' paths, the join link and the private facilitator
link as the caller reached the server (behind a proxy too), and the join link's QR code.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    import gradio as gr

PARTICIPANT_PATH = "workshop"
FACILITATOR_PATH = "facilitate"


def base_url(request: gr.Request | None) -> str:
    """The app's public root as the caller reached it (proxy headers honoured), no trailing '/'."""
    if request is None:
        return ""
    try:
        url = str(request.url)
    except Exception:
        return ""
    parts = urlsplit(url)
    headers = {k.lower(): v for k, v in dict(request.headers).items()}
    scheme = (headers.get("x-forwarded-proto") or parts.scheme or "http").split(",")[0].strip()
    netloc = (headers.get("x-forwarded-host") or headers.get("host") or parts.netloc).split(",")[0].strip()
    path = parts.path
    for marker in ("/gradio_api/", "/" + PARTICIPANT_PATH, "/" + FACILITATOR_PATH):
        if marker in path:
            path = path.split(marker)[0]
            break
    return urlunsplit((scheme, netloc, path.rstrip("/"), "", ""))


def join_url(root: str, code: str) -> str:
    """What participants open (and the QR code holds): `/workshop?code=K7QF2M`."""
    return f"{root}/{PARTICIPANT_PATH}?{urlencode({'code': code})}"


def facilitator_url(root: str, code: str, key: str) -> str:
    """The facilitator's private link: anyone holding it can run the workshop."""
    return f"{root}/{FACILITATOR_PATH}?{urlencode({'code': code, 'key': key})}"


def qr_data_uri(text: str) -> str:
    """The QR code for `text` as an SVG data URI (pure Python: no PIL)."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = img.to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")

