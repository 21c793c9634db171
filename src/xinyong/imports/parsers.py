"""Reading bulk files: type by content, encoding, header, rows. Pure functions, no database.

* :func:`sniff` decides what the bytes are: an XLSX workbook (a zip holding ``[Content_Types].xml``
  and ``xl/workbook.xml``, checked against zip bombs) or CSV text (UTF-8 with or without BOM, else
  GB18030, a superset of GBK, else Windows' GBK: GB18030 with the byte 0x80 as "€"). Anything else is
  refused with :class:`FileError`.
* :func:`read_header` reads only the header (and looks for one data row): the quick check an upload
  gets before a job is created. :func:`parse` reads every row.
* :class:`RowMapper` turns a row's cells into the record dict that
  :func:`xinyong.records.service.ingest` takes, plus the row's own errors (an ID number stored as a
  number, a value in a column without a header).

Row numbers are the spreadsheet's own: the header is row 1 (for a file that starts with it), the
first data row row 2. For CSV a row is a CSV record (a quoted value may span lines). Blank rows are
skipped but keep their numbers, so a reported row number is what the user sees in Excel.

Every row read, blank or not, counts against ``READ_FACTOR × MAX_ROWS``, and the XLSX reader keeps
nothing of a row once it is read (see :meth:`_Workbook._rows`): a small file cannot make the reading
take unbounded time or memory.

Every failure is a :class:`FileError` (the whole file) or a row error; nothing else escapes
(``tests/imports/test_fuzz.py`` throws random bytes and random CSV text at these functions).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import math
import re
import struct
import unicodedata
import zipfile
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from xinyong.catalog.spec import ItemSpec
from xinyong.privacy.masking import mask_id_numbers_in

MAX_UNCOMPRESSED = 200 * 1024 * 1024  # sum of the uncompressed sizes in an XLSX's zip directory
MAX_RATIO = 100  # uncompressed / compressed
MAX_ZIP_ENTRIES = 10_000
MAX_ROWS = 500_000
# Every row read counts, blank or not, against READ_FACTOR × the data-row limit (1,000,000 by default,
# about Excel's own 1,048,576): a small XLSX of millions of empty styled rows, or a CSV of blank lines,
# is refused as too_many_rows instead of being walked to its end.
READ_FACTOR = 2
TICK_ROWS = 1000  # the reader calls ``tick`` every this many rows read (the job's heartbeat)
MAX_COLUMNS = 256
MAX_REPORTED = 50  # header problems listed in one file error
# A cell may be as large as the file: Python's csv module refuses one over 131,072 characters, which
# failed a whole file for one oversized cell; the cell's field check then refuses its row
# (``too_long``) and the other rows are imported. (The setting is the process's: every CSV read here
# comes from an upload already capped by XINYONG_MAX_REQUEST_BYTES.)
CSV_FIELD_LIMIT = 256 * 1024 * 1024
csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))

FORMAT_CSV, FORMAT_XLSX = "csv", "xlsx"

# Envelope columns: (record key, code header, Chinese headers)
ENVELOPE_COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("id_number", "id_number", ("身份证号码", "身份证号")),
    ("name", "name", ("姓名",)),
    ("source_id", "source_id", ("来源编号",)),
    ("decided_at", "decided_at", ("决定日期",)),
    ("severity", "severity", ("严重程度",)),
)
ENVELOPE_ZH = {key: zh[0] for key, _code, zh in ENVELOPE_COLUMNS}
SEVERITY_ZH = {"轻微": "minor", "一般": "general", "严重": "serious"}
SEVERITY_LABEL = {v: k for k, v in SEVERITY_ZH.items()}


class FileError(Exception):
    """The file as a whole is refused: ``code`` is stable, the message bilingual, ``errors`` lists
    the details (one per missing or unknown column …) in the API's error shape."""

    def __init__(self, code: str, zh: str, en: str, errors: list[dict[str, str]] | None = None,
                 status: int = 422) -> None:
        self.code, self.zh, self.en, self.status = code, zh, en, status
        self.errors = errors if errors is not None else [
            {"field": "file", "code": code, "message": f"{zh} / {en}"}]
        super().__init__(f"{zh} / {en}")

    @property
    def message(self) -> str:
        return f"{self.zh} / {self.en}"


def _unsupported(hint_zh: str = "", hint_en: str = "") -> FileError:
    return FileError("unsupported_file", f"只支持 CSV 或 XLSX 文件{hint_zh}",
                     f"only CSV or XLSX files are accepted{hint_en}")


# ---- what are these bytes? -----------------------------------------------------------------------

_CONTROL = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_OLE = b"\xd0\xcf\x11\xe0"  # an OLE compound file: an old .xls, or a workbook encrypted with a password
# the stream an encrypted workbook (Excel, WPS) keeps its real content in, named in the file's directory
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (_OLE, "；旧版 Excel（.xls）文件请另存为 .xlsx",
     "; save an old Excel (.xls) file as .xlsx"),
    (b"%PDF", "", ""),
    (b"\x89PNG", "", ""),
    (b"\xff\xd8\xff", "", ""),
    (b"GIF8", "", ""),
    (b"\x1f\x8b", "", ""),
    (b"7z\xbc\xaf", "", ""),
    (b"Rar!", "", ""),
)


@dataclass(frozen=True)
class Sniffed:
    format: str  # csv | xlsx
    encoding: str | None = None  # CSV: utf-8 | utf-8-sig | gb18030 | gbk (GB18030 with Windows' € = 0x80)
    text: str | None = None  # CSV: the decoded text


def _control_ratio(data: bytes) -> float:
    sample = data[: 1 << 20]
    return (len(sample) - len(sample.translate(None, _CONTROL))) / max(1, len(sample))


XLSX_SUFFIXES = (".xlsx", ".xlsm")
_LOCAL_HEADER = re.compile(rb"PK\x03\x04")


def _zip_local_names(data: bytes, span: int = 1 << 16) -> Iterator[bytes]:
    """The entry names of the zip's local file headers in its first ``span`` bytes: what is left to
    read of a zip whose end (the central directory) is cut off."""
    head = data[:span]
    for m in _LOCAL_HEADER.finditer(head):
        at = m.start()
        if at + 30 > len(head):
            return
        (length,) = struct.unpack_from("<H", head, at + 26)
        yield head[at + 30 : at + 30 + length]


def _damaged_zip(data: bytes, filename: str | None) -> FileError:
    """A zip that cannot be opened: ``bad_xlsx`` when it is recognisably a workbook (its entries are
    ``xl/…``, or it is named .xlsx), else ``unsupported_file``. The name never decides how a file is read;
    it only names what a broken zip was meant to be."""
    name = unicodedata.normalize("NFKC", filename or "").strip().lower()
    if name.endswith(XLSX_SUFFIXES) or any(n.startswith(b"xl/") for n in _zip_local_names(data)):
        return FileError("bad_xlsx", "工作簿已损坏（压缩包不完整或已损坏），无法读取：请用 Excel 重新保存后再上传",
                         "the workbook is damaged (its zip archive is cut short or broken) and cannot be read: "
                         "save it again in Excel and upload it again")
    return _unsupported("（压缩包已损坏）", " (the zip archive is damaged)")


def check_zip(data: bytes, filename: str | None = None) -> None:
    """An XLSX must be a zip holding the workbook parts, and not a zip bomb (sizes from the directory;
    Python's zip reader stops at the declared size, so a directory that lies fails its CRC check)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            NotImplementedError) as exc:
        raise _damaged_zip(data, filename) from exc
    names = {i.filename for i in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise _unsupported("（这是一个压缩包，但不是 Excel 工作簿）",
                           " (this is a zip archive but not an Excel workbook)")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    worst = max((i.file_size / max(1, i.compress_size) for i in infos if i.file_size > 1 << 20), default=0.0)
    if len(infos) > MAX_ZIP_ENTRIES or total > MAX_UNCOMPRESSED or total / max(1, packed) > MAX_RATIO \
            or worst > MAX_RATIO:
        raise FileError("zip_bomb", f"工作簿解压后过大（{total // (1024 * 1024)} MB）或压缩比异常，已拒绝",
                        f"the workbook expands to {total // (1024 * 1024)} MB or is compressed suspiciously "
                        f"well (limits: {MAX_UNCOMPRESSED // (1024 * 1024)} MB, ratio {MAX_RATIO}); refused")


def _cp936_euro(exc: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: the byte 0x80, which GB18030 does not have, is "€" in Windows' code page
    936 (what Excel on Chinese Windows calls GBK). Python's own ``gbk``/``cp936`` codec refuses it too."""
    if isinstance(exc, UnicodeDecodeError) and exc.object[exc.start : exc.end] == b"\x80":
        return "€", exc.end
    raise exc


_CP936_EURO = "xinyong.imports.cp936_euro"
codecs.register_error(_CP936_EURO, _cp936_euro)


def nul_line(data: bytes) -> int | None:
    """The line of the first NUL byte of a CSV that is text but for a few of them (an old system's
    export padding its fields), else None (no NUL, or binary content: many, or no text around them).
    Also the batch comparison's (``measures.batch.parse``)."""
    at = data.find(b"\x00")
    if at < 0 or data.count(b"\x00") > max(16, len(data) // 100):  # many: binary, or UTF-16 without its BOM
        return None
    rest = data.replace(b"\x00", b"")
    if not rest.strip() or _control_ratio(rest) > 0.01:
        return None
    for encoding in ("utf-8", "gb18030"):
        try:
            rest[: 1 << 20].decode(encoding, errors="strict" if len(rest) <= 1 << 20 else "ignore")
        except UnicodeDecodeError:
            continue
        return data.count(b"\n", 0, at) + 1
    return None


NUL_HINT = ("文件第{line}行有空字符（NUL，\\0），CSV 文本中不能有空字符。请用文本编辑器删除后重新保存，或从原系统重新导出",
            "line {line} of the file holds a NUL character (\\0), which a CSV's text cannot hold; remove it with a "
            "text editor and save again, or export the file again")


def _nul_in_text(data: bytes) -> FileError | None:
    """A CSV refused for a NUL byte says so, with the line of the first one, instead of "only CSV or
    XLSX files are accepted" about a CSV."""
    line = nul_line(data)
    if line is None:
        return None
    return _unsupported("：" + NUL_HINT[0].format(line=line), ": " + NUL_HINT[1].format(line=line))


_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_UTF16_SAMPLE = 4096


def _utf16_without_bom(data: bytes) -> bool:
    """Text saved as UTF-16 without its byte-order mark (a program's "Unicode" export): every ASCII
    character — digits, commas, line breaks, most of a CSV — is a byte and a NUL, so the NULs stand at
    one parity (odd for little-endian, even for big-endian; a few at the other one are Chinese characters
    such as 一, U+4E00), at least one in five pairs, and the sample reads as UTF-16 text of lines or
    cells. A CSV padded with NUL bytes (an old system's export) has them in runs, at both parities;
    binary content does not read as such text."""
    sample = data[:_UTF16_SAMPLE]
    sample = sample[: len(sample) - len(sample) % 2]
    pairs = len(sample) // 2
    if pairs < 4:
        return False
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if min(even, odd) * 8 > max(even, odd) or max(even, odd) * 5 < pairs:
        return False
    try:
        text = sample.decode("utf-16-le" if odd > even else "utf-16-be")
    except UnicodeDecodeError:
        return False
    if "\x00" in text or not any(c in text for c in ",\t\n"):
        return False
    return sum(1 for c in text if c < " " and c not in "\t\r\n") * 100 <= len(text)


def _wide_unicode(data: bytes) -> str | None:
    """``UTF-32`` or ``UTF-16`` when the file is text in one of those (by its byte-order mark, or for
    UTF-16 without one, :func:`_utf16_without_bom`), which a CSV upload refuses as ``wrong_encoding``
    naming it (UTF-32's mark begins with UTF-16's: it is looked at first)."""
    if data[:4] in _UTF32_BOMS:
        return "UTF-32"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or _utf16_without_bom(data):
        return "UTF-16"
    return None


def sniff(data: bytes, filename: str | None = None) -> Sniffed:
    """Type by content (never by file name), and for CSV the encoding. ``filename`` only names the error
    of a damaged zip (:func:`_damaged_zip`)."""
    if not data or not data.strip():
        raise FileError("empty_file", "文件为空", "the file is empty")
    if data[:2] == b"PK":
        check_zip(data, filename)
        return Sniffed(FORMAT_XLSX)
    if data.startswith(_OLE) and _ENCRYPTED_PACKAGE in data:
        raise _unsupported("；工作簿设有打开密码（已加密），请取消密码后另存为 .xlsx 再上传",
                           "; the workbook has an opening password (it is encrypted): remove the password, "
                           "save it as .xlsx and upload it again")
    for magic, zh, en in _MAGIC:
        if data.startswith(magic):
            raise _unsupported(zh, en)
    wide = _wide_unicode(data)
    if wide is not None:
        raise FileError("wrong_encoding", f"文件是 {wide} 编码，请另存为“CSV UTF-8”或 GBK 编码的 CSV",
                        f"the file is {wide} encoded: save it as 'CSV UTF-8' or as GBK-encoded CSV")
    if b"\x00" in data or _control_ratio(data) > 0.01:
        raise _nul_in_text(data) or _unsupported()
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return Sniffed(FORMAT_CSV, "utf-8-sig", data[3:].decode("utf-8"))
        except UnicodeDecodeError:
            pass
    else:
        try:
            return Sniffed(FORMAT_CSV, "utf-8", data.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    try:
        return Sniffed(FORMAT_CSV, "gb18030", data.decode("gb18030"))
    except UnicodeDecodeError:
        pass
    try:  # Windows' GBK (code page 936): GB18030 but for "€", its single byte 0x80
        return Sniffed(FORMAT_CSV, "gbk", data.decode("gb18030", _CP936_EURO))
    except UnicodeDecodeError:
        raise FileError("wrong_encoding", "无法识别文件编码：CSV 文件应为 UTF-8 或 GBK 编码",
                        "cannot decode the file: a CSV file must be UTF-8 or GBK encoded") from None


# ---- headers ---------------------------------------------------------------------------------------

def norm_header(header: str) -> str:
    """Header matching ignores width (（元） = (元)), case, spaces (``姓　名``) and a required-marker ``*``.
    Also the batch comparison's (``measures.batch.layout_of``)."""
    h = unicodedata.normalize("NFKC", header)
    return "".join(h.split()).strip("*").casefold()


ENVELOPE, FIELD, IGNORED = "envelope", "field", "ignored"

# Columns of government sheets that hold nothing a record takes — a row's number (序号, 行号: its place
# in the sheet) and a remark (备注: notes for the reader of the sheet) — are accepted and ignored: their
# content is neither imported nor stored, and the job names them (``ignored_columns``). A catalog field
# of the same name is the field (an item may have a 备注). Not 编号, which may be the record's own id (来源编号)
# or a document's number (案件编号, 证书编号), nor 说明, which may be an item's text (情况说明): ignoring
# those could drop a record's data without a word, so they are refused as any unknown column.
IGNORED_HEADERS = ("序号", "行号", "备注")


@dataclass(frozen=True)
class Column:
    index: int
    header: str  # as written in the file
    kind: str | None  # envelope | field | ignored (序号, 备注 …) | None (a column without a header)
    key: str | None  # record key (envelope) or field name
    hidden: bool = False  # the workbook hides it (hidden, or of width 0): the officer does not see it


@dataclass
class Header:
    row_number: int
    columns: list[Column]

    @property
    def ignored(self) -> list[str]:
        """The headers of the columns ignored (序号, 备注 …), as written."""
        return [c.header for c in self.columns if c.kind == IGNORED]

    @property
    def skipped(self) -> frozenset[int]:
        """The 0-based indexes of the columns ignored: a row with values only there is blank."""
        return frozenset(c.index for c in self.columns if c.kind == IGNORED)

    @property
    def hidden_read(self) -> list[tuple[str, str]]:
        """The columns read (the envelope's and the item's fields) that the workbook hides: (header as
        written, column letters). Their values are imported as any column's: the job says so."""
        return [(c.header, column_name(c.index)[1]) for c in self.columns if c.hidden and c.kind in (ENVELOPE, FIELD)]

    def hidden_read_with_values(self, rows: Sequence[Row]) -> list[tuple[str, str]]:
        """:attr:`hidden_read`, only the columns that hold a value in at least one of the data ``rows``:
        a hidden column left empty imports nothing the officer did not see."""
        hidden = [c for c in self.columns if c.hidden and c.kind in (ENVELOPE, FIELD)]
        return [(c.header, column_name(c.index)[1]) for c in hidden
                if any(c.index < len(cells) and not _blank((cells[c.index],)) for _n, cells in rows)]

    def header_of(self, key: str) -> str | None:
        for c in self.columns:
            if c.key == key:
                return c.header
        return None


def required_columns(spec: ItemSpec) -> list[tuple[str, str, str]]:
    """(kind, key, Chinese name) of the columns a file for ``spec`` must have."""
    out = [(ENVELOPE, k, ENVELOPE_ZH[k]) for k in ("id_number", "name", "source_id", "decided_at")]
    if spec.severities:
        out.append((ENVELOPE, "severity", ENVELOPE_ZH["severity"]))
    out.extend((FIELD, f.name, f.name_zh) for f in spec.fields if f.required)
    return out


def template_headers(spec: ItemSpec) -> list[str]:
    """The header row of an item's template: Chinese names, envelope first."""
    heads = [ENVELOPE_ZH[k] for k in ("id_number", "name", "source_id", "decided_at")]
    if spec.severities:
        heads.append(ENVELOPE_ZH["severity"])
    heads.extend(f.name_zh for f in spec.fields)
    return heads


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else str(v)


def column_name(index: int) -> tuple[int, str]:
    """A column by its 0-based index as a spreadsheet names it: (its number, its letters), 11 → (12, "L")."""
    n, letters = index + 1, ""
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return index + 1, letters


def map_header(cells: Sequence[Any], spec: ItemSpec, row_number: int = 1,
               hidden: Container[int] = ()) -> Header:
    """Match header cells to the record envelope and the item's fields; refuse unknown, duplicate and
    missing columns, listing all of them at once. ``hidden``: the 1-based numbers of the columns a
    workbook hides (an unknown one is named as hidden, with its letter: the officer does not see it; a
    known one is read, and marked: :attr:`Header.hidden_read`)."""
    aliases: dict[str, tuple[str, str]] = {}
    for alias, fname in spec.header_aliases().items():
        aliases[norm_header(alias)] = (FIELD, fname)
    for key, code, zhs in ENVELOPE_COLUMNS:
        if key == "severity" and not spec.severities:
            continue
        for a in (code, *zhs):
            aliases[norm_header(a)] = (ENVELOPE, key)
    ignored = {norm_header(h) for h in IGNORED_HEADERS} - aliases.keys()  # a field of the item's name wins
    if len(cells) > MAX_COLUMNS:
        n = cells[-1].column if isinstance(cells[-1], FarValue) else len(cells)
        raise FileError("too_many_columns", f"列数过多（{n}列）", f"too many columns ({n})")
    columns: list[Column] = []
    unknown: list[dict[str, str]] = []
    named: list[tuple[str, str]] = []  # the unknown columns as the refusal's headline names them (zh, en)
    dupes: list[dict[str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    first_at: dict[tuple[str, str], int] = {}
    for i, raw in enumerate(cells):
        text = _cell_text(raw).strip()
        if not text:
            columns.append(Column(i, "", None, None))
            continue
        # echoed in the refusal: a file saved without its header row has a person's row here, its ID
        # number masked; in a number cell it reads 1.20101198503091e+17, masked as its whole digits
        numeral = str(int(raw)) if _inexact_number(raw) and math.isfinite(raw) else text
        shown = mask_id_numbers_in(numeral)[:64]
        target = aliases.get(norm_header(text))
        if target is None and norm_header(text) in ignored:  # 序号, 备注: accepted, never read (twice is no harm)
            columns.append(Column(i, text, IGNORED, None, i + 1 in hidden))
            continue
        if target is None:
            if norm_header(text) == "severity" or norm_header(text) == norm_header(ENVELOPE_ZH["severity"]):
                zh, en = "该事项没有严重程度，请删除此列", "this item has no severity; remove the column"
            else:
                zh, en = "目录中没有此列", "no such column for this catalog item"
            where_zh = where_en = ""
            if i + 1 in hidden:  # the officer does not see it: say where it is
                number, letters = column_name(i)
                where_zh = f"（第{number}列（{letters}），是隐藏列：请取消隐藏后删除该列）"
                where_en = f" (column {letters}, hidden: unhide the column and delete it)"
                named.append((f"{shown}（隐藏的{letters}列）", f"{shown} (hidden column {letters})"))
            else:
                named.append((shown, shown))
            unknown.append({"field": shown, "code": "unknown_column",
                            "message": f"未知的列“{shown}”{where_zh}：{zh} / unknown column '{shown}'{where_en}: {en}"})
            columns.append(Column(i, text, None, None))
            continue
        if target in seen:
            # named with both places (第12列（L）): a repeated column is far to the right of the first
            first, at = seen[target][:64], column_name(first_at[target])
            here = column_name(i)
            dupes.append({"field": shown, "code": "duplicate_column",
                          "message": f"第{here[0]}列（{here[1]}）“{shown}”与第{at[0]}列（{at[1]}）“{first}”重复 / "
                                     f"column {here[1]} '{shown}' repeats column {at[1]} '{first}'"})
            continue
        seen[target] = text
        first_at[target] = i
        columns.append(Column(i, text, target[0], target[1], i + 1 in hidden))  # hidden: read, and said (Header)
    missing = [{"field": key, "code": "missing_header",
                "message": f"缺少必需的列“{zh}”（{key}） / missing required column '{zh}' ({key})"}
               for kind, key, zh in required_columns(spec) if (kind, key) not in seen]
    problems = (unknown + dupes + missing)[:MAX_REPORTED]
    if problems:
        if unknown and not seen:  # none of the item's columns: the file has no header row (data from row 1)
            raise FileError("missing_header",
                            f"第{row_number}行不是表头（其中没有本事项的任何列）：请在首行加上表头，可下载模板参照",
                            f"row {row_number} is not a header (it holds none of the item's columns): put the header "
                            "row first; the item's template shows it", problems)
        if unknown:
            raise FileError("unknown_column", f"第{row_number}行表头中有未知的列：{'、'.join(z for z, _e in named[:10])}",
                            f"the header (row {row_number}) has unknown columns: {', '.join(e for _z, e in named[:10])}",
                            problems)
        if dupes:
            raise FileError("duplicate_column", "表头中有重复的列", "the header repeats a column", problems)
        names_zh = "、".join(zh for kind, key, zh in required_columns(spec) if (kind, key) not in seen)
        names_en = ", ".join(key for kind, key, _zh in required_columns(spec) if (kind, key) not in seen)
        raise FileError("missing_header", f"缺少必需的列：{names_zh}",
                        f"missing required columns: {names_en}", problems)
    return Header(row_number, columns)


# ---- reading rows ----------------------------------------------------------------------------------

Row = tuple[int, Sequence[Any]]  # (spreadsheet row number, cells)


def _blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _data_apart(cells: Sequence[Any], skip: frozenset[int]) -> bool:
    """Whether a row has a value outside the ignored columns ``skip`` (序号, 备注): once a row of a file with
    such columns, stopping at its first value (a data row's first cells)."""
    for i, c in enumerate(cells):
        if c is None or i in skip:
            continue
        if type(c) is not str or (c and not c.isspace()):
            return True
    return False


_CONTENT_RE = re.compile(r"\S")


def _header_line(text: str) -> str:
    """The first line that is not blank (spaces and tabs only): the header's, whatever blank lines come
    before it. (A line of commas is not blank here: the file is comma-separated.)"""
    m = _CONTENT_RE.search(text)
    if m is None:
        return ""
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.start())
    return text[start:] if end < 0 else text[start:end]


def csv_delimiter(text: str) -> str:
    """Tab when the header line has tabs and no comma, else comma. The header line: the first
    non-blank line holding a tab or a comma among the first few (a title line above the header, typed
    without separators, decides nothing). Also the batch comparison's (``measures.batch._rows``)."""
    rest = text[:1 << 16]  # (the file's first lines: no copy of a large file)
    for _ in range(TITLE_ROWS + 1):
        line = _header_line(rest)
        if not line:
            break
        if "," in line or "\t" in line:
            return "\t" if "," not in line else ","
        rest = rest[rest.find(line) + len(line):]
    return ","


def _csv_reader(text: str) -> Iterator[list[str]]:
    delimiter = csv_delimiter(text)
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)


def _csv_rows(text: str) -> Iterator[Row]:
    reader = _csv_reader(text)
    delimiter = csv_delimiter(text)
    n = 0
    try:
        for n, cells in enumerate(reader, start=1):  # noqa: B007 - n is read in the except clause
            if _swallowed(cells, delimiter):
                raise _merged_rows(text, n)
            yield n, cells
    except csv.Error as exc:
        raise FileError("malformed_csv", f"CSV 格式错误（第{n + 1}行附近）：{str(exc)[:100]}",
                        f"malformed CSV near row {n + 1}: {str(exc)[:100]}") from None


# Excel in Chinese (Japanese, Korean) saves its own date formats as built-in number formats with no
# format code in the file: 2024年3月5日 is 31, 2024年3月 57, 3月5日 58 … (ECMA-376 §18.8.30). openpyxl
# knows only the international built-ins (14-22, 45-47) and read such a cell as its serial number
# (45356), refused as wrong_type. The time formats of that block (32-35, 55, 56) are left as they are.
CJK_DATE_FORMATS = frozenset({27, 28, 29, 30, 31, 36, 50, 51, 52, 53, 54, 57, 58})


class _Workbook:
    """The first worksheet of an XLSX, read-only and values only (openpyxl parses its XML with
    defusedxml: no entity expansion, no external entities)."""

    def __init__(self, data: bytes) -> None:
        import openpyxl

        check_zip(data)
        try:
            self.wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True,
                                             keep_links=False)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a damaged workbook
            raise _xlsx_error(exc) from None
        # a style whose number format is still a built-in id there has no format code of its own
        # (openpyxl renumbers the custom ones from 164): it is the CJK date format
        self.wb._date_formats = set(self.wb._date_formats) | {
            i for i, style in enumerate(getattr(self.wb, "_cell_styles", ())) if style.numFmtId in CJK_DATE_FORMATS}
        sheets = self.wb.worksheets
        if not sheets:
            self.close()
            raise FileError("empty_file", "工作簿中没有工作表", "the workbook has no worksheet")
        # the first sheet is the first one Excel or WPS shows: a hidden sheet (the lists behind a
        # template's drop-downs, often put first) is neither seen by the officer nor read here
        shown = [ws for ws in sheets if getattr(ws, "sheet_state", "visible") == "visible"] or sheets
        self.ws = shown[0]
        # named in a refusal: a sheet may be named by a person's ID number (one sheet a person)
        self.other_sheets = [mask_id_numbers_in(str(ws.title))[:31] for ws in shown[1:]]
        self.merged: list[str] = []  # the sheet's merged ranges ("D2:D5"), known once its rows are read
        # the columns the sheet hides (``<col min max hidden="1">``, before its rows): known at its first row
        self.hidden_columns = ColumnRanges()
        self.hidden_rows: set[int] = set()  # the rows with values that the sheet hides, once they are read
        # ``<sheetFormatPr zeroHeight="1">`` (before the rows): every row without a height of its own is
        # hidden — Excel's "hide all the rows below", which shows only the rows given a height
        self.rows_hidden_by_default = False
        self.skip: frozenset[int] = frozenset()  # the ignored columns (序号, 备注), once the header is known

    def rows(self) -> Iterator[Row]:
        """Each ``<row>`` element of the sheet as (its row number, its values). A row number the sheet
        skips is not produced (it is blank), and nothing read is kept: see :meth:`_rows`."""
        try:
            yield from self._rows()
        except FileError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _xlsx_error(exc) from None

    def _rows(self) -> Iterator[Row]:
        """openpyxl's read-only rows without its two per-row leftovers, which made a 10 MB sheet of
        4,000,000 empty styled rows take 1.8 GB: its parser keeps every row's attributes
        (``row_dimensions``, about 340 bytes a styled row; a read-only sheet never uses them) and the
        XML tree keeps every parsed ``<row>`` element (cleared, but still a child of ``<sheetData>``,
        about 85 bytes a row). Here openpyxl's own parser reads each row's cells (shared strings, dates,
        booleans, cached formula values), then both are dropped. Its read-only iteration also produced
        one empty row per row number a sheet skips (``<row r="1000000000">`` is a loop of a billion);
        gaps cost nothing here."""
        from defusedxml.ElementTree import iterparse
        from openpyxl.worksheet._reader import COL_TAG, DATA_TAG, ROW_TAG, WorkSheetParser

        ws, wb = self.ws, self.wb
        with ws._get_source() as src:
            parser = WorkSheetParser(src, ws._shared_strings, data_only=wb.data_only, epoch=wb.epoch,
                                     date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
            sheet_data = None
            last = 0
            done = False
            for event, element in iterparse(src, events=("start", "end")):
                if done:  # after the sheet's data: only its merged cells are read (a few elements)
                    if event == "end":
                        if element.tag == MERGE_TAG and len(self.merged) < MAX_MERGED:
                            self.merged.append(str(element.get("ref", "")))
                        element.clear()
                    continue
                if event == "start":
                    if element.tag == DATA_TAG:
                        sheet_data = element
                    continue
                if element.tag == FORMAT_TAG:  # before the columns and rows: are rows hidden by default?
                    self.rows_hidden_by_default = element.get("zeroHeight") in _TRUE
                    continue
                if element.tag == COL_TAG:  # before the rows: the columns' widths, and which are hidden
                    if element.get("hidden") in _TRUE or _zero(element.get("width")):  # width 0: not seen either
                        self.hidden_columns.add(element.get("min"), element.get("max"))
                    continue
                if element.tag == ROW_TAG:
                    number, cells = parser.parse_row(element)
                    parser.row_dimensions.clear()
                    if sheet_data is not None:
                        sheet_data.clear()  # rows parsed ahead are held by the parser's events, not the tree
                    if number <= last:  # as openpyxl: a row number going back is skipped
                        continue
                    last = number
                    values = _values(cells)
                    if _no_data(values, self.skip) and _formula_results(element, cells, self.skip):
                        values = ()  # a formula dragged down past the data, a 序号 alone: a blank row
                    elif not _blank(values) and _row_hidden(element, self.rows_hidden_by_default):
                        self.hidden_rows.add(number)  # filtered out, hidden, or 0 high: see parse()
                    yield number, values
                elif element.tag == DATA_TAG:
                    done = True  # nothing after the sheet's data holds a value; its merged cells follow it

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a damaged workbook must not hide the real error
            self.wb.close()


_TRUE = ("1", "true")  # an XML boolean attribute that is set
FORMAT_TAG = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}sheetFormatPr"


def _row_hidden(row: Any, by_default: bool) -> bool:
    """Whether a ``<row>`` cannot be seen: hidden (a filter, a collapsed group, "hide"), of height 0, or,
    on a sheet whose rows are hidden by default (``<sheetFormatPr zeroHeight="1">``), without a height
    of its own (``ht``): such a sheet shows only the rows given one."""
    if row.get("hidden") in _TRUE:
        return True
    ht = row.get("ht")
    return by_default if ht is None else _zero(ht)


def _zero(size: str | None) -> bool:
    """Whether a ``<row ht>`` or ``<col width>`` is 0: a row of height 0 (a column of width 0) cannot be
    seen, as a hidden one cannot — a tool (or a hand dragging the border) may hide it so, without the
    ``hidden`` attribute. Read on rows and columns that give a size only (most give none)."""
    if size is None:
        return False
    try:
        return float(size) == 0
    except ValueError:
        return False


class ColumnRanges:
    """Column numbers (1-based) as a sheet's ``<col min max>`` elements give them: ``n in ranges``."""

    MAX_RANGES = 1000  # a real sheet has a few

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def add(self, low: str | None, high: str | None) -> None:
        with contextlib.suppress(TypeError, ValueError):
            if len(self.ranges) < self.MAX_RANGES:
                self.ranges.append((int(low or ""), int(high or low or "")))

    def __contains__(self, number: object) -> bool:
        return any(low <= number <= high for low, high in self.ranges)  # type: ignore[operator]


@dataclass(frozen=True)
class CellError:
    """A cell holding an Excel error value (``#N/A``, ``#REF!``, ``#VALUE!`` …): a formula that failed.
    Never a value: its row is refused (``formula_error``), naming the column."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class MergedCell:
    """An empty cell of a data row inside merged cells (``D2:D5``), not their first: Excel shows the
    first cell's value over the whole range, but only the first cell holds it. Never a value: its row
    is refused (``merged_cell``), naming the column and the range, instead of the field being
    ``missing`` (or, optional, left out) while the officer sees it filled."""

    ref: str

    def __str__(self) -> str:
        return ""


MERGE_TAG = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}mergeCell"
MAX_MERGED = 100_000  # merged ranges read from a sheet
MERGED_CELLS_BUDGET = 2_000_000  # covered cells marked in a file at most (a real sheet has far fewer)
_RANGE_RE = re.compile(r"^\$?([A-Z]{1,3})\$?(\d{1,7}):\$?([A-Z]{1,3})\$?(\d{1,7})$")


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _mark_merged(rows: list[Row], merged: Sequence[str], header: Header) -> None:
    """Mark, in ``rows`` (data rows, in order), each empty cell of a headed column that merged cells
    cover (every cell of a range but its first) as :class:`MergedCell`."""
    import bisect

    if not merged or not rows:
        return
    headed = [c.kind in (ENVELOPE, FIELD) for c in header.columns]
    numbers = [n for n, _cells in rows]
    budget = MERGED_CELLS_BUDGET
    patched: dict[int, list[Any]] = {}
    for ref in merged:
        m = _RANGE_RE.match(ref.upper())
        if m is None:
            continue
        c1, r1, c2, r2 = _column_number(m[1]), int(m[2]), _column_number(m[3]), int(m[4])
        cols = [c for c in range(c1, min(c2, len(headed)) + 1) if headed[c - 1]]
        if not cols:
            continue
        for k in range(bisect.bisect_left(numbers, r1), bisect.bisect_right(numbers, r2)):
            n = numbers[k]
            for c in cols:
                if (n, c) == (r1, c1):
                    continue  # the range's first cell: it holds the value
                budget -= 1
                if budget < 0:
                    return
                cells = patched.get(k)
                if cells is None:
                    cells = patched[k] = list(rows[k][1])
                if len(cells) < c:
                    cells.extend([None] * (c - len(cells)))
                v = cells[c - 1]
                if v is None or (isinstance(v, str) and not v.strip()):
                    cells[c - 1] = MergedCell(ref.upper())
    for k, cells in patched.items():
        rows[k] = (rows[k][0], tuple(cells))


@dataclass(frozen=True)
class FarValue:
    """The first value of a row beyond column :data:`MAX_COLUMNS`, standing alone after the row's first
    MAX_COLUMNS values with its real column: such a value has no header (a header has at most
    MAX_COLUMNS columns), and a row is never widened to it (one cell in column XFD made a row of 16,384
    values: a 1 MB sheet of 20,000 such rows took 2.6 GB)."""

    column: int  # 1-based
    value: Any


def _values(cells: list[dict[str, Any]]) -> tuple[Any, ...]:
    """A row's values by column, as openpyxl's read-only ``iter_rows(values_only=True)`` gives them
    (a cell after the row's last one by column is dropped), at most :data:`MAX_COLUMNS` of them and a
    :class:`FarValue`."""
    if not cells:
        return ()
    last = cells[-1]["column"]
    width = min(last, MAX_COLUMNS)
    values: list[Any] = [None] * width
    far: FarValue | None = None
    for c in cells:
        col = c["column"]
        value = c["value"]
        if c["data_type"] == "e" and value is not None:
            value = CellError(str(value))
        if 1 <= col <= width:
            values[col - 1] = value
        elif width < col <= last and not _blank((value,)) and (far is None or col < far.column):
            far = FarValue(col, value)
    if far is not None:
        values.append(far)
    return tuple(values)


_MIDNIGHT = time(0)


def _no_data(values: Sequence[Any], skip: frozenset[int]) -> bool:
    """Nothing in the row but blanks, zeros (``0``, ``FALSE``, or a zero in a date or time format: 00:00)
    and values of ignored columns (``skip``: 序号, 备注), and at least one of these: all that a formula
    dragged down a template past the data (``=B5*C5``, ``=SUM(…)``, ``=D5``) shows on an empty row (its
    ``""`` results are read as empty already), or a template numbered down to row 500. Once a row,
    stopping at its first real value (a data row's first cells, mostly)."""
    found = False
    for i, v in enumerate(values):
        if v is None:
            continue
        t = type(v)
        if t is str:
            if v and not v.isspace():
                if i not in skip:
                    return False
                found = True
        elif i in skip or ((t is int or t is float or t is bool) and v == 0) or (t is time and v == _MIDNIGHT) \
                or (t is timedelta and not v):
            found = True
        else:
            return False
    return found


def _formula_results(row: Any, cells: Sequence[dict[str, Any]], skip: frozenset[int]) -> bool:
    """Whether every valued cell of a ``<row>`` element (``cells`` as openpyxl parsed them, in order) but
    those of ignored columns is a formula's result: a zero typed in is data (its row is refused for what
    it lacks, as before)."""
    from openpyxl.worksheet._reader import FORMULA_TAG

    for element, cell in zip(row, cells, strict=False):
        v = cell["value"]
        if v is not None and type(v) is not str and cell["column"] - 1 not in skip \
                and element.find(FORMULA_TAG) is None:
            return False
    return True


def _xlsx_error(exc: BaseException) -> FileError:
    try:
        from defusedxml import DefusedXmlException
    except ImportError:  # pragma: no cover
        DefusedXmlException = ()  # type: ignore[assignment]  # noqa: N806
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:  # openpyxl wraps the parser's error in a ValueError
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if any(isinstance(e, DefusedXmlException) for e in chain):
        return FileError("unsafe_xlsx", "工作簿含有不安全的 XML 内容（实体或 DTD），已拒绝",
                         "the workbook contains unsafe XML (entities or a DTD); refused")
    if isinstance(exc, zipfile.BadZipFile):
        return FileError("bad_xlsx", "工作簿已损坏，无法读取", "the workbook is damaged and cannot be read")
    return FileError("bad_xlsx", "工作簿无法读取，请用 Excel 另存为 .xlsx 后重试",
                     "the workbook cannot be read; save it again as .xlsx in Excel and retry")


def _rows_of(sniffed: Sniffed, data: bytes) -> tuple[Iterator[Row], Callable[[], None], _Workbook | None]:
    """The rows, how to close the file, and the workbook (None for a CSV)."""
    if sniffed.format == FORMAT_CSV:
        assert sniffed.text is not None
        return _csv_rows(sniffed.text), lambda: None, None
    wb = _Workbook(data)
    return wb.rows(), wb.close, wb


def _hidden_rows(rows: Sequence[int], header_row: int | None = None) -> FileError:
    """The whole file's refusal for data rows a sheet hides (a filter, hidden or collapsed rows): an
    officer who filtered the sheet to the rows to send, and one who filtered it to look at some rows and
    forgot, upload the same file. Importing every row does the first one wrong without a word, importing
    only the visible ones the second: neither is guessed. A hidden **header** row (``header_row``) is
    refused by the same rule — whoever reviews the file in Excel must see what is imported, and without
    the header they cannot see which column is which field."""
    zh_parts, en_parts = [], []
    if header_row is not None:
        zh_parts.append(f"工作表的表头行（第{header_row}行）是隐藏的（被筛选掉、被隐藏或行高为0）：核对文件的人看不到各列是哪个字段")
        en_parts.append(f"the sheet's header row (row {header_row}) is hidden (filtered out, hidden, or of zero height): "
                        "whoever checks the file cannot see which column is which field")
    if rows:
        shown = "、".join(str(n) for n in rows[:10]) + ("等" if len(rows) > 10 else "")
        shown_en = ", ".join(str(n) for n in rows[:10]) + (" …" if len(rows) > 10 else "")
        zh_parts.append(f"工作表中有{len(rows)}个数据行是隐藏的（被筛选掉、被隐藏或行高为0）：第{shown}行。导入会读取所有的行，"
                        "包括看不见的行")
        en_parts.append(f"{len(rows)} data rows of the sheet are hidden (filtered out, hidden, or of zero height): rows "
                        f"{shown_en}. An import reads every row, the ones you cannot see included")
    zh = "；".join(zh_parts) + "，因此整个文件未导入："
    en = "; ".join(en_parts) + ", so nothing was imported: "
    if rows:
        zh += "如果只应导入看得见的行，请删除隐藏的行；如果所有的行都应导入，请清除筛选、取消隐藏，然后重新上传"
        en += ("delete the hidden rows if only the visible ones are to be imported, or clear the filter and unhide the "
               "rows if all are, then upload the file again")
    else:
        zh += "请取消隐藏表头行，然后重新上传"
        en += "unhide the header row, then upload the file again"
    error: dict[str, Any] = {"field": "file", "code": "hidden_rows", "message": f"{zh} / {en}",
                             "rows": list(rows[:MAX_REPORTED])}
    if header_row is not None:
        error["header_row"] = header_row
    return FileError("hidden_rows", zh, en, errors=[error])


def _too_many_read(limit: int, max_rows: int) -> FileError:
    return FileError("too_many_rows", f"文件的行数过多：连同空行最多读取 {limit} 行（数据行最多 {max_rows} 行），"
                     "请删除多余的空行或拆分文件",
                     f"too many rows: at most {limit} rows are read, blank rows included (at most {max_rows} "
                     "data rows); delete the blank rows or split the file")


def _too_many_rows(max_rows: int) -> FileError:
    return FileError("too_many_rows", f"数据行过多：一个文件最多 {max_rows} 行，请拆分文件",
                     f"too many rows: at most {max_rows} data rows per file; split the file")


def _counted(rows: Iterator[Row], max_rows: int, tick: Callable[[int], None] | None = None) -> Iterator[Row]:
    """The rows, each one read (blank or not) counted against ``READ_FACTOR × max_rows``; ``tick(read)``
    every :data:`TICK_ROWS` rows read."""
    limit = READ_FACTOR * max_rows
    for read, row in enumerate(rows, start=1):
        if read > limit:
            raise _too_many_read(limit, max_rows)
        if tick is not None and not read % TICK_ROWS:
            tick(read)
        yield row


TITLE_ROWS = 3  # title lines above the header ("2026年行政处罚信息公示表", often merged across the columns)


def _title_like(cells: Sequence[Any]) -> bool:
    """One text cell and nothing else: a title, never a header (a header names at least the four
    envelope columns)."""
    filled = [c for c in cells if not _blank((c,))]
    return len(filled) == 1 and isinstance(filled[0], str)


def _sheets_named(other_sheets: Sequence[str]) -> tuple[str, str]:
    return "、".join(f"“{n}”" for n in other_sheets[:5]), ", ".join(other_sheets[:5])


def _elsewhere(exc: FileError, spec: ItemSpec, other_sheets: Sequence[str]) -> FileError:
    """A header refusal of a workbook's first sheet that has none of the item's required columns — a
    cover or instructions sheet put first, the data on another sheet — says which sheet is read
    (only the first) and names the others; any other refusal is left as it is."""
    missing = sum(1 for e in exc.errors if e.get("code") == "missing_header")
    if not other_sheets or exc.code not in ("unknown_column", "missing_header") \
            or missing < len(required_columns(spec)):
        return exc
    zh, en = _sheets_named(other_sheets)
    return FileError(exc.code, f"{exc.zh}。只读取工作簿的第一个工作表，其中没有本事项的任何列：请把数据放在第一个工作表"
                     f"（其他工作表：{zh}）",
                     f"{exc.en}. Only a workbook's first sheet is read, and it has none of the item's columns: put the "
                     f"data on the first sheet (other sheets: {en})", exc.errors, exc.status)


def _header_and_rows(rows: Iterator[Row], spec: ItemSpec, other_sheets: Sequence[str] = (),
                     hidden: Container[int] = ()) -> tuple[Header, Iterator[Row]]:
    """The first non-blank row is the header — after up to :data:`TITLE_ROWS` title lines, skipped
    only when a header follows them: otherwise the first row's refusal is the file's (a whole header
    in one cell, say, from a file cut by semicolons, is refused naming that cell). In a workbook of
    several sheets, a first sheet without any of the item's columns says so (:func:`_elsewhere`)."""
    try:
        return _find_header(rows, spec, other_sheets, hidden)
    except FileError as exc:
        raise _elsewhere(exc, spec, other_sheets) from None


def _find_header(rows: Iterator[Row], spec: ItemSpec, other_sheets: Sequence[str],
                 hidden: Container[int] = ()) -> tuple[Header, Iterator[Row]]:
    first: FileError | None = None
    titles = 0
    for n, cells in rows:
        if _blank(cells):
            continue
        try:
            return map_header(cells, spec, n, hidden), rows
        except FileError as exc:
            if first is None:
                first = exc
            if not _title_like(cells):
                raise exc if titles else first from None
            titles += 1
            if titles > TITLE_ROWS:
                raise first from None
    if first is not None:
        raise first
    if other_sheets:  # the data may be on another sheet: say which one is read
        names, names_en = _sheets_named(other_sheets)
        raise FileError("empty_file", f"第一个工作表为空：只读取工作簿的第一个工作表，请把数据放在第一个工作表（其他工作表：{names}）",
                        "the first worksheet is empty: only a workbook's first sheet is read; put the data on "
                        f"the first sheet (other sheets: {names_en})")
    raise FileError("empty_file", "文件为空：没有表头", "the file is empty: no header row")


_NO_ROWS = FileError("empty_file", "文件中没有数据行（只有表头）",
                     "the file has no data rows (only a header)")


def read_header(data: bytes, spec: ItemSpec, sniffed: Sniffed | None = None,
                filename: str | None = None) -> tuple[Sniffed, Header]:
    """The quick check before a job is created: type, encoding, header, at least one data row."""
    sniffed = sniffed or sniff(data, filename)
    rows, close, wb = _rows_of(sniffed, data)
    try:
        if wb is None:
            header, rest = _header_and_rows(_counted(rows, MAX_ROWS), spec)
        else:
            header, rest = _header_and_rows(_counted(rows, MAX_ROWS), spec, wb.other_sheets, wb.hidden_columns)
            wb.skip = header.skipped
        skip = header.skipped
        for _n, cells in rest:
            if not _blank(cells) and (not skip or _data_apart(cells, skip)):
                return sniffed, header
        raise _NO_ROWS
    finally:
        close()


@dataclass
class ParsedFile:
    format: str
    encoding: str | None
    header: Header
    rows: list[Row] = field(repr=False)  # non-blank data rows, in order


def _csv_records(text: str, max_rows: int) -> list[list[str]]:
    reader = _csv_reader(text)
    limit = READ_FACTOR * max_rows
    try:
        records = list(itertools.islice(reader, limit + 1))
    except csv.Error as exc:
        raise _malformed_csv(text, str(exc)) from None
    if len(records) > limit:
        raise _too_many_read(limit, max_rows)
    if reader.line_num > len(records):  # some record ran over line breaks: rows merged by a stray quote?
        delimiter = csv_delimiter(text)
        for n, cells in enumerate(records, start=1):
            if _swallowed(cells, delimiter):
                raise _merged_rows(text, n)
    return records


_ROW_ID = {d: re.compile(rf'(?:^|{d})\s*"?[0-9]{{17}}[0-9Xx]"?\s*(?:{d}|$)') for d in (",", "\t")}


def _swallowed(cells: Sequence[str], delimiter: str) -> bool:
    """Whether a record that ran over line breaks holds, on a line after a break inside a cell, what
    looks like another row of the file — an ID number as a cell of its own among at least two
    delimiters: rows that a stray pair of quotes merged into one cell (``…,"依据`` … ``…,依据"``),
    which the strict reader takes as one valid record — the rows between would vanish into a text
    field, neither imported nor reported. A remark or an address over two lines, even one quoting an
    ID number in its text, is no row. (The batch comparison's reader refuses such a file too:
    ``xinyong.measures.batch``.)"""
    for c in cells:
        if "\n" in c or "\r" in c:
            for line in c.splitlines()[1:]:
                if line.count(delimiter) >= 2 and _ROW_ID[delimiter].search(line):
                    return True
    return False


def _merged_rows(text: str, row: int) -> FileError:
    """The whole file's refusal for record ``row`` (a CSV record's number: the sheet's row) that
    swallowed the rows after it, naming the lines of the file it spans."""
    reader = _csv_reader(text)
    start = end = 1
    for n, _cells in enumerate(reader, start=1):
        end = reader.line_num
        if n == row:
            break
        start = end + 1
    zh = (f"CSV 格式错误：第{row}行（文件第{start}至{end}行）有一个带引号的单元格跨行，且含有看似其他行的身份证号码："
          f"可能是引号没有成对，其后的行被并入这个单元格；整个文件未导入，请检查该行的引号")
    en = (f"malformed CSV: a quoted cell in row {row} (lines {start} to {end} of the file) runs over line breaks and "
          f"holds what looks like another row's ID number: an unpaired quote probably merged the rows after it into "
          f"that cell; nothing was imported: check the quotes in that row")
    return FileError("malformed_csv", zh, en, errors=[
        {"field": "file", "code": "malformed_csv", "message": f"{zh} / {en}", "row": row, "line": start,
         "found_at_line": end}])


def _malformed_csv(text: str, detail: str) -> FileError:
    """The whole file's refusal for broken quoting found while reading it all, naming the row and the
    line the broken record **starts** on — where its quotes are to be checked — not the line where the
    reader gave up (for a quote never closed, the file's last line). Read again only on this path."""
    reader = _csv_reader(text)
    row, start = 0, 1
    try:
        for _cells in reader:
            row += 1
            start = reader.line_num + 1
    except csv.Error:
        pass
    row, end = row + 1, max(reader.line_num, start)
    lines_zh = f"文件第{start}行" if end == start else f"文件第{start}至{end}行"
    lines_en = f"line {start} of the file" if end == start else f"lines {start} to {end} of the file"
    if end > start and "end of data" in detail:
        zh = f"CSV 格式错误：第{row}行（{lines_zh}）开始的带引号单元格直到文件末尾都没有结束"
        en = f"malformed CSV: the quoted cell starting in row {row} ({lines_en}) is never closed"
    else:
        zh = f"CSV 格式错误：第{row}行（{lines_zh}）的引号有误"
        en = f"malformed CSV: the quotes of row {row} ({lines_en}) are wrong ({detail[:100]})"
    zh += "；整个文件未导入，请检查该行的引号"
    en += "; nothing was imported: check the quotes in that row"
    return FileError("malformed_csv", zh, en, errors=[
        {"field": "file", "code": "malformed_csv", "message": f"{zh} / {en}", "row": row, "line": start}])


def parse(data: bytes, spec: ItemSpec, *, max_rows: int | None = None,
          tick: Callable[[int], None] | None = None) -> ParsedFile:
    """Read every non-blank data row (cells as read: text for CSV, typed values for XLSX). Every row
    read, blank or not, counts against ``READ_FACTOR × max_rows`` (``too_many_rows``); ``tick`` is
    called as rows are read (the runner touches its job's heartbeat)."""
    max_rows = MAX_ROWS if max_rows is None else max_rows
    sniffed = sniff(data)
    out: list[Row]
    if sniffed.format == FORMAT_CSV:
        assert sniffed.text is not None
        records = _csv_records(sniffed.text, max_rows)
        header, _rest = _header_and_rows(enumerate(records, start=1), spec)
        h = header.row_number - 1
        out = [(n, tuple(cells)) for n, cells in enumerate(records[h + 1 :], start=h + 2)
               if any(cells) and (cells[0].strip() or "".join(cells).strip())]
        del records
        skip = header.skipped
        if skip:  # a row with values only in ignored columns (序号, 备注) is blank
            out = [row for row in out if _data_apart(row[1], skip)]
    else:
        wb = _Workbook(data)
        try:
            header, rest = _header_and_rows(_counted(wb.rows(), max_rows, tick), spec, wb.other_sheets,
                                            wb.hidden_columns)
            wb.skip = header.skipped  # the rows read from here on: values only in 序号, 备注 make a blank row
            out = []
            for n, cells in rest:
                if not _blank(cells):
                    out.append((n, cells))
                    if len(out) > max_rows:
                        break
            else:  # the whole sheet read: its merged cells are known
                if wb.hidden_rows:  # the header row too: the same rule (see _hidden_rows)
                    hidden = [n for n, _cells in out if n in wb.hidden_rows]
                    header_hidden = header.row_number in wb.hidden_rows
                    if hidden or header_hidden:
                        raise _hidden_rows(hidden, header.row_number if header_hidden else None)
                _mark_merged(out, wb.merged, header)
        finally:
            wb.close()
    if len(out) > max_rows:
        raise _too_many_rows(max_rows)
    if not out:
        raise _NO_ROWS
    return ParsedFile(sniffed.format, sniffed.encoding, header, out)


# ---- cells to records ------------------------------------------------------------------------------

_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                      r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_SCI_RE = re.compile(r"^\d(?:\.\d+)?[eE]\+?\d+$")
# a date column's text that is a number of 5 digits (a decimal part for the time of day): Excel's day
# number of a date (46083 is 2026-03-02; 5 digits from 1927 to 2173) in a cell formatted General, as a CSV
# saved from it writes it. (A year alone, 2024, is not one: the records service's "YYYY-MM-DD" says it.)
_SERIAL_TEXT = re.compile(r"^\d{5}(?:\.\d+)?$")


def norm_date(s: str) -> str:
    """``2024/3/5``, ``2024.3.5``, ``2024年3月5日``, ``20240305``, ``2024-03-05 00:00:00`` → ``2024-03-05``;
    anything else unchanged (the records service then says what is wrong)."""
    if len(s) == 10 and s[4] == "-" and s[7] == "-":
        return s
    if len(s) == 8 and s.isascii() and s.isdigit():  # 20240305, as many departments' systems write dates
        return f"{s[:4]}-{s[4:6]}-{s[6:]}"
    m = _DATE_RE.match(s)
    if m is None:
        return s
    return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"


# Excel keeps 15 significant digits: a float cell of 10^15 or more may have lost its last digits (and
# from 2^53 on a float cannot even hold every whole number). An int cell (the sheet's XML holds plain
# digits) is exact at any size.
EXACT_FLOAT_LIMIT = 1e15


def _num_text(v: int | float) -> str:
    """A number cell as text: whole numbers as their plain digits (``20240000000000000``, never
    ``2.024e+16``). The text columns refuse the inexact ones first (:func:`_inexact_number`)."""
    if isinstance(v, float) and v.is_integer() and abs(v) < EXACT_FLOAT_LIMIT:
        return str(int(v))
    return str(v)


def _inexact_number(v: Any) -> bool:
    """A number cell whose digits cannot be trusted as text: a float of 10^15 or more (or not finite)."""
    return type(v) is float and not abs(v) < EXACT_FLOAT_LIMIT


def _as_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, int | float):
        return _num_text(v)
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == time(0) else v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, time | timedelta):
        return str(v)
    return str(v)


def cell_text(v: Any) -> str | None:
    """A cell as the text a record would get (None for an empty cell or a number whose digits are lost):
    the source id the data quality's rejection log names for a row the file's own checks refused."""
    if v is None or _inexact_number(v) or isinstance(v, CellError | MergedCell):
        return None
    return _as_text(v).strip() or None


def _row_error(column: str | None, fld: str, code: str, zh: str, en: str) -> dict[str, str]:
    return {"column": column or "", "field": fld, "code": code, "message": f"{zh} / {en}"}


# column kinds, the common ones first (compared by the per-row loop)
_K_FIELD_TEXT, _K_FIELD_RAW, _K_TEXT, _K_ID, _K_DATE, _K_FIELD_DATE, _K_SEV, _K_NONE, _K_SKIP = range(9)
_FIELD_KINDS = (_K_FIELD_TEXT, _K_FIELD_RAW, _K_FIELD_DATE)


def _extra_value(idx: int) -> dict[str, str]:
    return _row_error(None, "row", "extra_value", f"第{idx + 1}列没有表头却有内容",
                      f"column {idx + 1} has a value but no header")


class RowMapper:
    """Turns rows into record dicts for :func:`xinyong.records.service.ingest`, plus each row's own
    errors. Built once per file; :meth:`convert` is the per-row hot path."""

    def __init__(self, item_code: str, spec: ItemSpec, header: Header) -> None:
        self.item_code = item_code
        self.header = header
        self.width = len(header.columns)
        plan: list[tuple[int, str, str]] = []  # one per column, in column order
        self.column_of: dict[str, str] = {}  # record error field -> header as written
        # record error field -> the field's Chinese name in the catalog, which a row error's message names
        # (the header as written may be the code): read only to build an error
        self.labels: dict[str, str] = {}
        for i, c in enumerate(header.columns):
            assert c.index == i
            if c.kind == IGNORED:  # 序号, 备注: never read
                plan.append((_K_SKIP, str(i), c.header))
                continue
            if c.kind is None or c.key is None:
                plan.append((_K_NONE, str(i), c.header))
                continue
            if c.kind == ENVELOPE:
                kind = {"id_number": _K_ID, "decided_at": _K_DATE, "severity": _K_SEV}.get(c.key, _K_TEXT)
                self.column_of[c.key] = c.header
                self.labels[c.key] = ENVELOPE_ZH[c.key]
            else:
                ftype = spec.field_index[c.key].type
                kind = (_K_FIELD_DATE if ftype == "date" else
                        _K_FIELD_RAW if ftype in ("integer", "number", "boolean") else _K_FIELD_TEXT)
                self.column_of[f"fields.{c.key}"] = c.header
                self.labels[f"fields.{c.key}"] = spec.field_index[c.key].name_zh
            plan.append((kind, c.key, c.header))
        self.plan = plan
        # the text fast path (CSV): plain columns by index, the few special ones apart
        self._env_text = [(i, key) for i, (kind, key, _h) in enumerate(plan) if kind == _K_TEXT]
        self._field_text = [(i, key) for i, (kind, key, _h) in enumerate(plan) if kind < _K_TEXT]
        self._special = [(i, kind, key, head) for i, (kind, key, head) in enumerate(plan) if _K_TEXT < kind < _K_SKIP]
        self._pad = [""] * self.width

    def converter(self, fmt: str) -> Callable[[Sequence[Any]], tuple[dict[str, Any], list[dict[str, str]]]]:
        """The conversion for rows of a file of this format (CSV rows are all text)."""
        return self.convert_text if fmt == FORMAT_CSV else self.convert

    def convert_text(self, cells: Sequence[str]) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """:meth:`convert` for rows whose cells are all strings (CSV), about twice as fast."""
        errors: list[dict[str, str]] = []
        n = len(cells)
        if n != self.width:
            if n > self.width:
                for extra in range(self.width, n):
                    if cells[extra].strip():
                        errors.append(_extra_value(extra))
                        break
            else:
                cells = [*cells, *self._pad[n:]]
        record: dict[str, Any] = {"item": self.item_code}
        for i, key in self._env_text:
            v = cells[i].strip()
            if v:
                record[key] = v
        fields: dict[str, Any] = {}
        for i, key in self._field_text:
            v = cells[i].strip()
            if v:
                fields[key] = v
        for i, kind, key, head in self._special:
            v = cells[i].strip()
            if not v:
                continue
            if kind == _K_ID:
                if v[0] in "'=":
                    v = unmark_text(v)
                if _SCI_RE.match(v):
                    errors.append(_ID_AS_NUMBER(head))
                record[key] = v
            elif kind == _K_DATE:
                record[key] = _text_date(v, head, key, errors, self.labels)
            elif kind == _K_SEV:
                record[key] = SEVERITY_ZH.get(v, v.lower() if v.isascii() else v)
            elif kind == _K_FIELD_DATE:
                fields[key] = _text_date(v, head, f"fields.{key}", errors, self.labels)
            else:
                errors.append(_extra_value(i))
        record["fields"] = fields
        return record, errors

    def convert(self, cells: Sequence[Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
        record: dict[str, Any] = {"item": self.item_code}
        fields: dict[str, Any] = {}
        errors: list[dict[str, str]] = []
        for (kind, key, head), v in zip(self.plan, cells, strict=False):
            if type(v) is str:
                if not v or not (v := v.strip()):
                    continue
                if kind < _K_TEXT:
                    fields[key] = v
                elif kind == _K_TEXT:
                    record[key] = v
                elif kind == _K_ID:
                    if v[0] in "'=":
                        v = unmark_text(v)
                    if _SCI_RE.match(v):
                        errors.append(_ID_AS_NUMBER(head))
                    record[key] = v
                elif kind == _K_DATE:
                    record[key] = _text_date(v, head, key, errors, self.labels)
                elif kind == _K_FIELD_DATE:
                    fields[key] = _text_date(v, head, f"fields.{key}", errors, self.labels)
                elif kind == _K_SEV:
                    record[key] = SEVERITY_ZH.get(v, v.lower() if v.isascii() else v)
                elif kind == _K_NONE:
                    errors.append(_extra_value(int(key)))
            elif v is not None:  # typed cells (XLSX)
                if kind >= _K_NONE:  # no header (a row error), or ignored (序号, 备注)
                    if kind == _K_NONE:
                        errors.append(_extra_value(int(key)))
                elif type(v) is CellError:
                    errors.append(_FORMULA_ERROR(head, f"fields.{key}" if kind in _FIELD_KINDS else key, v.text,
                                                 self.labels))
                elif type(v) is MergedCell:
                    errors.append(_MERGED_CELL(head, f"fields.{key}" if kind in _FIELD_KINDS else key, v.ref,
                                               self.labels))
                elif kind == _K_ID:
                    if isinstance(v, int | float) and not isinstance(v, bool):
                        errors.append(_ID_AS_NUMBER(head))
                    else:
                        record[key] = _as_text(v)
                elif kind == _K_FIELD_RAW:
                    fields[key] = v
                elif kind in (_K_DATE, _K_FIELD_DATE) and _serial_like(v):
                    errors.append(_DATE_AS_NUMBER(head, f"fields.{key}" if kind == _K_FIELD_DATE else key, v,
                                                  self.labels))
                elif kind == _K_FIELD_DATE:
                    fields[key] = norm_date(_as_text(v))
                elif kind == _K_DATE:
                    record[key] = norm_date(_as_text(v))
                elif kind != _K_SEV and _inexact_number(v):  # a source id, name or text field: digits lost
                    errors.append(_STORED_AS_NUMBER(head, f"fields.{key}" if kind == _K_FIELD_TEXT else key,
                                                    self.labels))
                elif kind == _K_FIELD_TEXT:
                    fields[key] = _as_text(v).strip()
                else:
                    record[key] = _as_text(v).strip()
        if len(cells) > self.width:
            for extra in range(self.width, len(cells)):
                v = cells[extra]
                if v is not None and (not isinstance(v, str) or v.strip()):
                    errors.append(_extra_value(v.column - 1 if isinstance(v, FarValue) else extra))
                    break
        record["fields"] = fields
        return record, errors


def in_scientific_notation(value: str) -> bool:
    """``1.20101E+17``: a number a spreadsheet showed in scientific notation, its digits lost (an ID
    number in a column of numbers, saved as CSV as it is shown)."""
    return _SCI_RE.match(value) is not None


def unmark_text(value: str) -> str:
    """An ID number as exports made for Excel keep it text: ``'110101…`` (the apostrophe Excel reads
    as "this is text") or ``="110101…"`` (a formula giving the text), read as the number inside. One
    mark only, and only these two: neither can be part of an ID number, whatever else is left for the
    ID check to refuse."""
    if value[0] == "'":
        return value[1:].strip()
    if len(value) > 3 and value[0] == "=" and value[1] == '"' and value[-1] == '"':
        return value[2:-1].strip()
    return value


def _ID_AS_NUMBER(column: str) -> dict[str, str]:  # noqa: N802 - reads as a constant error
    return _row_error(column, "id_number", "id_stored_as_number",
                      "身份证号码以数字格式保存，18位号码会丢失末尾数字：请将该列设置为“文本”格式后重新填写",
                      "the ID number is stored as a number, which loses the last digits of an 18-digit "
                      "number: format the column as text and enter the numbers again")


def _STORED_AS_NUMBER(column: str, fld: str, labels: Mapping[str, str]) -> dict[str, str]:  # noqa: N802
    shown, label = column[:64], labels.get(fld, column)[:64]
    return _row_error(column, fld, "stored_as_number",
                      f"“{label}”（{fld}）以数字格式保存，超过15位的数字会丢失末尾数字：请将该列设置为“文本”格式后"
                      "重新填写",
                      f"'{shown}' ({fld}) is stored as a number, which loses the last digits of a number of more "
                      "than 15 digits: format the column as text and enter the values again")


def _FORMULA_ERROR(column: str, fld: str, value: str, labels: Mapping[str, str]) -> dict[str, str]:  # noqa: N802
    shown, value, label = column[:64], value[:16], labels.get(fld, column)[:64]
    return _row_error(column, fld, "formula_error",
                      f"“{label}”（{fld}）是公式的错误值 {value}：请修正公式，或直接填写内容",
                      f"'{shown}' ({fld}) holds the formula error {value}: correct the formula or enter the value")


def _MERGED_CELL(column: str, fld: str, ref: str, labels: Mapping[str, str]) -> dict[str, str]:  # noqa: N802
    shown, ref, label = column[:64], ref[:24], labels.get(fld, column)[:64]
    return _row_error(column, fld, "merged_cell",
                      f"“{label}”（{fld}）在合并单元格 {ref} 中：合并单元格的内容只保存在其第一个单元格里，本行的这一格是空的。"
                      "请取消合并，并在每一行填写内容",
                      f"'{shown}' ({fld}) is in the merged cells {ref}: merged cells keep their value in their first "
                      "cell only, and this row's cell is empty. Unmerge the cells and fill in every row")


def _text_date(v: str, head: str, fld: str, errors: list[dict[str, str]], labels: Mapping[str, str]) -> str:
    """A date column's text as a record takes it (``YYYY-MM-DD`` where it can be read so); a number of
    Excel's days (``46082``: a General cell saved as CSV) also adds its row error, as a number cell does."""
    if len(v) == 10 and v[4] == "-" and v[7] == "-":
        return v
    d = norm_date(v)
    if d is v and _SERIAL_TEXT.match(v):
        errors.append(_DATE_AS_NUMBER(head, fld, float(v), labels))
    return d


def _serial_like(v: Any) -> bool:
    """A number cell in a date column that is no 8-digit ``20240305``: Excel's day number of a date
    in a cell formatted "General" or "Number" (46082 is 2026-03-01), which the sheet shows as a number."""
    return (type(v) is int or type(v) is float) and not (10_000_000 <= v < 100_000_000 and float(v).is_integer())


def _DATE_AS_NUMBER(column: str, fld: str, value: float, labels: Mapping[str, str]) -> dict[str, str]:  # noqa: N802
    # quoted back, and kept with the job's row errors: an ID number in the wrong column never in the clear
    shown, number, label = column[:64], mask_id_numbers_in(_num_text(value))[:24], labels.get(fld, column)[:64]
    return _row_error(column, fld, "wrong_type",
                      f"“{label}”（{fld}）是数字 {number} 而不是日期（单元格为“常规”或“数值”格式时 Excel 显示的日期序号？）："
                      "请将该列设置为“日期”格式，或填写 YYYY-MM-DD",
                      f"'{shown}' ({fld}) is the number {number}, not a date (Excel's day number of a date in a cell "
                      "formatted General or Number?): format the column as a date, or enter YYYY-MM-DD")
