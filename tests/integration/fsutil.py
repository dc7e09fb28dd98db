#!/usr/bin/env python3
"""Small system-call helpers for the integration tests, for what shell tools cannot say.

    fsutil.py call FUNC ARG...          os.FUNC(*args): prints "ok" or the errno name (EEXIST)
    fsutil.py open PATH FLAG...         os.open(PATH, O_FLAG|...): "ok" or the errno name
    fsutil.py rename2 OLD NEW FLAG      renameat2 with noreplace|exchange|whiteout: "ok" or errno name
    fsutil.py xflags PATH [XFLAGS]      FS_IOC_FSGETXATTR: fsx_xflags in hex; with XFLAGS (hex), sets
                                        them by FS_IOC_FSSETXATTR: "ok" or the errno name
    fsutil.py label PATH [LABEL]        FS_IOC_GETFSLABEL on PATH's filesystem; with LABEL,
                                        FS_IOC_SETFSLABEL: "ok" or the errno name
    fsutil.py append PATH TEXT          O_APPEND write after lseek(0); prints the offset after it
    fsutil.py segments PATH             data segments by SEEK_DATA/SEEK_HOLE: "start:end ..."
    fsutil.py mmap-write PATH OFF SRC   shared mapping of PATH, copies file SRC to OFF, msync
    fsutil.py mmap-read PATH OFF LEN    LEN bytes at OFF read through a shared mapping, to stdout
    fsutil.py clone SRC DST             copy_file_range of all of SRC into DST (created)
    fsutil.py aio-dio PATH MIB ROUNDS   asynchronous O_DIRECT writes racing buffered reads (below)
    fsutil.py writer DIR ACKLOG SYNC N  the crash workload (below): N files or until an error
    fsutil.py verify DIR ACKLOG         checks every acknowledged record and rename
    fsutil.py part-joining PART...      sets part_joining in both label copies of each part, as
                                        an interrupted pmemfs-tune --add-part leaves them (below)
"""
import ctypes
import errno
import hashlib
import mmap
import os
import struct
import sys


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def call(func, *args):
    try:
        getattr(os, func)(*args)
        return "ok"
    except OSError as e:
        return errname(e)


def open_flags(path, *flags):
    bits = 0
    for f in flags:
        bits |= getattr(os, f if f.startswith("O_") else "O_" + f)
    try:
        os.close(os.open(path, bits, 0o644))
        return "ok"
    except OSError as e:
        return errname(e)


def rename2(old, new, flag):
    libc = ctypes.CDLL(None, use_errno=True)
    bits = {"noreplace": 1, "exchange": 2, "whiteout": 4}[flag]
    AT_FDCWD = -100
    r = libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), bits)
    return "ok" if r == 0 else errno.errorcode[ctypes.get_errno()]


FS_IOC_FSGETXATTR = 0x801C581F  # _IOR('X', 31, struct fsxattr)
FS_IOC_FSSETXATTR = 0x401C5820  # _IOW('X', 32, struct fsxattr)
FS_IOC_GETFSLABEL = 0x81009431  # _IOR(0x94, 49, char[256])
FS_IOC_SETFSLABEL = 0x41009432  # _IOW(0x94, 50, char[256])


def xflags(path, value=None):
    import fcntl
    import struct
    fd = os.open(path, os.O_RDONLY)
    try:
        raw = fcntl.ioctl(fd, FS_IOC_FSGETXATTR, bytes(28))
        if value is None:
            return "%x" % struct.unpack("<I", raw[:4])[0]
        fcntl.ioctl(fd, FS_IOC_FSSETXATTR, struct.pack("<I", int(value, 16)) + raw[4:])
        return "ok"
    except OSError as e:
        return errname(e)
    finally:
        os.close(fd)


def label(path, value=None):
    import fcntl
    fd = os.open(path, os.O_RDONLY)
    try:
        if value is None:
            raw = fcntl.ioctl(fd, FS_IOC_GETFSLABEL, bytes(256))
            return raw.split(b"\0", 1)[0].decode()
        fcntl.ioctl(fd, FS_IOC_SETFSLABEL, value.encode().ljust(256, b"\0"))
        return "ok"
    except OSError as e:
        return errname(e)
    finally:
        os.close(fd)


def append(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode())
    off = os.lseek(fd, 0, os.SEEK_CUR)
    os.close(fd)
    return str(off)


def segments(path):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    out, pos = [], 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            raise
        end = os.lseek(fd, start, os.SEEK_HOLE)
        out.append("%d:%d" % (start, end))
        pos = end
    os.close(fd)
    return " ".join(out) or "none"


def mmap_write(path, off, src):
    data = open(src, "rb").read()
    off = int(off)
    fd = os.open(path, os.O_RDWR)
    length = off + len(data)
    if os.fstat(fd).st_size < length:
        os.ftruncate(fd, length)
    m = mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    m[off:off + len(data)] = data
    m.flush()  # msync(MS_SYNC)
    m.close()
    os.close(fd)
    return "ok"


def mmap_read(path, off, length):
    off, length = int(off), int(length)
    fd = os.open(path, os.O_RDONLY)
    m = mmap.mmap(fd, off + length, mmap.MAP_SHARED, mmap.PROT_READ)
    sys.stdout.buffer.write(m[off:off + length])
    m.close()
    os.close(fd)
    return None


def clone(src, dst):
    fi = os.open(src, os.O_RDONLY)
    fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    size, done = os.fstat(fi).st_size, 0
    while done < size:
        n = os.copy_file_range(fi, fo, size - done, done, done)
        if n == 0:
            break
        done += n
    os.close(fi)
    os.close(fo)
    return str(done)


# Asynchronous O_DIRECT writes (Linux AIO, the io_submit system call: no library needed) with
# buffered reads of the same range while each write is in flight. PATH (MIB MiB, created) is
# filled and read through the page cache; each round submits one write of a new pattern over
# all of it with O_DIRECT, reads it buffered until the write completes, then reads it buffered
# once more: every page must hold the new pattern. Prints "N stale pages in R rounds".
class IoCb(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64), ("key", ctypes.c_uint32),
                ("rw_flags", ctypes.c_int32), ("opcode", ctypes.c_uint16),
                ("reqprio", ctypes.c_int16), ("fildes", ctypes.c_uint32),
                ("buf", ctypes.c_uint64), ("nbytes", ctypes.c_uint64),
                ("offset", ctypes.c_int64), ("reserved2", ctypes.c_uint64),
                ("flags", ctypes.c_uint32), ("resfd", ctypes.c_uint32)]


class IoEvent(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64), ("obj", ctypes.c_uint64),
                ("res", ctypes.c_int64), ("res2", ctypes.c_int64)]


SYS_IO_SETUP, SYS_IO_DESTROY, SYS_IO_GETEVENTS, SYS_IO_SUBMIT = 206, 207, 208, 209  # x86-64
IOCB_CMD_PWRITE = 1


def aio_dio(path, mib, rounds):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    size, page = int(mib) << 20, 4096
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"\0" * size)  # the whole range exists: an async write may not extend a file
    os.fsync(fd)
    dfd = os.open(path, os.O_RDWR | os.O_DIRECT)
    ctx = ctypes.c_ulong(0)
    if libc.syscall(SYS_IO_SETUP, 1, ctypes.byref(ctx)) != 0:
        raise OSError(ctypes.get_errno(), "io_setup")
    buf = mmap.mmap(-1, size)  # page-aligned, as O_DIRECT wants
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    stale = 0
    for r in range(1, int(rounds) + 1):
        old, new = bytes([2 * r - 1]) * page, bytes([2 * r]) * page
        os.pwrite(fd, old * (size // page), 0)
        os.pread(fd, size, 0)  # cached
        buf[:] = new * (size // page)
        cb = IoCb(opcode=IOCB_CMD_PWRITE, fildes=dfd, buf=addr, nbytes=size, offset=0)
        cbp = ctypes.pointer(cb)
        if libc.syscall(SYS_IO_SUBMIT, ctx, 1, ctypes.byref(cbp)) != 1:
            raise OSError(ctypes.get_errno(), "io_submit")
        ev, zero = IoEvent(), (ctypes.c_long * 2)(0, 0)
        while True:
            os.pread(fd, size, 0)  # buffered, while the write is in flight
            n = libc.syscall(SYS_IO_GETEVENTS, ctx, 0, 1, ctypes.byref(ev), ctypes.byref(zero))
            if n == 1:
                break
            if n < 0:
                raise OSError(ctypes.get_errno(), "io_getevents")
        if ev.res != size:
            raise OSError(-ev.res if ev.res < 0 else errno.EIO, "aio write of %d bytes: %d" % (size, ev.res))
        data = os.pread(fd, size, 0)
        stale += sum(1 for i in range(0, size, page) if data[i:i + page] != new)
    libc.syscall(SYS_IO_DESTROY, ctx)
    os.close(dfd)
    os.close(fd)
    return "%d stale pages in %s rounds" % (stale, rounds)


# The crash workload. Files DIR/log.F receive RECORDS_PER_FILE records of RECORD bytes each,
# appended with O_APPEND; a full file is renamed to DIR/done.F and the next one started. With
# SYNC=none (direct, pages) a record is acknowledged when write() returns and a rename when
# rename() returns; with SYNC=fsync (copy) after fsync of the file, resp. of the directory.
# Acknowledgements go to ACKLOG as "F K" (record K of file F) and "R F" (renamed), one per line,
# flushed at once: ACKLOG is outside the mount and outlives the daemon.
RECORD = 1000  # not a divisor of 4096: records straddle pages
RECORDS_PER_FILE = 300
SYNC_BATCH = 8


def record(f, k):
    head = b"REC %06d %06d " % (f, k)
    seed = hashlib.sha256(head).digest()
    body = (seed * (RECORD // len(seed) + 1))[: RECORD - len(head) - 1]
    return head + body + b"\n"


def fsync_dir(d):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)


def writer(d, acklog, sync, files):
    ack = open(acklog, "a", buffering=1)
    f = 0
    try:
        while f < int(files):
            path = os.path.join(d, "log.%d" % f)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if sync == "fsync":
                fsync_dir(d)
            pending = []
            for k in range(RECORDS_PER_FILE):
                if os.write(fd, record(f, k)) != RECORD:
                    raise OSError(errno.EIO, "short write")
                pending.append(k)
                if sync == "none" or len(pending) == SYNC_BATCH or k == RECORDS_PER_FILE - 1:
                    if sync == "fsync":
                        os.fsync(fd)
                    for p in pending:
                        ack.write("%d %d\n" % (f, p))
                    pending = []
            os.close(fd)
            os.rename(path, os.path.join(d, "done.%d" % f))
            if sync == "fsync":
                fsync_dir(d)
            ack.write("R %d\n" % f)
            f += 1
        return "finished %d files" % f
    except OSError as e:
        return "stopped by %s after %d files" % (errname(e), f)


def verify(d, acklog):
    records, renamed = {}, set()
    for line in open(acklog):
        a, b = line.split()
        if a == "R":
            renamed.add(int(b))
        else:
            records.setdefault(int(a), []).append(int(b))
    bad = []
    for f, ks in sorted(records.items()):
        done, log = os.path.join(d, "done.%d" % f), os.path.join(d, "log.%d" % f)
        if f in renamed:
            if os.path.exists(log) or not os.path.exists(done):
                bad.append("file %d: rename acknowledged, but log.%d %s and done.%d %s" % (
                    f, f, "exists" if os.path.exists(log) else "is gone",
                    f, "exists" if os.path.exists(done) else "is missing"))
                continue
        path = done if os.path.exists(done) else log
        if not os.path.exists(path):
            bad.append("file %d: %d records acknowledged, but neither log.%d nor done.%d exists"
                       % (f, len(ks), f, f))
            continue
        data = open(path, "rb").read()
        for k in ks:
            got = data[k * RECORD:(k + 1) * RECORD]
            if got != record(f, k):
                bad.append("%s: record %d (bytes %d..%d) %s" % (
                    os.path.basename(path), k, k * RECORD, (k + 1) * RECORD,
                    "missing (file has %d bytes)" % len(data) if len(got) < RECORD
                    else "differs: starts %r" % got[:24]))
                break
    n = sum(len(ks) for ks in records.values())
    if bad:
        sys.stderr.write("\n".join(bad[:10]) + "\n")
        sys.exit(1)
    return "%d records in %d files and %d renames verified" % (n, len(records), len(renamed))


# An interrupted pmemfs-tune --add-part, made by hand: part_joining (PartLabel byte 180,
# include/pmemfs/layout.h) set to 1 in the label at the start of the part and in its backup in
# the part's last 4 KiB page, with the label's CRC-32C (byte 252, over bytes 0-251) made again.
# Every part joining: the add crashed after its commit point; the new part alone: before it.
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def part_joining(*paths):
    for path in paths:
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            for off in (0, size // 4096 * 4096 - 4096):
                f.seek(off)
                label = bytearray(f.read(256))
                label[180:184] = struct.pack("<I", 1)
                label[252:256] = struct.pack("<I", crc32c(bytes(label[:252])))
                f.seek(off)
                f.write(label)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    out = {
        "call": lambda: call(args[0], *args[1:]),
        "open": lambda: open_flags(*args),
        "rename2": lambda: rename2(*args),
        "append": lambda: append(*args),
        "xflags": lambda: xflags(*args),
        "label": lambda: label(*args),
        "segments": lambda: segments(*args),
        "mmap-write": lambda: mmap_write(*args),
        "mmap-read": lambda: mmap_read(*args),
        "clone": lambda: clone(*args),
        "aio-dio": lambda: aio_dio(*args),
        "writer": lambda: writer(*args),
        "verify": lambda: verify(*args),
        "part-joining": lambda: part_joining(*args),
    }[cmd]()
    if out is not None:
        print(out)


if __name__ == "__main__":
    main()
