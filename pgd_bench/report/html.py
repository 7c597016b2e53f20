"""Render the reproduction's Markdown report as a standalone HTML page.

Handles the subset :mod:`pgd_bench.report.build` writes (headings, paragraphs, bullet lists, pipe
tables, images, fenced code, inline code, bold, italics and links), so the report needs no Markdown
package. Images are embedded as data URIs when their folder is given, so that the one HTML file
carries its figures (it can be mailed or moved alone).
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    codes: list[str] = []  # code spans first, kept apart so that their * and _ stay literal

    def keep(match):
        codes.append(match.group(1))
        return f"\0{len(codes) - 1}\0"

    text = re.sub(r"`([^`]+)`", keep, text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![*\w])\*([^*\s][^*]*)\*(?![*\w])", r"<em>\1</em>", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', text)
    return re.sub("\0(\\d+)\0", lambda match: f"<code>{codes[int(match.group(1))]}</code>", text)


def heading_anchor(title: str) -> str:
    """The fragment that links to a heading, as GitHub makes it: lower case, punctuation dropped,
    spaces as hyphens (``"Figure 1: success rates"`` -> ``figure-1-success-rates``); the HTML page
    gives its headings the same ids, so one link works in both."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _image_source(src: str, images_from) -> str:
    """``src`` as a data URI when the file is in ``images_from``, else the path as given."""
    path = Path(images_from) / src if images_from is not None else None
    if path is None or not path.is_file() or path.suffix.lower() not in _MIME:
        return src
    return f"data:{_MIME[path.suffix.lower()]};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _cells(row: str) -> list[str]:
    """A table row's cells: split at every ``|`` that is not escaped (``\\|`` is a ``|`` inside a
    cell, as in GitHub's Markdown)."""
    inner = row.strip().removeprefix("|")
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _table(rows: list[str]) -> str:
    cells = [_cells(row) for row in rows]
    head, body = cells[0], [r for r in cells[2:]]
    out = ["<table>", "<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in body]
    return "\n".join(out + ["</table>"])


def markdown_to_html(markdown: str, title: str = "pgd_bench report", images_from=None) -> str:
    """Convert the report's Markdown to a complete HTML document.

    Parameters
    ----------
    markdown : str
        The report.
    title : str
        The page title.
    images_from : path, optional
        The folder the images' relative paths start from: each image found there is embedded as a
        data URI, so the page needs no other file. Without it, images stay links.
    """
    lines = markdown.splitlines()
    parts: list[str] = []
    paragraph: list[str] = []
    i = 0

    def flush():
        if paragraph:
            parts.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            flush()
            block = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                block.append(lines[i])
                i += 1
            parts.append(f"<pre>{html.escape(chr(10).join(block))}</pre>")
        elif line.startswith("#"):
            flush()
            level = len(line) - len(line.lstrip("#"))
            title = line[level:].strip()
            parts.append(f'<h{level} id="{heading_anchor(title)}">{_inline(title)}</h{level}>')
        elif line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            # a table needs its separator row: a paragraph line may start with "||w||"
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            parts.append(_table(rows))
            continue
        elif match := re.fullmatch(r"!\[([^\]]*)\]\(([^)]+)\)", line.strip()):
            flush()
            source = _image_source(match.group(2), images_from)
            parts.append(f'<p><img src="{html.escape(source)}" alt="{html.escape(match.group(1))}"></p>')
        elif re.match(r"[-*] ", line):
            flush()
            items = []
            while i < len(lines) and (re.match(r"[-*] ", lines[i]) or (items and lines[i].startswith("  "))):
                if re.match(r"[-*] ", lines[i]):
                    items.append(lines[i][2:].strip())
                else:  # a continuation line of the item above
                    items[-1] += " " + lines[i].strip()
                i += 1
            parts.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>")
            continue
        elif not line.strip():
            flush()
        else:
            paragraph.append(line.strip())
        i += 1
    flush()
    body = "\n".join(parts)
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style>"
    return f"<!DOCTYPE html>\n<html><head>{head}</head>\n<body>\n{body}\n</body></html>\n"
