#!/usr/bin/python3
"""Writes tests/feeds_expected.h: the bytes Scrapy 2.8's item exporters write
for the items and options of each case, so that tests/test_feeds.c can
compare silk's exporters with them without Python at test time.

Run with Debian's interpreter (Scrapy is installed for it):
    /usr/bin/python3 tests/feeds_reference.py > tests/feeds_expected.h
"""
import io
import json
import sys

import scrapy
from scrapy.exporters import CsvItemExporter, JsonItemExporter, JsonLinesItemExporter

RICH = r"""[
 {"name": "Caf\u00e9 \u201cquoted\u201d", "price": 12.5, "count": 3, "ok": true, "no": false,
  "none": null, "tags": ["a", "b, c"], "nested": {"k": [1, 2.0, {"deep": "x\"y"}], "e": {}, "l": []},
  "empty": [], "emoji": "\ud83d\ude00", "ctrl": "tab\there\nnew\u0001\u007f\u0085", "big": 1e16,
  "small": 1e-05, "neg": -0.0, "nan": NaN, "inf": Infinity, "ninf": -Infinity,
  "int": 9007199254740993, "slash": "a/b\\c"},
 {"name": "O'Brien", "price": 0.1, "tags": ["x"], "note": "line1\r\nline2", "semi": "a;b",
  "q": "say \"hi\"", "mixed": [1, "a", null, true], "uni": "\u00a0\u2028\u00e9\u4e2d\u00ad",
  "lst_nested": [["a"], {"b": "it's"}], "dict": {"k": "v", "n": 1.5, "t": [true, null]},
  "both": "'\"", "lead": " space ", "nul": "a\u0000b",
  "reprs": [1, "both'\"", "\u00a0\u2028\u00ad\ud83d\ude00\ue000\t\n\\\r\u0007", "\u0085\u3000 x",
            "\udb40\udc01\u200b\u061c\u4e2d\u00e9", "it's"],
  "floats": [1e22, 0.30000000000000004, 5e-324, 1.7976931348623157e308, 100.0, 123456789.125, -1.5e-7]},
 {},
 {"count": 7, "name": "third", "extra": "only here"}
]"""

SIMPLE = r"""[{"a": "1", "b": "x"}, {"b": "y", "c": "z"}, {"a": ""}]"""
ONE_COLUMN = r"""[{"a": ""}, {"a": null}, {"a": "x"}, {"b": "only b"}]"""
LATIN = r"""[{"name": "caf\u00e9", "n": 1}, {"name": "na\u00efve \u00bd"}]"""


CASES = [
    # name, format, options, items
    ("jsonlines_default", "jsonlines", {}, RICH),
    ("jsonlines_utf8", "jsonlines", {"encoding": "utf-8"}, RICH),
    ("jsonlines_indent_ignored", "jsonlines", {"indent": 4}, SIMPLE),
    ("jsonlines_fields_list", "jsonlines", {"fields": ["price", "name", "missing"]}, RICH),
    ("jsonlines_fields_dict", "jsonlines", {"fields": {"name": "title", "count": "n"}}, RICH),
    ("json_indent0", "json", {}, RICH),
    ("json_indent_none", "json", {"indent": None}, RICH),
    ("json_indent2", "json", {"indent": 2}, RICH),
    ("json_indent4_utf8", "json", {"indent": 4, "encoding": "utf-8"}, RICH),
    ("json_empty_started", "json", {"start": True}, "[]"),
    ("json_empty_started_none", "json", {"start": True, "indent": None}, "[]"),
    ("json_empty_started_indent2", "json", {"start": True, "indent": 2}, "[]"),
    ("json_one_item_none", "json", {"indent": None}, SIMPLE),
    ("json_fields_empty_list", "json", {"fields": []}, SIMPLE),
    ("csv_default", "csv", {}, RICH),
    ("csv_utf8", "csv", {"encoding": "utf-8"}, RICH),
    ("csv_header_from_first", "csv", {}, SIMPLE),
    ("csv_fields_list", "csv", {"fields": ["c", "a", "zz"]}, SIMPLE),
    ("csv_fields_dict", "csv", {"fields": {"b": "B column", "a": "A,1"}}, SIMPLE),
    ("csv_fields_empty_list", "csv", {"fields": []}, SIMPLE),
    ("csv_one_column", "csv", {}, ONE_COLUMN),
    ("csv_no_header", "csv", {"csv_no_header": True}, SIMPLE),
    ("csv_no_header_fields", "csv", {"csv_no_header": True, "fields": ["b"]}, SIMPLE),
    ("csv_delimiter_join", "csv", {"csv_delimiter": ";", "csv_join": "|"}, RICH),
    ("csv_started_empty", "csv", {"start": True}, "[]"),
    ("json_latin1", "json", {"encoding": "latin-1"}, LATIN),
    ("csv_latin1", "csv", {"encoding": "latin-1"}, LATIN),
    ("jsonlines_ascii_enc", "jsonlines", {"encoding": "ascii"}, SIMPLE),
]


def export(fmt, options, items):
    f = io.BytesIO()
    kw = {
        "encoding": options.get("encoding"),
        # the feed exporter passes FEED_EXPORT_INDENT (0 by default)
        "indent": options.get("indent", 0),
    }
    if "fields" in options:
        kw["fields_to_export"] = options["fields"]
    if fmt == "csv":
        if options.get("csv_no_header"):
            kw["include_headers_line"] = False
        if "csv_join" in options:
            kw["join_multivalued"] = options["csv_join"]
        if "csv_delimiter" in options:
            kw["delimiter"] = options["csv_delimiter"]
        exp = CsvItemExporter(f, **kw)
    elif fmt == "json":
        exp = JsonItemExporter(f, **kw)
    else:
        exp = JsonLinesItemExporter(f, **kw)
    # _FeedSlot.start_exporting: at open with store_empty, else at the first item
    started = False
    if options.get("start"):
        exp.start_exporting()
        started = True
    for item in items:
        if not started:
            exp.start_exporting()
            started = True
        exp.export_item(item)
    if started:
        exp.finish_exporting()
    if fmt == "csv":
        exp.stream.flush()
    return f.getvalue()


def c_string(data):
    out = []
    for b in data:
        c = chr(b)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "?":
            out.append("\\?")
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def main():
    w = sys.stdout.write
    w("/* Generated by tests/feeds_reference.py with Scrapy %s: what Scrapy's\n" % scrapy.__version__)
    w(" * item exporters write for each case. Do not edit; regenerate. */\n")
    w("struct feed_case {\n    const char *name, *format, *options, *items, *expected;\n")
    w("    size_t expected_len;\n};\n\nstatic const struct feed_case feed_cases[] = {\n")
    for name, fmt, options, items_json in CASES:
        items = json.loads(items_json)
        data = export(fmt, options, items)
        w("    { %s, %s,\n" % (c_string(name.encode()), c_string(fmt.encode())))
        w("      %s,\n" % c_string(json.dumps(options).encode()))
        w("      %s,\n" % c_string(items_json.encode()))
        w("      %s,\n" % c_string(data))
        w("      %d },\n" % len(data))
    w("};\n")


if __name__ == "__main__":
    main()
