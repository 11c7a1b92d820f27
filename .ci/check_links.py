#!/usr/bin/env python3
"""Checks the guide's links: in the built book (`mdbook build docs`), every
relative href and src names a file that exists and, with a fragment, an id
in it; in the Markdown sources given (README.md, docs/src), every relative
link names a file of the repository. Prints a count; exits 1 naming each
broken link with the file it is in."""

import html.parser
import os
import re
import sys


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])


def parse(path):
    p = Links()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    return p


def external(link):
    return re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I) is not None


def check_book(book):
    broken, checked, pages = [], 0, {}
    for root, _dirs, files in os.walk(book):
        for name in files:
            if name.endswith(".html"):
                path = os.path.join(root, name)
                pages[os.path.normpath(path)] = parse(path)
    for path, page in sorted(pages.items()):
        for link in page.links:
            if external(link) or link.startswith("//"):
                continue
            checked += 1
            target, _, fragment = link.partition("#")
            target = target.split("?")[0]
            dest = os.path.normpath(os.path.join(os.path.dirname(path), target)) if target else path
            if not os.path.exists(dest):
                broken.append("%s: %s (no %s)" % (path, link, dest))
            elif fragment and dest.endswith(".html"):
                ids = pages[dest].ids if dest in pages else parse(dest).ids
                if fragment not in ids:
                    broken.append("%s: %s (no id %r)" % (path, link, fragment))
    return broken, checked, len(pages)


def check_markdown(paths):
    broken, checked = [], 0
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += [os.path.join(r, f) for r, _d, fs in os.walk(p) for f in fs if f.endswith(".md")]
        else:
            files.append(p)
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        for link in re.findall(r"\]\(([^)\s]+)\)", text):
            if external(link) or link.startswith("#"):
                continue
            checked += 1
            target = link.partition("#")[0]
            if not os.path.exists(os.path.join(os.path.dirname(path), target)):
                broken.append("%s: %s" % (path, link))
    return broken, checked


def main():
    if len(sys.argv) < 2:
        print("usage: check_links.py BOOK_DIR [MARKDOWN_FILE_OR_DIR]...", file=sys.stderr)
        return 2
    broken, checked, pages = check_book(sys.argv[1])
    md_broken, md_checked = check_markdown(sys.argv[2:])
    for b in broken + md_broken:
        print("broken link: " + b)
    print("guide: %d pages, %d links checked, %d broken" % (pages, checked + md_checked, len(broken) + len(md_broken)))
    return 1 if broken or md_broken else 0


if __name__ == "__main__":
    sys.exit(main())
