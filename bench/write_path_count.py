#!/usr/bin/env python3
"""bench/write_path_count.py PROFILE BINARY: the source files and classes of pmemfs that a
callgrind profile (made with --dump-instr=yes, as bench/write_path.sh makes it) ran code of.

Every instruction of BINARY with a cost is symbolized with llvm-symbolizer --inlining, which gives
the chain of functions it belongs to, inlined ones first, the function that was really called
last. Two counts:
  A. call level: the functions that ran as calls (the last of each chain), the file each is in
     and its class: the path as a call graph shows it;
  B. with inlined code: every function of every chain (accessors, Status, locks, ...).
Files: repository paths (fs/, mapping/, include/, client/, tools/); system headers are left out.
Classes: the qualifiers of pmemfs:: function names that are not namespaces."""
import re
import subprocess
import sys

NAMESPACES = {'pmemfs', 'core', 'store', 'mapping', 'fuse', 'layout', 'handlers', 'direct',
              '(anonymous namespace)'}


def addresses(profile, binary):
    """The instruction addresses of `binary`'s object that have a self cost."""
    names, obj, last, skip, out = {}, None, [0, 0], False, set()

    def name(kind, v):
        m = re.match(r'\((\d+)\)\s*(.*)', v)
        if not m:
            return v
        if m.group(2):
            names[(kind, m.group(1))] = m.group(2)
        return names.get((kind, m.group(1)), '?')

    def pos(tok, i):
        if tok == '*':
            return last[i]
        if tok[0] in '+-':
            return last[i] + int(tok, 0)
        return int(tok, 0)

    base = binary.split('/')[-1]
    for line in open(profile):
        line = line.rstrip('\n')
        if not line:
            continue
        key, _, val = line.partition('=')
        if key == 'ob':
            obj = name('ob', val)
        elif key == 'cob':
            name('ob', val)
        elif key in ('fl', 'fi', 'fe', 'cfl', 'cfi'):
            name('fl', val)
        elif key in ('fn', 'cfn'):
            name('fn', val)
        elif key == 'calls':
            skip = True  # the next line is the call's inclusive cost, not this function's
        elif line[0] in '0123456789+-*':
            f = line.split()
            last[0], last[1] = pos(f[0], 0), pos(f[1], 1)
            if skip:
                skip = False
            elif obj and obj.endswith('/' + base) and any(int(c) for c in f[2:]):
                out.add(last[0])
    return out


def split_qualified(s):
    """'a::b<c::d>::f' -> ['a', 'b<c::d>', 'f'] (template and parameter lists kept whole)."""
    parts, depth, cur, i = [], 0, '', 0
    while i < len(s):
        if s.startswith('(anonymous namespace)', i):
            cur += '(anonymous namespace)'
            i += len('(anonymous namespace)')
            continue
        ch = s[i]
        if ch in '<(':
            depth += 1
        elif ch in '>)':
            depth -= 1
        if depth == 0 and s.startswith('::', i):
            parts.append(cur)
            cur, i = '', i + 2
            continue
        cur += ch
        i += 1
    parts.append(cur)
    return parts


def function_name(fn):
    """The name without its parameter list."""
    depth = 0
    for i, ch in enumerate(fn):
        if ch == '<':
            depth += 1
        elif ch == '>':
            depth -= 1
        elif ch == '(' and depth == 0 and not fn.startswith('(anonymous', i):
            return fn[:i]
    return fn


def classes_of(fn):
    out = set()
    for part in split_qualified(function_name(fn))[:-1]:
        base = re.sub(r'<.*', '', part)
        if base and base not in NAMESPACES and not base.startswith('{lambda'):
            out.add(base)
    return out


def repo_path(path):
    m = re.search(r'layer-include/[^/]+/(.*)', path)  # scripts/build's per-layer include copies
    if m:
        return m.group(1)
    m = re.search(r'/((?:fs|mapping|include/pmemfs|client|tools)/.*)', path.replace('/build/../', '/'))
    return m.group(1) if m else None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    profile, binary = sys.argv[1], sys.argv[2]
    addrs = sorted(addresses(profile, binary))
    text = subprocess.run(['llvm-symbolizer', '--obj=' + binary, '--inlining', '--demangle',
                           '--functions=linkage'], input='\n'.join(hex(a) for a in addrs),
                          capture_output=True, text=True, check=True).stdout
    files = {'A': set(), 'B': set()}
    classes = {'A': set(), 'B': set()}
    for block in text.strip().split('\n\n'):
        lines = block.split('\n')
        frames = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
        for k, (fn, loc) in enumerate(frames):
            kinds = ('A', 'B') if k == len(frames) - 1 else ('B',)
            path = repo_path(loc.rsplit(':', 2)[0])
            for kind in kinds:
                if path:
                    files[kind].add(path)
                if fn.startswith('pmemfs::'):
                    classes[kind] |= classes_of(fn)
    for kind, what in (('A', 'call level'), ('B', 'with inlined code')):
        print('%s. %s: %d files, %d classes' % (kind, what, len(files[kind]), len(classes[kind])))
        print('   files:', ' '.join(sorted(files[kind])))
        print('   classes:', ' '.join(sorted(classes[kind])))


if __name__ == '__main__':
    main()
