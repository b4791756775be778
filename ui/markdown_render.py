"""Markdown answer text -> HTML that Qt's rich-text engine (QTextDocument) shows well.

CommonMark plus tables via markdown-it-py; raw HTML in the text is shown as text, never
interpreted. Fenced code is highlighted by pygments with inline colours (QTextDocument has no
class-based CSS) and gets a header row with its language and a "Copy" link whose address is
``seesay-copy:<n>``, where ``n`` indexes ``RenderedMarkdown.code_blocks``. Images in the text are
shown as their alt text: the transcript never loads anything the model names.
"""

import html
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.styles import get_style_by_name
from pygments.util import ClassNotFound

from ui.theme import Theme

COPY_SCHEME = "seesay-copy"
MONOSPACE = "'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace"


@dataclass(frozen=True)
class RenderedMarkdown:
    html: str
    code_blocks: tuple[str, ...]  # the raw text of each code block, for its Copy link


def copy_link(index: int) -> str:
    return f"{COPY_SCHEME}:{index}"


def code_index_from_link(url: str) -> int | None:
    """The code-block index a Copy link points at, or None for any other address."""
    prefix = COPY_SCHEME + ":"
    if not url.startswith(prefix) or not url[len(prefix) :].isdigit():
        return None
    return int(url[len(prefix) :])


@lru_cache(maxsize=256)
def highlight_code(code: str, language: str, style_name: str) -> str:
    """Pygments spans with inline colours; cached because streaming re-renders finished blocks."""
    try:
        lexer = get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style=style_name)
    return highlight(code, lexer, formatter).rstrip("\n")


def document_css(theme: Theme) -> str:
    """Default style sheet for a QTextDocument that shows rendered answers."""
    return f"""
h1 {{ font-size: x-large; margin-top: 10px; margin-bottom: 6px; }}
h2 {{ font-size: large; margin-top: 10px; margin-bottom: 6px; }}
h3, h4, h5, h6 {{ font-size: medium; margin-top: 8px; margin-bottom: 4px; }}
p {{ margin-top: 0px; margin-bottom: 8px; }}
ul, ol {{ margin-top: 0px; margin-bottom: 8px; }}
li {{ margin-bottom: 2px; }}
pre {{ font-family: {MONOSPACE}; margin: 0px; }}
code {{ font-family: {MONOSPACE}; }}
a {{ color: {theme.accent}; text-decoration: none; }}
th {{ background-color: {theme.code_header}; font-weight: 600; }}
blockquote {{ color: {theme.muted}; margin-left: 12px; }}
"""


class MarkdownRenderer:
    """Renders answer text for one theme; make a new one when the theme changes."""

    def __init__(self, theme: Theme):
        self.theme = theme
        style = get_style_by_name(theme.pygments_style)
        self._code_bg = style.background_color or theme.code_bg
        self._md = MarkdownIt("commonmark", {"html": False}).enable("table")
        rules = {
            "fence": self._fence,
            "code_block": self._code_block,
            "code_inline": self._code_inline,
            "table_open": self._table_open,
            "image": self._image,
        }
        # Bound methods go straight into the rule table; add_render_rule would re-bind them.
        self._md.renderer.rules.update(rules)

    def render(self, text: str) -> RenderedMarkdown:
        env: dict = {"code_blocks": []}
        body = self._md.render(text, env)
        return RenderedMarkdown(body, tuple(env["code_blocks"]))

    # --- render rules: markdown-it calls each as rule(tokens, idx, options, env) ---

    def _fence(self, tokens, idx, _options, env) -> str:
        token = tokens[idx]
        language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
        return self._code_html(token.content, language, env)

    def _code_block(self, tokens, idx, _options, env) -> str:
        return self._code_html(tokens[idx].content, "", env)

    def _code_html(self, code: str, language: str, env: dict) -> str:
        t = self.theme
        index = len(env["code_blocks"])
        env["code_blocks"].append(code.rstrip("\n"))
        spans = highlight_code(code, language, t.pygments_style)
        label = html.escape(language or "code")
        head = f"background-color:{t.code_header}; padding: 4px 10px;"
        return (
            f'<table width="100%" cellspacing="0" cellpadding="0" '
            f'style="border: 1px solid {t.border}; border-collapse: collapse; '
            f'background-color:{self._code_bg}; margin-top: 4px; margin-bottom: 10px;">'
            # The header's own colour on the divider hides the line between its two cells.
            f'<tr><td style="{head} border-right: 1px solid {t.code_header};"><span style="color:{t.muted};">{label}</span></td>'
            f'<td align="right" style="{head}">'
            f'<a href="{copy_link(index)}" style="color:{t.accent}; text-decoration: none;">'
            f"Copy</a></td></tr>"
            f'<tr><td colspan="2" style="padding: 8px 10px;"><pre>{spans}</pre></td></tr>'
            f"</table>\n"
        )

    def _code_inline(self, tokens, idx, _options, _env) -> str:
        code = html.escape(tokens[idx].content)
        return f'<code style="background-color:{self.theme.code_header};">&nbsp;{code}&nbsp;</code>'

    def _table_open(self, _tokens, _idx, _options, _env) -> str:
        return (
            f'<table border="1" cellspacing="0" cellpadding="6" '
            f'style="border-collapse: collapse; border-color: {self.theme.border}; '
            f'margin-top: 4px; margin-bottom: 10px;">\n'
        )

    def _image(self, tokens, idx, _options, _env) -> str:
        alt = "".join(child.content for child in tokens[idx].children or [])
        return html.escape(f"[image: {alt}]" if alt else "[image]")


def plain_text_html(text: str) -> str:
    """A user's own words, shown exactly as typed (no Markdown), line breaks kept."""
    return html.escape(text).replace("\n", "<br>")
