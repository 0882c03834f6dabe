"""Markdown in the browser: the vendored markdown-it + DOMPurify + highlight.js behind js/markdown.js.

Everything runs in Debian's Chromium against a real gunicorn: the module is imported from the app's own origin
under its real Content-Security-Policy, so a library that needed eval, inline styles or a CDN would show up
here as a console error or a missing element.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.processes import Web
from tests.support.ui_fixtures import real_errors

pytest_plugins = ("tests.support.ui_fixtures",)

pytestmark = [pytest.mark.browser, pytest.mark.slow]



# Each case: Markdown an agent (or anyone) might write, rendered on its own. None may run code, load anything
# or produce a link to a target other than http(s)/mailto.
XSS_CASES = [
    '<script>window.pwned = "script"</script>',
    '<img src=x onerror="window.pwned = \'img\'">',
    '<a href="javascript:window.pwned=1">raw anchor</a>',
    '<svg onload="window.pwned = \'svg\'"></svg>',
    '<iframe src="javascript:window.pwned=1"></iframe>',
    '[click](javascript:window.pwned=1)',
    '[click](JaVaScRiPt:window.pwned=1)',
    '[click](  javascript:window.pwned=1  )',
    '[click](java&#x09;script:window.pwned=1)',
    '[click](&#106;avascript:window.pwned=1)',
    '[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
    '[click](vbscript:msgbox)',
    '[click](file:///etc/passwd)',
    '<javascript:window.pwned=1>',
    '[ref][x]\n\n[x]: javascript:window.pwned=1',
    '![pic](javascript:window.pwned=1)',
    '![pic](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIj48L3N2Zz4=)',
    '```html\n<script>window.pwned = "fence"</script>\n```',
    '`<img src=x onerror=window.pwned=1>`',
    '**<b onmouseover="window.pwned=1">bold</b>**',
    '| a |\n|---|\n| <script>window.pwned=1</script> |',
    '[x](https://example.com "title\\" onmouseover=\\"window.pwned=1")',
]

XSS_PROBE = r"""
async (cases) => {
  const { renderMarkdown } = await import('/static/js/markdown.js');
  const out = [];
  for (const source of cases) {
    const root = renderMarkdown(source);
    document.body.append(root);
    const attrs = [];
    for (const el of root.querySelectorAll('*')) {
      for (const a of el.attributes) attrs.push(a.name);
    }
    out.push({
      source,
      text: root.textContent,
      dangerous: root.querySelectorAll(
        'script, img, iframe, svg, object, embed, form, input:not([type=checkbox]), style').length,
      handlers: attrs.filter((n) => n.startsWith('on') || n === 'style' || n === 'src'),
      hrefs: Array.from(root.querySelectorAll('[href]')).map((a) => a.getAttribute('href')),
      offs: root.querySelectorAll('.md-link-off').length,
    });
  }
  await new Promise((r) => setTimeout(r, 100));
  return { pwned: window.pwned || null, out };
}
"""


def test_xss_cases_render_as_text_and_run_nothing(web: Web, page: tuple[Any, list[str]]) -> None:
    p, errors = page
    outside: list[str] = []
    p.on("request", lambda r: outside.append(r.url) if urlsplit(r.url).netloc != urlsplit(web.url).netloc else None)
    p.goto(web.url + "/")
    result = p.evaluate(XSS_PROBE, XSS_CASES)
    assert result["pwned"] is None
    for case in result["out"]:
        assert case["dangerous"] == 0, case
        assert case["handlers"] == [], case
        assert all(h.startswith(("https:", "http:", "mailto:")) for h in case["hrefs"]), case
    by_source = {c["source"]: c for c in result["out"]}
    # Raw HTML is shown, as text.
    assert by_source[XSS_CASES[0]]["text"] == XSS_CASES[0]
    assert "onerror" in by_source[XSS_CASES[1]]["text"]
    # A link to a target that is not followed keeps its words, not its Markdown source, and is marked as off.
    for source in XSS_CASES[5:13]:
        assert by_source[source]["text"] == "click" and by_source[source]["offs"] == 1, by_source[source]
    # An image becomes words; a data: image is not loaded either.
    assert by_source["![pic](javascript:window.pwned=1)"]["text"] == "🖼 pic"
    # Code keeps its characters.
    assert by_source[XSS_CASES[17]]["text"].count('<script>window.pwned = "fence"</script>') == 1
    assert outside == []
    assert real_errors(errors) == [], errors


SHAPES_PROBE = r"""
async () => {
  const { renderMarkdown, inline } = await import('/static/js/markdown.js');
  const source = [
    'See https://example.com/docs and setup.py, or mail ops@example.com.',
    '',
    '![diagram](https://example.com/d.png)',
    '',
    '- [x] done',
    '- [ ] open',
    '',
    '| left | right | mid |',
    '|:-----|------:|:---:|',
    '| a | b | c |',
    '',
    '    indented code',
    '',
    '~~~',
    'plain <fence>',
    '~~~',
    '',
    'line one',
    'line two',
  ].join('\n');
  const root = renderMarkdown(source);
  document.body.append(root);
  const title = document.createElement('span');
  title.append(...inline('Fix **login** <b>now</b> [docs](https://example.com)'));
  return {
    links: Array.from(root.querySelectorAll('a')).map((a) => [a.textContent, a.getAttribute('href'), a.target, a.rel]),
    images: root.querySelectorAll('img').length,
    tasks: Array.from(root.querySelectorAll('li.md-task input[type=checkbox]')).map((c) => [c.checked, c.disabled]),
    taskText: Array.from(root.querySelectorAll('li.md-task')).map((li) => li.textContent.trim()),
    aligns: Array.from(root.querySelectorAll('th')).map((th) => th.className),
    tableWrapped: !!root.querySelector('.md-table > table'),
    codes: Array.from(root.querySelectorAll('.md-code')).map(
      (b) => [b.querySelector('.md-lang').textContent, b.querySelector('pre code').textContent]),
    breaks: root.querySelectorAll('p br').length,
    titleHtml: title.innerHTML,
  };
}
"""


def test_markdown_shapes_links_images_tasks_tables(web: Web, page: tuple[Any, list[str]]) -> None:
    p, errors = page
    p.goto(web.url + "/")
    r = p.evaluate(SHAPES_PROBE)
    rel = "noopener noreferrer nofollow"
    assert r["links"] == [
        ["https://example.com/docs", "https://example.com/docs", "_blank", rel],  # linkified; setup.py is not
        ["🖼 diagram", "https://example.com/d.png", "_blank", rel],
    ]
    assert r["images"] == 0
    assert r["tasks"] == [[True, True], [False, True]]
    assert r["taskText"] == ["done", "open"]
    assert r["aligns"] == ["al-left", "al-right", "al-center"]
    assert r["tableWrapped"] is True
    assert r["codes"] == [["text", "indented code"], ["text", "plain <fence>"]]
    assert r["breaks"] == 1
    assert r["titleHtml"] == ('Fix <strong>login</strong> &lt;b&gt;now&lt;/b&gt; <a href="https://example.com" '
                              f'target="_blank" rel="{rel}">docs</a>')
    assert real_errors(errors) == [], errors


HIGHLIGHT_PROBE = r"""
async () => {
  const { renderMarkdown } = await import('/static/js/markdown.js');
  const root = renderMarkdown(
    '```python\ndef greet(name):\n    return f"hi {name}"  # say hi\n```\n\n```nosuchlang\nx = 1\n```');
  root.id = 'probe';
  document.body.append(root);
  const kw = root.querySelector('code.language-python .hljs-keyword');
  const plain = root.querySelectorAll('.md-code')[1].querySelector('code');
  return {
    keyword: kw && kw.textContent,
    tokens: root.querySelectorAll('code.language-python [class^=hljs-]').length,
    text: root.querySelector('code.language-python').textContent,
    lang: root.querySelector('.md-lang').textContent,
    plainSpans: plain.querySelectorAll('span').length,
    plainText: plain.textContent,
  };
}
"""
ACTIVE_THEMES = ("() => ['hljs-dark', 'hljs-light'].filter((id) => document.getElementById(id).media === 'all')")
KEYWORD_IS = "(want) => getComputedStyle(document.querySelector('#probe .hljs-keyword')).color === want"
ONLY_THEME = f"(want) => ({ACTIVE_THEMES})().join() === want"


def test_code_blocks_are_highlighted_and_follow_the_theme(web: Web, page: tuple[Any, list[str]]) -> None:
    p, errors = page
    p.emulate_media(color_scheme="dark")
    p.goto(web.url + "/")
    r = p.evaluate(HIGHLIGHT_PROBE)
    assert r["keyword"] == "def" and r["tokens"] >= 4  # def, return, the string, the comment at least
    assert r["text"] == 'def greet(name):\n    return f"hi {name}"  # say hi'
    assert r["lang"] == "python"
    assert r["plainSpans"] == 0 and r["plainText"] == "x = 1"  # an unknown language is shown plain
    assert p.evaluate(ACTIVE_THEMES) == ["hljs-dark"]
    dark = "rgb(255, 123, 114)"  # github-dark's keyword colour
    p.wait_for_function(KEYWORD_IS, arg=dark)

    assert p.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(12, 15, 22)"  # the app is dark

    # The person's system switches to light: the app does (app.css), and the code theme follows (theme.js).
    p.emulate_media(color_scheme="light")
    p.wait_for_function(ONLY_THEME, arg="hljs-light")
    light = "rgb(215, 58, 73)"  # github's
    p.wait_for_function(KEYWORD_IS, arg=light)
    assert p.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(244, 246, 250)"

    # A page that sets its own scheme on the root (no system change) is followed too.
    p.evaluate("document.documentElement.style.colorScheme = 'dark'")
    p.wait_for_function(KEYWORD_IS, arg=dark)
    assert real_errors(errors) == [], errors


def test_a_chat_message_shows_highlighted_code_and_copies_it(web: Web, page: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    p, errors = page
    created = requests.post(f"{web.url}/api/teams", timeout=10, json={
        "name": f"Markdown team {int(time.time() * 1000) % 100000}", "lead": {"role_id": "engineering/tech-lead"}})
    assert created.status_code == 201, created.text
    team_id = created.json()["id"]
    text = "Run this:\n\n```bash\necho <b>hello</b> && ls -la\n```\n\n<script>window.pwned=1</script>"
    sent = requests.post(f"{web.url}/api/teams/{team_id}/messages", json={"message": text}, timeout=10)
    assert sent.status_code == 202, sent.text

    p.context.grant_permissions(["clipboard-read", "clipboard-write"])
    p.goto(f"{web.url}/teams/{team_id}")
    expect(p.locator("#team-page")).to_have_attribute("data-ready", "true")
    message = p.locator(".msg-user").first
    expect(message.locator("code.language-bash .hljs-built_in").first).to_have_text("echo")
    expect(message.locator(".md-lang")).to_have_text("bash")
    expect(message).to_contain_text("<script>window.pwned=1</script>")
    message.locator(".md-copy").click()
    expect(message.locator(".md-copy")).to_have_text("Copied")
    assert p.evaluate("navigator.clipboard.readText()") == "echo <b>hello</b> && ls -la"
    assert p.evaluate("window.pwned || null") is None
    assert real_errors(errors) == [], errors
