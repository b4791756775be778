"""Markdown answers become HTML that QTextDocument shows: headings, lists, tables, highlighted code."""

from ui.markdown_render import MarkdownRenderer, code_index_from_link, copy_link, plain_text_html
from ui.theme import DARK, LIGHT

SAMPLE = """\
# Title

- one
- two

| a | b |
|---|---|
| 1 | 2 |

```python
def f(x):
    return x + 1
```

~~~
plain <b>block</b>
~~~
"""


def test_heading_list_table_and_code_render():
    rendered = MarkdownRenderer(LIGHT).render(SAMPLE)
    html = rendered.html
    assert "<h1>Title</h1>" in html
    assert "<li>one</li>" in html
    assert "<table" in html and "<td>1</td>" in html
    # pygments colours the keyword inline (QTextDocument has no class-based CSS)
    assert '<span style="color: #008000; font-weight: bold">def</span>' in html
    assert f'href="{copy_link(0)}"' in html and f'href="{copy_link(1)}"' in html
    assert rendered.code_blocks == ("def f(x):\n    return x + 1", "plain <b>block</b>")


def test_raw_html_and_images_are_shown_as_text_never_loaded():
    html = MarkdownRenderer(LIGHT).render('<script>x</script> ![cat](http://example.com/c.png)').html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "[image: cat]" in html


def test_dark_theme_uses_a_dark_code_style():
    light = MarkdownRenderer(LIGHT).render("```python\nx = 1\n```").html
    dark = MarkdownRenderer(DARK).render("```python\nx = 1\n```").html
    assert light != dark and "#0d1117" in dark


def test_unknown_language_and_unclosed_fence_still_render():
    rendered = MarkdownRenderer(LIGHT).render("```nosuchlang\nstill streaming")
    assert rendered.code_blocks == ("still streaming",)
    assert "nosuchlang" in rendered.html


def test_copy_links_round_trip_and_others_are_not_copy_links():
    assert code_index_from_link(copy_link(3)) == 3
    assert code_index_from_link("https://example.com") is None
    assert code_index_from_link("seesay-copy:x") is None


def test_plain_text_keeps_what_the_user_typed():
    assert plain_text_html("a < b\n# not a heading") == "a &lt; b<br># not a heading"
