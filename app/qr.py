"""QR codes as SVG (so a phone can open the facilitator link), drawn with segno."""

import io

import segno


def qr_svg(text: str) -> str:
    qr = segno.make(text, error="m")
    out = io.BytesIO()
    qr.save(
        out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True, dark="#000", light="#fff"
    )
    return out.getvalue().decode()
