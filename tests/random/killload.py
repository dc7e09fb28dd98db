#!/usr/bin/env python3
"""The load and the checks of kill.sh (SIGKILL of the daemon under concurrent load).

    killload.py writer DIR LOG SEED SYNC   one writer process: random operations in DIR until an
                                           operation fails (the daemon is gone); SYNC is "fsync"
                                           (copy mode: an operation is acknowledged after fsync of
                                           the file or directory) or "none" (direct, pages: when
                                           the call returns)
    killload.py verify DIR LOG [size-first]  DIR holds what LOG acknowledged (see below)
    killload.py snapshot DIR               one line per file: name, size, sha256 (to compare the
                                           directory with itself after later crashes)
    killload.py round WORK MNT R W MODE    after round R of kill.sh: verify MNT/rR-w1..W with the
                                           logs WORK/log-rR-wI (MODE: strict or size-first), save
                                           their snapshots, and check that every earlier round's
                                           directories still match theirs (one process: Python
                                           starts slowly on a loaded machine)

A writer owns DIR. Before an operation it logs "B SEQ OP ARGS", after the acknowledgement
"A SEQ" (one write() per line to LOG, which is outside the mount and outlives the daemon).
Operations: create, append, write (overwrite, maybe extending), truncate, rename (to a new name or
over another file of DIR), unlink. Written bytes are a function of (DIR's writer, SEQ, offset), so
bytes in the wrong place, from the wrong write or never written are recognisable.

verify rebuilds DIR's expected content from the acknowledged operations. At most one operation
(the last "B" without its "A") was in flight when the daemon died: it may have happened or not
(atomically for namespace operations and truncates; a write or append may be torn: pmemfs applies
a large write in steps, each committing the blocks and size it reached, and overwrites in place,
so each byte is old or new and the size anywhere between, but bytes past the old size are the
new ones). In copy mode ("size-first") the size an unacknowledged write reached can be on the
device before its data, which stays in the daemon's cache until fsync: its range past the old size
may then read as zeros. Anything else is an error: an acknowledged operation missing, a file or
name nobody created, bytes nobody wrote.
"""
import errno
import hashlib
import os
import random
import sys

MAX_FILES = 12
MAX_SIZE = 96 * 1024


def pattern(tag, seq, off, length):
    """The bytes operation SEQ of writer TAG writes at OFF..OFF+LENGTH: per 4 KiB block of the file,
    a digest of (tag, seq, block) repeated from the block's start."""
    out = bytearray()
    pos = off
    end = off + length
    while pos < end:
        block = pos // 4096
        digest = hashlib.sha256(b"%s:%d:%d" % (tag, seq, block)).digest() * 128  # 4096 bytes
        start = pos - block * 4096
        n = min(end - pos, 4096 - start)
        out += digest[start:start + n]
        pos += n
    return bytes(out)


def fsync_path(path, directory=False):
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# The model: name -> bytearray, changed by one operation.

def apply(model, op, tag, seq):
    kind = op[0]
    if kind == "create":
        model[op[1]] = bytearray()
    elif kind in ("append", "write"):
        name, off, length = op[1], int(op[2]), int(op[3])
        data = model[name]
        if len(data) < off:
            data.extend(bytes(off - len(data)))
        data[off:off + length] = pattern(tag, seq, off, length)
    elif kind == "truncate":
        name, size = op[1], int(op[2])
        data = model[name]
        if size < len(data):
            del data[size:]
        else:
            data.extend(bytes(size - len(data)))
    elif kind == "rename":
        model[op[2]] = model.pop(op[1])
    elif kind == "unlink":
        del model[op[1]]
    else:
        raise ValueError("unknown operation %r" % (op,))


def tag_of(d):
    return os.path.basename(os.path.normpath(d)).encode()


# ---------------------------------------------------------------------------------------------
# The writer.

def writer(d, log, seed, sync):
    rng = random.Random(int(seed))
    tag = tag_of(d)
    logfd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    fsync = sync == "fsync"
    model = {}
    counter = 0
    seq = 0

    def note(line):
        os.write(logfd, (line + "\n").encode())

    try:
        while True:
            seq += 1
            names = sorted(model)
            r = rng.random()
            if (not names or (r < 0.12 and len(names) < MAX_FILES) or
                    (len(names) < MAX_FILES // 2 and rng.random() < 0.3)):
                counter += 1
                op = ("create", "f%d" % counter)
            elif r < 0.40:
                name = rng.choice(names)
                length = rng.randint(1, 12000)
                if len(model[name]) + length > MAX_SIZE:
                    op = ("truncate", name, str(rng.randint(0, 4096)))
                else:
                    op = ("append", name, str(len(model[name])), str(length))
            elif r < 0.70:
                name = rng.choice(names)
                size = len(model[name])
                off = rng.randint(0, size + 100) if rng.random() < 0.7 else rng.randint(0, MAX_SIZE // 2)
                op = ("write", name, str(off), str(rng.randint(1, 9000)))
            elif r < 0.80:
                name = rng.choice(names)
                op = ("truncate", name, str(rng.randint(0, MAX_SIZE // 2)))
            elif r < 0.92:
                name = rng.choice(names)
                if rng.random() < 0.5 and len(names) > 1:
                    target = rng.choice([n for n in names if n != name])
                else:
                    counter += 1
                    target = "f%d" % counter
                op = ("rename", name, target)
            else:
                op = ("unlink", rng.choice(names))

            note("B %d %s" % (seq, " ".join(op)))
            kind = op[0]
            path = os.path.join(d, op[1])
            if kind == "create":
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                if fsync:
                    fsync_path(d, True)
            elif kind in ("append", "write", "truncate"):
                flags = os.O_WRONLY | (os.O_APPEND if kind == "append" else 0)
                fd = os.open(path, flags)
                try:
                    if kind == "truncate":
                        os.ftruncate(fd, int(op[2]))
                    else:
                        off, length = int(op[2]), int(op[3])
                        data = pattern(tag, seq, off, length)
                        n = os.write(fd, data) if kind == "append" else os.pwrite(fd, data, off)
                        if n != length:
                            raise OSError(errno.EIO, "short write: %d of %d bytes" % (n, length))
                    if fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            elif kind == "rename":
                os.rename(path, os.path.join(d, op[2]))
                if fsync:
                    fsync_path(d, True)
            elif kind == "unlink":
                os.unlink(path)
                if fsync:
                    fsync_path(d, True)
            apply(model, op, tag, seq)
            note("A %d" % seq)
    except OSError as e:
        return "stopped by %s after %d operations (in %s: %s)" % (
            errno.errorcode.get(e.errno, e.errno), seq - 1, " ".join(op), e.strerror)


# ---------------------------------------------------------------------------------------------
# The checks.

def read_dir(d):
    out = {}
    for name in os.listdir(d):
        path = os.path.join(d, name)
        if not os.path.isfile(path) or os.path.islink(path):
            raise SystemExit("%s: not a regular file" % path)
        with open(path, "rb") as f:
            out[name] = f.read()
    return out


def describe_difference(name, got, want):
    if got is None:
        return "%s is missing" % name
    if want is None:
        return "%s exists (%d bytes) but was never created or was removed" % (name, len(got))
    if len(got) != len(want):
        return "%s has %d bytes, expected %d" % (name, len(got), len(want))
    i = next(i for i in range(len(got)) if got[i] != want[i])
    return "%s differs from byte %d (%s)" % (name, i, "zeros where data was written"
                                             if got[i:i + 16] == bytes(min(16, len(got) - i))
                                             else "bytes nobody wrote there")


def first_difference(actual, model):
    for name in sorted(set(actual) | set(model)):
        got, want = actual.get(name), model.get(name)
        if got is None or want is None or bytes(got) != bytes(want):
            return describe_difference(name, got, want)
    return None


def torn_ok(actual, before, after, name, zeros_past_eof):
    """The in-flight write or append to NAME was torn: every other file as before; NAME's size
    between its sizes before and after, each byte as before or as after, and bytes past the old
    size only as after (never bytes nobody wrote), or zeros there with zeros_past_eof."""
    if set(actual) != set(before):
        return False
    for n in actual:
        if n != name and actual[n] != bytes(before[n]):
            return False
    got, old, new = actual[name], before[name], after[name]
    if not min(len(old), len(new)) <= len(got) <= max(len(old), len(new)):
        return False
    for i in range(len(got)):
        if not ((i < len(old) and got[i] == old[i]) or (i < len(new) and got[i] == new[i]) or
                (zeros_past_eof and i >= len(old) and got[i] == 0)):
            return False
    return True


def verify(d, log, mode="strict"):
    size_first = mode == "size-first"
    tag = tag_of(d)
    begun, acked = {}, set()
    for line in open(log):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "B":
            begun[int(parts[1])] = parts[2:]
        elif parts[0] == "A":
            acked.add(int(parts[1]))
    model = {}
    inflight = None
    for seq in sorted(begun):
        if seq in acked:
            if inflight is not None:
                raise SystemExit("%s: log has an acknowledged operation after an unacknowledged one" % log)
            apply(model, begun[seq], tag, seq)
        else:
            inflight = seq
    actual = read_dir(d)
    diff = first_difference(actual, model)
    if diff is None:
        return "%d acknowledged operations verified%s" % (
            len(acked), "; the one in flight did not happen" if inflight else "")
    if inflight is None:
        raise SystemExit("%s: %s (after %d acknowledged operations, none in flight)" % (
            d, diff, len(acked)))
    after = {k: bytearray(v) for k, v in model.items()}
    op = begun[inflight]
    apply(after, op, tag, inflight)
    if first_difference(actual, after) is None:
        return "%d acknowledged operations verified; the one in flight (%s) happened" % (
            len(acked), " ".join(op))
    if op[0] in ("write", "append") and torn_ok(actual, model, after, op[1], False):
        return "%d acknowledged operations verified; the one in flight (%s) was torn (%d of %d bytes in the file)" % (
            len(acked), " ".join(op), len(actual[op[1]]), len(after[op[1]]))
    if size_first and op[0] in ("write", "append") and torn_ok(actual, model, after, op[1], True):
        return ("%d acknowledged operations verified; the one in flight (%s) left the new size "
                "with zeros where its data was not written back" % (len(acked), " ".join(op)))
    raise SystemExit("%s: %s; nor does it match the state with the operation in flight (%s): %s"
                     % (d, diff, " ".join(op), first_difference(actual, after)))


def snapshot(d):
    lines = []
    for name, data in sorted(read_dir(d).items()):
        lines.append("%s %d %s" % (name, len(data), hashlib.sha256(data).hexdigest()))
    return "\n".join(lines)


def check_round(work, mnt, r, writers, mode):
    r, writers = int(r), int(writers)
    lines = []
    for w in range(1, writers + 1):
        d = "r%d-w%d" % (r, w)
        try:
            lines.append("%s: %s" % (d, verify(os.path.join(mnt, d), os.path.join(work, "log-" + d), mode)))
        except SystemExit as e:
            raise SystemExit("round %d, %s: %s" % (r, d, e))
        with open(os.path.join(work, "snap-" + d), "w") as f:
            f.write(snapshot(os.path.join(mnt, d)))
    for earlier in range(1, r):
        for w in range(1, writers + 1):
            d = "r%d-w%d" % (earlier, w)
            saved = open(os.path.join(work, "snap-" + d)).read()
            now = snapshot(os.path.join(mnt, d))
            if now != saved:
                raise SystemExit("%s changed since it was verified after round %d: was [%s], now [%s]"
                                 % (d, earlier, saved.replace("\n", "; ")[:300],
                                    now.replace("\n", "; ")[:300]))
    if r > 1:
        lines.append("rounds 1..%d: unchanged since verified" % (r - 1))
    return "\n".join(lines)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    out = {"writer": writer, "verify": verify, "snapshot": snapshot, "round": check_round}[cmd](*args)
    print(out)


if __name__ == "__main__":
    main()
