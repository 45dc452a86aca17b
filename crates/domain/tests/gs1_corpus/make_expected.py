#!/usr/bin/env python3
"""Writes expected.toml: what biip, an independent GS1 parser, makes of every case in cases.toml.

Run from this folder with biip installed (`python3 -m pip install biip==5.2.0`):

    python3 make_expected.py

biip works out the century of a two-digit year from the clock; the corpus fixes "now" at
2026-12-02 (the Rust test passes the same date), by giving biip's date module a clock that
reads that day. biip's own century rule (GS1 General Specifications §7.12) is what runs.

Scanner data and Digital Link URIs go through `biip.parse`, the bracketed form (input starting
with "(") through `GS1Message.parse_hri`. The verdict is biip's: a case is accepted when biip returns a GS1 message or a GS1 Digital Link
URI with at least one element and no element has a GTIN or SSCC check-digit error (biip reports those beside the element
instead of raising). A bare GTIN or UPC that biip reads outside a GS1 message is not a GS1
message, so it counts as a rejection here.
"""

import datetime as real_dt
import json
import tomllib
from pathlib import Path

import biip
import biip.gs1_element_strings as gs1_element_strings
from biip.gs1_messages import GS1Message

NOW = real_dt.datetime(2026, 12, 2, 12, 0, tzinfo=real_dt.UTC)


class _FixedDatetime(real_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW if tz is not None else NOW.replace(tzinfo=None)


class _FixedClockModule:
    """The `datetime` module as biip's date code sees it, with the clock fixed."""

    def __getattr__(self, name):
        return getattr(real_dt, name)

    datetime = _FixedDatetime


gs1_element_strings.dt = _FixedClockModule()


def verdict(text):
    try:
        if text.strip().startswith("("):
            # biip.parse reads what scanners send; the bracketed form has its own entry point.
            message = GS1Message.parse_hri(text)
        else:
            result = biip.parse(text)
            message = result.gs1_message or result.gs1_digital_link_uri
            if message is None:
                error = result.gs1_message_error or result.gs1_digital_link_uri_error or "not a GS1 message"
                return {"verdict": "reject", "biip_error": error}
    except Exception as e:  # biip raises for some malformed input (e.g. a bad symbology identifier)
        return {"verdict": "reject", "biip_error": f"{type(e).__name__}: {e}"}
    if not message.element_strings:
        # biip returns an empty message for empty input; no elements is no barcode.
        return {"verdict": "reject", "biip_error": "no element strings"}
    for es in message.element_strings:
        bad = es.gtin_error or es.sscc_error
        if bad:
            return {"verdict": "reject", "biip_error": bad}
    elements = []
    for es in message.element_strings:
        element = {"ai": es.ai.ai, "value": es.value}
        if es.date is not None:
            element["date"] = es.date.isoformat()
        elements.append(element)
    return {"verdict": "accept", "elements": elements}


def toml_string(s):
    # JSON's string escapes (\", \\, \n, \uXXXX) are all valid in a TOML basic string.
    return json.dumps(s, ensure_ascii=True)


def main():
    here = Path(__file__).parent
    cases = tomllib.loads((here / "cases.toml").read_text())["case"]
    out = [
        "# Written by make_expected.py: biip's reading of every case in cases.toml. Do not edit.\n",
        f"biip_version = {toml_string(biip.__version__)}\n",
        f"now = {toml_string(NOW.date().isoformat())}\n\n",
    ]
    for case in cases:
        v = verdict(case["input"])
        out.append("[[case]]\n")
        out.append(f"name = {toml_string(case['name'])}\n")
        out.append(f"verdict = {toml_string(v['verdict'])}\n")
        if "biip_error" in v:
            out.append(f"biip_error = {toml_string(v['biip_error'])}\n")
        if "elements" in v:
            parts = []
            for e in v["elements"]:
                fields = [f"ai = {toml_string(e['ai'])}", f"value = {toml_string(e['value'])}"]
                if "date" in e:
                    fields.append(f"date = {toml_string(e['date'])}")
                parts.append("{ " + ", ".join(fields) + " }")
            out.append("elements = [" + ", ".join(parts) + "]\n")
        out.append("\n")
    (here / "expected.toml").write_text("".join(out))
    print(f"{len(cases)} cases, biip {biip.__version__}")


if __name__ == "__main__":
    main()
