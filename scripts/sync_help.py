#!/usr/bin/env python3
"""sync_help.py KILN: makes each command's doc page carry its `--help` text verbatim. A page
that already holds the text is left alone; otherwise its "## Reference (`kiln CMD --help`)"
section is rewritten, or appended at the end. tests/test_help_docs.sh checks the result."""
import os
import re
import subprocess
import sys

PAGES = {"run": "run", "inspect": "inspect", "train": "train", "summary": "train",
         "convert": "convert", "quantize": "quantize", "eval": "eval", "bench": "bench",
         "opmodel": "opmodel"}


def main():
    kiln = sys.argv[1]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    for cmd, page in PAGES.items():
        text = subprocess.run([kiln, cmd, "--help"], capture_output=True, text=True).stdout.rstrip()
        path = os.path.join(root, "docs", page + ".md")
        doc = open(path).read()
        if text in doc:
            continue
        head = "## Reference (`kiln %s --help`)" % cmd
        block = "%s\n\n```text\n%s\n```\n" % (head, text)
        m = re.search(re.escape(head) + r"\n\n```text\n.*?```\n", doc, re.S)
        doc = doc[:m.start()] + block + doc[m.end():] if m else doc.rstrip() + "\n\n" + block
        open(path, "w").write(doc)
        print("updated docs/%s.md for kiln %s" % (page, cmd))


main()
