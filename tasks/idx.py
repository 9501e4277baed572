"""The idx file format of MNIST and Fashion-MNIST (LeCun et al.), read and written with numpy.

    bytes 0-1   0x00 0x00
    byte  2     the type of the values: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     the number of dimensions d
    then        d sizes, big-endian uint32 each
    then        the values, big-endian, in C order

So train-images-idx3-ubyte opens with 0x00000803 (uint8, 3 dimensions: 60000, 28, 28) and
train-labels-idx1-ubyte with 0x00000801. A file may be gzipped (it starts with 0x1f 0x8b): it is
read the same, whatever its name. A file that is not idx, is cut short or runs past what its header
announces is refused with one line naming the file and what is wrong.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from math import prod
from pathlib import Path

import numpy as np

from lstm_bench.errors import ConfigError

TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
         0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
CODES = {np.dtype(t).newbyteorder("="): c for c, t in TYPES.items()}  # native dtype -> type code, for writing
GZIP_MAGIC = b"\x1f\x8b"


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError; a cut stream an EOFError
        raise ConfigError(f"{path}: a corrupt or truncated gzip file ({type(err).__name__}: {err})".splitlines()[0]) \
            from None


def read_idx(path) -> np.ndarray:
    """The array in an idx file (gzipped or not), in the machine's byte order; ConfigError if the file is bad."""
    path = Path(path)
    raw = _raw(path)
    if len(raw) < 4:
        raise ConfigError(f"{path}: truncated: {len(raw)} bytes, fewer than an idx header's 4")
    zeros, code, ndim = raw[:2], raw[2], raw[3]
    if zeros != b"\0\0" or code not in TYPES:
        raise ConfigError(f"{path}: not an idx file: magic number 0x{raw[:4].hex()}, where an idx file opens with "
                          f"0x0000, a type code (08, 09, 0b, 0c, 0d or 0e) and its number of dimensions")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ConfigError(f"{path}: truncated: the header announces {ndim} dimensions ({start} bytes) but the file "
                          f"holds {len(raw)} bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = TYPES[code]
    need, have = prod(shape) * dtype.itemsize, len(raw) - start
    if have != need:
        what = "truncated" if have < need else f"{have - need} bytes too long"
        raise ConfigError(f"{path}: {what}: the header announces {'x'.join(map(str, shape))} {dtype.name} values "
                          f"({need} bytes) and {have} bytes follow it")
    return np.frombuffer(raw, dtype, prod(shape), start).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array: np.ndarray) -> None:
    """`array` as an idx file, gzipped where the name ends in .gz (small files for tests, or data of your own)."""
    path, array = Path(path), np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in CODES:
        raise ValueError(f"idx holds {', '.join(t.name for t in CODES)}, not {array.dtype}")
    code = CODES[native]
    data = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    data += array.astype(TYPES[code], copy=False).tobytes()
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
