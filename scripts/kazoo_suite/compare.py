"""Summarise kazoo-suite JUnit results; with two files (kazoo's, then zkfast.kazoo's)
list the tests whose outcome differs and exit 1 if zkfast.kazoo passed fewer."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from typing import Dict


def outcomes(path: str) -> Dict[str, str]:
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '').split('kazoo.tests.')[-1]}::{case.get('name')}"
        kinds = {child.tag for child in case}
        out[name] = ("failed" if kinds & {"failure", "error"} else
                     "skipped" if "skipped" in kinds else "passed")
    return out


def summary(label: str, res: Dict[str, str]) -> str:
    counts = {k: sum(1 for v in res.values() if v == k) for k in ("passed", "failed", "skipped")}
    return f"{label}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"


def main(argv: list) -> int:
    if len(argv) == 1:
        print(summary(argv[0], outcomes(argv[0])))
        return 0
    base, ours = outcomes(argv[0]), outcomes(argv[1])
    print(summary("kazoo       ", base))
    print(summary("zkfast.kazoo", ours))
    for name in sorted(set(base) | set(ours)):
        a, b = base.get(name, "-"), ours.get(name, "-")
        if a != b:
            print(f"  {name}: kazoo {a}, zkfast.kazoo {b}")
    passed = lambda r: sum(1 for v in r.values() if v == "passed")  # noqa: E731
    if passed(ours) < passed(base):
        print("FAIL: zkfast.kazoo passes fewer of kazoo's tests than kazoo")
        return 1
    print("OK: zkfast.kazoo passes at least as many of kazoo's tests as kazoo")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
