#!/usr/bin/python3
"""Generates selectors/encoding_tables.h from the Python that Scrapy runs on.

Run with the reference interpreter (/usr/bin/python3, Python 3.11, w3lib 2.1.1):
    /usr/bin/python3 selectors/gen_encoding_tables.py > selectors/encoding_tables.h

It snapshots what silk cannot read at run time: Python's codec alias table,
the codec module names and their canonical names, w3lib's
DEFAULT_ENCODING_TRANSLATION, the exact 256-entry decode table of every
single-byte codec, and, for the stateless multibyte (CJK) codecs, where
Python's decoder differs from glibc's iconv (silk uses iconv for the bulk of
those tables and these overrides to match Python byte for byte).
"""
import codecs
import ctypes
import encodings
import encodings.aliases
import importlib
import pkgutil
import sys

import w3lib.encoding

# ---------------------------------------------------------------- iconv ----
libc = ctypes.CDLL(None, use_errno=True)
libc.iconv_open.restype = ctypes.c_void_p
libc.iconv_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.iconv.restype = ctypes.c_size_t
libc.iconv.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                       ctypes.POINTER(ctypes.c_size_t),
                       ctypes.POINTER(ctypes.c_char_p),
                       ctypes.POINTER(ctypes.c_size_t)]


class Iconv:
    def __init__(self, name):
        self.cd = libc.iconv_open(b"UTF-32LE", name.encode())
        if self.cd is None or self.cd == 2**64 - 1:
            raise ValueError(name)

    def decode(self, data):
        """The text iconv makes of data in one call, or None unless it
        consumed every byte without error."""
        libc.iconv(self.cd, None, None, None, None)
        inb = ctypes.create_string_buffer(data, len(data))
        inp = ctypes.c_char_p(ctypes.addressof(inb))
        inl = ctypes.c_size_t(len(data))
        out = ctypes.create_string_buffer(4 * len(data) + 64)
        outp = ctypes.c_char_p(ctypes.addressof(out))
        outl = ctypes.c_size_t(len(out))
        r = libc.iconv(self.cd, ctypes.byref(inp), ctypes.byref(inl),
                       ctypes.byref(outp), ctypes.byref(outl))
        if r == 2**64 - 1 or inl.value != 0:
            return None
        n = len(out) - outl.value
        s = out.raw[:n].decode("utf-32-le")
        return s if s else None


# ------------------------------------------------------------- codecs -----
UNSUPPORTED = {"idna", "punycode", "undefined", "unicode_escape",
               "raw_unicode_escape", "hz"}
SPECIAL = {
    "utf_8": "UTF8", "utf_8_sig": "UTF8SIG", "utf_16": "UTF16",
    "utf_16_le": "UTF16LE", "utf_16_be": "UTF16BE", "utf_32": "UTF32",
    "utf_32_le": "UTF32LE", "utf_32_be": "UTF32BE", "utf_7": "UTF7",
}
# Stateless multibyte codecs: iconv name for the bulk of the table.
MBCS = {
    "big5": "BIG5", "big5hkscs": "BIG5-HKSCS", "cp932": "CP932",
    "cp949": "CP949", "cp950": "CP950", "euc_jis_2004": "EUC-JISX0213",
    "euc_jisx0213": "EUC-JISX0213", "euc_jp": "EUC-JP",
    "gb18030": "GB18030", "gb2312": "EUC-CN", "gbk": "GBK",
    "johab": "JOHAB", "euc_kr": "EUC-KR", "shift_jis": "SJIS", "shift_jis_2004": "SHIFT_JISX0213",
    "shift_jisx0213": "SHIFT_JISX0213",
}
# Where Python's decoder falls back to a second table (JIS X 0212 after
# JIS X 0213 plane 2), silk asks a second iconv converter.
MBCS_FALLBACK = {"euc_jis_2004": "EUC-JP", "euc_jisx0213": "EUC-JP"}
# Stateful codecs decoded by iconv alone (approximate error handling).
ICONV = {
    "iso2022_jp": "ISO-2022-JP", "iso2022_jp_1": "ISO-2022-JP-2",
    "iso2022_jp_2": "ISO-2022-JP-2", "iso2022_jp_2004": "ISO-2022-JP-3",
    "iso2022_jp_3": "ISO-2022-JP-3", "iso2022_jp_ext": "ISO-2022-JP-2",
    "iso2022_kr": "ISO-2022-KR",
}


def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def modules():
    out = []
    for m in sorted(x.name for x in pkgutil.iter_modules(encodings.__path__)):
        try:
            mod = importlib.import_module("encodings." + m)
            ci = mod.getregentry()
        except (ImportError, AttributeError):
            continue
        out.append((m, ci))
    return out


def is_sbcs(name):
    try:
        singles = [bytes([b]).decode(name, "replace") for b in range(256)]
    except Exception:
        return None
    if any(len(s) != 1 for s in singles):
        return None
    for a in range(256):
        for b in (0x41, 0x81, 0xA1, 0xE0, 0xFF, a):
            if bytes([a, b]).decode(name, "replace") != singles[a] + singles[b]:
                return None
    return singles


def err_of(data, name):
    try:
        return ("ok", data.decode(name))
    except UnicodeDecodeError as e:
        return ("err", e.reason, e.start, e.end)


LEAD, ERR1, DEADLEAD = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def need_len(mod, b1, b2):
    """silk's C rule for sequences longer than two bytes (checked below)."""
    if mod == "gb18030" and 0x30 <= b2 <= 0x39:
        return 4
    if mod in ("euc_jp", "euc_jis_2004", "euc_jisx0213") and b1 == 0x8F:
        return 3
    if mod == "euc_kr" and b1 == 0xA4 and b2 == 0xD4:
        return 8  # KS X 1001:1998 Annex 3 make-up sequence
    return 2


class Chain:
    def __init__(self, names):
        self.convs = [Iconv(n) for n in names]

    def decode(self, data):
        for c in self.convs:
            r = c.decode(data)
            if r is not None:
                return r
        return None


def mbcs_tables(mod, iconv_name):
    ic = Chain([iconv_name] + ([MBCS_FALLBACK[mod]] if mod in MBCS_FALLBACK
                               else []))
    singles = []
    overrides = {}
    for b1 in range(256):
        r = err_of(bytes([b1]), mod)
        if r[0] == "ok":
            assert len(r[1]) == 1
            singles.append(ord(r[1]))
            continue
        if r[1] == "illegal multibyte sequence":
            assert (r[2], r[3]) == (0, 1), (mod, b1, r)
            singles.append(ERR1)
            continue
        assert r[1] == "incomplete multibyte sequence", (mod, b1, r)
        # A lead byte: look at every second byte.
        results = {}
        for b2 in range(256):
            n = need_len(mod, b1, b2)
            seq = bytes([b1, b2])
            r2 = err_of(seq, mod)
            if n > 2:
                assert r2[0] == "err" and r2[1].startswith("incomplete"), \
                    (mod, seq, r2)
                continue
            if r2[0] == "ok":
                # A lead byte whose pair decodes as two characters would
                # mean the lead is really single: not expected here.
                py = r2[1]
                results[b2] = py
            else:
                assert r2[1] == "illegal multibyte sequence", (mod, seq, r2)
                assert r2[2] == 0 and r2[3] in (1, 2), (mod, seq, r2)
                results[b2] = r2[3]
        if all(v == 1 for v in results.values()) and \
                all(need_len(mod, b1, b2) == 2 for b2 in range(256)):
            singles.append(DEADLEAD)
            continue
        singles.append(LEAD)
        for b2, py in results.items():
            seq = bytes([b1, b2])
            gl = ic.decode(seq)
            if gl is None:
                gl = 1
            if py != gl:
                overrides[seq] = py
        # three-byte sequences (EUC 0x8F + JIS X 0212 / 0213 plane 2)
        if need_len(mod, b1, 0xA1) == 3:
            for b2 in range(256):
                for b3 in range(256):
                    seq = bytes([b1, b2, b3])
                    r3 = err_of(seq, mod)
                    if r3[0] == "ok":
                        py = r3[1]
                    else:
                        assert r3[1] == "illegal multibyte sequence" and \
                            r3[2] == 0 and r3[3] in (1, 2, 3), (mod, seq, r3)
                        py = r3[3]
                    gl = ic.decode(seq)
                    if gl is None:
                        gl = 1
                    if py != gl:
                        overrides[seq] = py
    for seq, py in overrides.items():
        assert isinstance(py, int) or 1 <= len(py) <= 2, (mod, seq, py)
    return singles, overrides


def euckr_jamo():
    """CPython's choseong / jongseong tables for EUC-KR make-up sequences,
    indexed by the byte minus 0xA1 (0xFF: not that kind of jamo)."""
    cho, jong = [], []
    for x in range(0xA1, 0xBF):
        try:
            t = bytes([0xA4, 0xD4, 0xA4, x, 0xA4, 0xBF, 0xA4, 0xD4]).decode("euc_kr")
            cho.append((ord(t) - 0xAC00) // 588)
        except UnicodeDecodeError:
            cho.append(0xFF)
        try:
            t = bytes([0xA4, 0xD4, 0xA4, 0xA1, 0xA4, 0xBF, 0xA4, x]).decode("euc_kr")
            jong.append((ord(t) - 0xAC00) % 28)
        except UnicodeDecodeError:
            jong.append(0xFF)
    return cho, jong


def gb18030_ranges():
    """Python's four-byte GB18030 BMP area as (linear start, first code
    point) runs; sequences beyond the BMP area are arithmetic."""
    runs = []
    prev = None
    for lseq in range(39420):
        c, rest = divmod(lseq, 12600)
        c2, rest = divmod(rest, 1260)
        c3, c4 = divmod(rest, 10)
        seq = bytes([0x81 + c, 0x30 + c2, 0x81 + c3, 0x30 + c4])
        r = err_of(seq, "gb18030")
        cp = ord(r[1]) if r[0] == "ok" else None
        if prev is not None and cp is not None and prev[1] is not None and \
                cp == prev[1] + 1:
            prev = (lseq, cp)
            continue
        runs.append((lseq, cp))
        prev = (lseq, cp)
    # check the supplementary-plane arithmetic on a sample
    for lin in range(0, 0x100000, 4099):
        v = lin
        c, v = divmod(v, 12600)
        c2, v = divmod(v, 1260)
        c3, c4 = divmod(v, 10)
        seq = bytes([0x90 + c, 0x30 + c2, 0x81 + c3, 0x30 + c4])
        assert seq.decode("gb18030") == chr(0x10000 + lin)
    return runs


def main():
    w = sys.stdout.write
    w("/* Generated by selectors/gen_encoding_tables.py from Python %s and "
      "w3lib %s.\n * Do not edit: regenerate. */\n" %
      (sys.version.split()[0], getattr(w3lib, "__version__", "?")))
    w("#include <stdint.h>\n\n")

    # Python's codec alias table.
    al = sorted(encodings.aliases.aliases.items())
    w("static const struct enc_alias { const char *key, *module; } "
      "enc_aliases[] = {\n")
    for k, v in al:
        w("    {%s, %s},\n" % (cstr(k), cstr(v)))
    w("};\n\n")

    tr = sorted(w3lib.encoding.DEFAULT_ENCODING_TRANSLATION.items())
    w("static const struct enc_alias enc_w3lib_translation[] = {\n")
    for k, v in tr:
        w("    {%s, %s},\n" % (cstr(k), cstr(v)))
    w("};\n\n")

    mods = modules()
    sbcs = []      # distinct tables
    sbcs_index = {}
    mbcs = []
    rows = []
    for m, ci in mods:
        text = getattr(ci, "_is_text_encoding", True)
        iconv = "NULL"
        idx = -1
        if not text or m in UNSUPPORTED:
            kind = "ENC_UNSUPPORTED"
        elif m in SPECIAL:
            kind = "ENC_" + SPECIAL[m]
        elif m in MBCS:
            kind = "ENC_MBCS"
            idx = len(mbcs)
            mbcs.append((m, MBCS[m]) + mbcs_tables(m, MBCS[m]))
            iconv = cstr(MBCS[m])
        elif m in ICONV:
            kind = "ENC_ICONV"
            iconv = cstr(ICONV[m])
        else:
            singles = is_sbcs(m)
            assert singles is not None, m
            key = "".join(singles)
            if key not in sbcs_index:
                sbcs_index[key] = len(sbcs)
                sbcs.append(singles)
            kind = "ENC_SBCS"
            idx = sbcs_index[key]
        rows.append((m, ci.name, kind, idx, iconv))

    w("static const uint16_t enc_sbcs_tables[][256] = {\n")
    for t in sbcs:
        w("    {")
        for i, ch in enumerate(t):
            if i % 12 == 0:
                w("\n        ")
            w("0x%04x," % ord(ch))
        w("\n    },\n")
    w("};\n\n")

    for m, iconv_name, singles, overrides in mbcs:
        w("static const uint32_t enc_mb_single_%s[256] = {" % m)
        for i, v in enumerate(singles):
            if i % 8 == 0:
                w("\n    ")
            w("0x%08x," % v)
        w("\n};\n")
        w("static const struct enc_mb_override enc_mb_over_%s[] = {\n" % m)
        items = sorted(overrides.items(),
                       key=lambda kv: (len(kv[0]), kv[0]))
        for seq, py in items:
            key = int.from_bytes(seq, "big") | (len(seq) << 24)
            if isinstance(py, int):
                w("    {0x%08x, 0, {%d, 0}},\n" % (key, py))
            else:
                cps = [ord(c) for c in py] + [0]
                w("    {0x%08x, %d, {0x%x, 0x%x}},\n" %
                  (key, len(py), cps[0], cps[1]))
        if not items:
            w("    {0xffffffff, 0, {0, 0}},\n")
        w("};\n\n")
    w("static const struct enc_mb_codec enc_mb_codecs[] = {\n")
    for m, iconv_name, singles, overrides in mbcs:
        fb = MBCS_FALLBACK.get(m)
        w("    {%s, %s, %s, enc_mb_single_%s, enc_mb_over_%s, %d},\n" %
          (cstr(m), cstr(iconv_name), cstr(fb) if fb else "NULL", m, m,
           len(overrides)))
    w("};\n\n")

    w("static const struct enc_codec enc_codecs[] = {\n")
    for m, name, kind, idx, iconv in rows:
        w("    {%s, %s, %s, %d, %s},\n" % (cstr(m), cstr(name), kind, idx,
                                          iconv))
    w("};\n\n")

    cho, jong = euckr_jamo()
    w("static const uint8_t enc_euckr_cho[30] = {%s};\n" %
      ", ".join("%d" % v for v in cho))
    w("static const uint8_t enc_euckr_jong[30] = {%s};\n\n" %
      ", ".join("%d" % v for v in jong))

    runs = gb18030_ranges()
    w("/* GB18030 four-byte BMP area: linear index -> code point runs "
      "(0 = unmapped). */\n")
    w("static const struct enc_gb_run { uint16_t lin; uint16_t cp; } "
      "enc_gb18030_runs[] = {\n")
    for lseq, cp in runs:
        w("    {%d, 0x%04x},\n" % (lseq, cp if cp is not None else 0))
    w("};\n")


main()
