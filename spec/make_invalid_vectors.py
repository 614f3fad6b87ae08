"""Write the must-reject vectors of spec/tasz-v1.md, section 5: tiny ``.tasz`` files that each break
one rule, and ``manifest.json`` naming the rule and the error kind ``tascodec`` raises.

    python spec/make_invalid_vectors.py [OUT_DIR]     (default: spec/vectors/invalid next to this script)

Each file starts from one small valid container (fixed values, fixed timestamps) and changes one
thing: a JSON value, an array document, a chunk, or bytes of the ZIP structure.
"""
from __future__ import annotations

import hashlib
import io
import json
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

import google_crc32c
import numcodecs.zstd
import numpy as np

from tascodec.container import Content, Decoder, write_container
from tascodec.container.chunks import encode_chunk
from tascodec.container.layout import ArraySpec, array_doc

CREATED = "2000-01-01T00:00:00Z"
WRITER = {"name": "make_invalid_vectors", "version": "1", "created": CREATED}
DATE = (1980, 1, 1, 0, 0, 0)


def base_content(kind: str = "mlp") -> Content:
    D, d, C, H = 3, 2, 2, 2
    k = np.arange(64, dtype=np.float32)
    w = {"w1": (H, d + C + 1), "b1": (H,), "w2": (D, H), "b2": (D,), "mean": (D,), "std": (D,)}
    weights = {n: ((k[:int(np.prod(s))] % 7 - 3) / 4).reshape(s).astype(np.float32) for n, s in w.items()}
    weights["std"] = weights["std"] ** 2 + 1
    if kind == "mlp":
        dec = Decoder("mlp", D, d, C, H, weights=weights)
    elif kind == "linear":
        dec = Decoder("linear", D, d, C, 0, activation="identity",
                      weights={"w": weights["w2"].copy(), "b": weights["b2"].copy()})
    else:
        dec = Decoder("repeat", D, D, C, 0)
    lengths = np.array([2, 3, 1], np.int64)
    inst = np.array([1, 2, 1], np.int32)
    width = dec.latent_dim
    return Content(vocab=["background", "act"], videos=["a", "b"], video_segments=np.array([0, 2, 3]),
                   seg_label=np.array([0, 1, 1], np.int32), seg_length=lengths, seg_instances=inst, decoder=dec,
                   codes=((k[:4 * width] % 5 - 2) / 2).reshape(4, width).astype(np.float32),
                   background=["background"], activities=["x", None],
                   provenance={"dataset": "conformance", "method": "inversion", "settings": {"K": 2}})


def entries_of(content: Content) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as d:
        p = write_container(content, Path(d) / "base.tasz", created=CREATED)
        with zipfile.ZipFile(p) as zf:
            e = {i.filename: zf.read(i) for i in zf.infolist()}
    doc = json.loads(e["zarr.json"])
    doc["attributes"]["tasz"].update(version="1.1", writer=WRITER)
    e["zarr.json"] = dump(doc)
    return e


def dump(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def pack(entries: dict[str, bytes], method=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zi = zipfile.ZipInfo(name, date_time=DATE)
            zi.compress_type, zi.create_system, zi.external_attr = method, 3, 0o644 << 16
            zf.writestr(zi, data)
    return buf.getvalue()


def root(fn, kind="mlp"):
    e = entries_of(base_content(kind))
    doc = json.loads(e["zarr.json"])
    fn(doc["attributes"]["tasz"])
    e["zarr.json"] = dump(doc)
    return pack(e)


def raw_root(old: bytes, new: bytes):
    e = entries_of(base_content())
    assert old in e["zarr.json"], old
    e["zarr.json"] = e["zarr.json"].replace(old, new, 1)
    return pack(e)


def array(name: str, fn):
    e = entries_of(base_content())
    doc = json.loads(e[f"{name}/zarr.json"])
    fn(doc)
    e[f"{name}/zarr.json"] = dump(doc)
    return pack(e)


def chunk(name: str, values=None, frame_fn=None):
    """Chunk 0 of 1-D array ``name`` re-encoded from ``values``, or its zstd frame passed through ``frame_fn``."""
    e = entries_of(base_content())
    key = f"{name}/c/0"
    if values is not None:
        doc = json.loads(e[f"{name}/zarr.json"])
        spec = ArraySpec(name, tuple(doc["shape"]), doc["data_type"], doc["chunk_grid"]["configuration"]["chunk_shape"][0])
        e[key] = encode_chunk(np.asarray(values, spec.np_dtype), spec, 3)
    else:
        frame = frame_fn(e[key][:-4])
        e[key] = frame + google_crc32c.value(frame).to_bytes(4, "little")
    return pack(e)


def residual(values, dtype: str = "float16", kind: str = "linear"):
    """A file with a ``codes/residual_sd`` array (spec 4.8) of ``values`` in ``dtype``, on a ``kind`` decoder."""
    e = entries_of(base_content(kind))
    arr = np.asarray(values, dtype)
    name = "codes/residual_sd"
    e[f"{name}/zarr.json"] = dump(array_doc(arr.shape, dtype, arr.shape[0], 3))
    e[f"{name}/c/0"] = encode_chunk(arr, ArraySpec(name, arr.shape, dtype, arr.shape[0]), 3)
    doc = json.loads(e["zarr.json"])
    doc["attributes"]["tasz"].update(version="1.2")
    e["zarr.json"] = dump(doc)
    return pack(e)


def zero_decoder():
    """A decoder declaring D = 2^20, H = 64 (256 MiB of float32 zeros for w2) in a few kB."""
    e = entries_of(base_content())
    D, H = 1 << 20, 64
    doc = json.loads(e["zarr.json"])
    doc["attributes"]["tasz"]["decoder"].update(feature_dim=D, hidden=H)
    e["zarr.json"] = dump(doc)
    shapes = {"w1": ((H, 5), H), "b1": ((H,), H), "w2": ((D, H), 1 << 18), "b2": ((D,), D), "mean": ((D,), D),
              "std": ((D,), D)}
    for n, (shape, rows) in shapes.items():
        for k in [k for k in e if k.startswith(f"decoder/{n}/")]:
            del e[k]
        e[f"decoder/{n}/zarr.json"] = dump(array_doc(shape, "float32", rows, 3))
        frame = bytes(numcodecs.zstd.compress(bytes(rows * int(np.prod(shape[1:])) * 4), 19))
        for i in range(-(-shape[0] // rows)):
            e[f"decoder/{n}/c/{i}" if len(shape) == 1 else f"decoder/{n}/c/{i}/0"] = \
                frame + google_crc32c.value(frame).to_bytes(4, "little")
    return pack(e)


# --- ZIP structure --------------------------------------------------------------------------
def valid() -> bytes:
    return pack(entries_of(base_content()))


def _local(data: bytes, name: str):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.getinfo(name), zf.start_dir


def zip64_local_mismatch() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries_of(base_content()).items():
            with zf.open(zipfile.ZipInfo(name, date_time=DATE), "w", force_zip64=True) as f:
                f.write(data)
    data = bytearray(buf.getvalue())
    info, _ = _local(bytes(data), "segments/length/c/0")
    h = info.header_offset
    nlen = struct.unpack("<H", data[h + 26:h + 28])[0]
    x = h + 30 + nlen
    data[x + 4:x + 12] = struct.pack("<Q", info.file_size + 1)
    return bytes(data)


def bit3_without_descriptor() -> bytes:
    data = bytearray(valid())
    info, cd = _local(bytes(data), "segments/length/c/0")
    data[info.header_offset + 6] |= 0x08
    pos = cd
    while True:
        nlen, xlen, clen = struct.unpack("<3H", data[pos + 28:pos + 34])
        if data[pos + 46:pos + 46 + nlen] == info.filename.encode():
            data[pos + 8] |= 0x08
            return bytes(data)
        pos += 46 + nlen + xlen + clen


def entry_count_mismatch() -> bytes:
    data = bytearray(valid())
    n = struct.unpack("<H", data[-12:-10])[0]
    data[-14:-10] = struct.pack("<2H", n + 1, n + 1)
    return bytes(data)


def duplicate_entry() -> bytes:
    e = entries_of(base_content())
    data = pack(e)
    buf = io.BytesIO(data)
    with zipfile.ZipFile(buf, "a") as zf, __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        zi = zipfile.ZipInfo("zarr.json", date_time=DATE)
        zi.create_system, zi.external_attr = 3, 0o644 << 16
        zf.writestr(zi, e["zarr.json"])
    return buf.getvalue()


def bad_crc32c() -> bytes:
    e = entries_of(base_content())
    e["segments/length/c/0"] = e["segments/length/c/0"][:-4] + bytes(4)
    return pack(e)


def deep(n: int) -> bytes:
    return b"[" * n + b"0" + b"]" * n


PROV = b'"provenance":{'
# file name -> (rule, error kind, bytes maker)
CASES = {
    "not-a-zip": ("not a ZIP archive", "NotATaszFile", lambda: b"hello, not a container\n"),
    "no-magic": ("ZIP without attributes.tasz.format == 'tasz'", "NotATaszFile",
                 lambda: pack({"zarr.json": b'{"zarr_format":3,"node_type":"group","attributes":{}}'})),
    "version-2": ("MAJOR 2", "UnsupportedVersion", lambda: root(lambda t: t.update(version="2.0"))),
    "version-leading-zero": ("version 1.00: no leading zeros", "InvalidStructure",
                             lambda: root(lambda t: t.update(version="1.00"))),
    "version-long-minor": ("version 1.0000000001: no leading zeros", "InvalidStructure",
                           lambda: root(lambda t: t.update(version="1.0000000001"))),
    "version-arabic-digits": ("version in Arabic-Indic digits: ASCII [0-9] only", "InvalidStructure",
                              lambda: root(lambda t: t.update(version="\u0661.\u0660"))),
    "entry-deflated": ("entries are stored (method 0)", "InvalidStructure",
                       lambda: pack(entries_of(base_content()), zipfile.ZIP_DEFLATED)),
    "entry-name-dotdot": ("entry names are confined relative paths", "InvalidStructure",
                          lambda: pack({**entries_of(base_content()), "../evil": b"x"})),
    "entry-twice": ("entry names are unique", "InvalidStructure", duplicate_entry),
    "data-before-archive": ("the archive starts at byte 0", "InvalidStructure", lambda: b"MZ" + bytes(62) + valid()),
    "zip64-local-size": ("ZIP64 local extra sizes agree with the central directory", "CorruptData",
                         zip64_local_mismatch),
    "bit3-no-descriptor": ("bit 3 set: a data descriptor follows the data", "CorruptData", bit3_without_descriptor),
    "entry-count": ("the end record's entry count is the directory's", "CorruptData", entry_count_mismatch),
    "chunk-missing": ("every chunk is present", "InvalidStructure",
                      lambda: pack({k: v for k, v in entries_of(base_content()).items() if k != "segments/label/c/0"})),
    "chunk-crc32c": ("chunk CRC-32C", "CorruptData", bad_crc32c),
    "chunk-skippable-frame": ("one zstd frame per chunk: no skippable frame after it", "CorruptData",
                              lambda: chunk("segments/length", frame_fn=lambda f: f + b"\x50\x2a\x4d\x18\x00\x00\x00\x00")),
    "chunk-second-frame": ("one zstd frame per chunk: no second frame", "CorruptData",
                           lambda: chunk("segments/length", frame_fn=lambda f: f + bytes(numcodecs.zstd.compress(b"", 3)))),
    "zstd-no-level": ("zstd configuration has level", "InvalidStructure",
                      lambda: array("segments/length", lambda d: d["codecs"][1]["configuration"].pop("level"))),
    "zstd-no-checksum": ("zstd configuration has checksum", "InvalidStructure",
                         lambda: array("segments/length", lambda d: d["codecs"][1]["configuration"].pop("checksum"))),
    "table-dtype": ("tables have their exact data type", "InvalidStructure",
                    lambda: array("segments/label", lambda d: d.update(data_type="int64"))),
    "label-out-of-range": ("0 <= label < C", "InvalidStructure", lambda: chunk("segments/label", values=[0, 1, 2])),
    "segment-too-long": ("length[s] <= 2^24", "LimitExceeded",
                         lambda: chunk("segments/length", values=[2, 3, (1 << 24) + 1])),
    "decoder-sha256": ("decoder.sha256 matches the weights", "CorruptData",
                       lambda: root(lambda t: t["decoder"].update(sha256="0" * 64))),
    "decoded-size": ("arrays decode to at most 32 MiB + 32 x the file size", "LimitExceeded", zero_decoder),
    "json-nan": ("no NaN", "InvalidStructure", lambda: raw_root(PROV, PROV + b'"x":NaN,')),
    "json-1e999": ("numbers within float64 (1e999 is not infinity)", "InvalidStructure",
                   lambda: raw_root(PROV, PROV + b'"x":1e999,')),
    "json-duplicate-key": ("no duplicate keys", "InvalidStructure", lambda: raw_root(PROV, PROV + b'"x":1,"x":2,')),
    "json-lone-surrogate": ("no unpaired surrogate escapes", "InvalidStructure",
                            lambda: raw_root(PROV, PROV + b'"x":"\\ud800",')),
    "json-depth-65": ("JSON nesting at most 64", "LimitExceeded", lambda: raw_root(PROV, PROV + b'"x":' + deep(61) + b",")),
    "name-c1-control": ("names without C1 controls", "InvalidStructure",
                        lambda: root(lambda t: t.update(videos=["a", "b\u009b2J"]))),
    "name-bidi-override": ("names without Bidi_Control characters", "InvalidStructure",
                           lambda: root(lambda t: t.update(videos=["a", "b\u202etxt.exe"]))),
    "name-line-separator": ("names without U+2028", "InvalidStructure",
                            lambda: root(lambda t: t.update(vocab=["background", "a\u2028b"]))),
    "name-201-bytes": ("names at most 200 UTF-8 bytes", "InvalidStructure",
                       lambda: root(lambda t: t.update(videos=["a", "b" * 201]))),
    "name-path": ("video names are safe file names", "InvalidStructure",
                  lambda: root(lambda t: t.update(videos=["a", "../b"]))),
    "missing-activities": ("activities is required", "InvalidStructure", lambda: root(lambda t: t.pop("activities"))),
    "missing-provenance": ("provenance is required", "InvalidStructure", lambda: root(lambda t: t.pop("provenance"))),
    "missing-random-seed": ("codes.random_seed is required", "InvalidStructure",
                            lambda: root(lambda t: t["codes"].pop("random_seed"))),
    "provenance-split-string": ("provenance.split is an integer", "InvalidStructure",
                                lambda: root(lambda t: t["provenance"].update(split="abc"))),
    "provenance-split-huge": ("provenance.split in 0..2^31-1", "InvalidStructure",
                              lambda: root(lambda t: t["provenance"].update(split=10 ** 300))),
    "provenance-operations": ("provenance.operations holds objects with a string op", "InvalidStructure",
                              lambda: root(lambda t: t["provenance"].update(operations=[1]))),
    "writer-name-type": ("writer.name is a string", "InvalidStructure",
                         lambda: root(lambda t: t["writer"].update(name=1))),
    "residual-sd-mlp": ("codes/residual_sd only with a linear decoder", "InvalidStructure",
                        lambda: residual([0.5, 0.25], kind="mlp")),
    "residual-sd-negative": ("codes/residual_sd >= 0", "InvalidStructure", lambda: residual([0.5, -0.25])),
    "residual-sd-nan": ("codes/residual_sd finite", "InvalidStructure", lambda: residual([0.5, np.nan])),
    "residual-sd-shape": ("codes/residual_sd has shape (d,)", "InvalidStructure", lambda: residual([0.5, 0.25, 1.0])),
    "residual-sd-dtype": ("codes/residual_sd is float16", "InvalidStructure",
                          lambda: residual([0.5, 0.25], dtype="float32")),
    "activation-long-repeat": ("decoder.activation at most 64 characters, also for repeat", "InvalidStructure",
                               lambda: root(lambda t: t["decoder"].update(activation="x" * 65), kind="repeat")),
}


def write_all(out_dir: Path) -> dict:
    """Write every must-reject file and ``manifest.json`` into ``out_dir``; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, (rule, error, make) in CASES.items():
        data = make()
        (out_dir / f"{name}.tasz").write_bytes(data)
        entries.append({"file": f"{name}.tasz", "rule": rule, "error": error, "bytes": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"spec": "spec/tasz-v1.md", "generator": "spec/make_invalid_vectors.py",
                "meaning": "a conforming reader rejects every file; 'error' is the TaszFormatError subclass "
                           "tascodec raises", "vectors": entries}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "vectors" / "invalid"
    m = write_all(target)
    for e in m["vectors"]:
        print(f"{e['file']:<32} {e['bytes']:>7} bytes  {e['error']}")
