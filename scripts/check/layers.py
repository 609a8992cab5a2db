#!/usr/bin/env python3
"""The source tree's import rules, checked from the code's own paths.

Every `use` and every path through `crate::`, `super::`, `self::` or a child module is an
edge from the file that writes it to the module file that defines the item (re-exports
followed to where the item is defined; test code, after `#[cfg(test)]` or in
tests.rs and testing.rs, left out). Then:
  - no cycle between files, a module and its own children included;
  - each top-level module is in a layer, and an edge goes only to the same layer or one
    below: wiring (app, cli, config, error, server) -> adapters -> core (protocol, jose,
    board, and observe, the in-memory counters the core reads) -> vocabulary (vocab);
  - protocol may use jose, board and observe, which use none of each other.
Usage: scripts/check/layers.py [src] [--edges]   (exit 1 and the offending edges on failure)
"""
import os
import re
import sys

if '--help' in sys.argv or '-h' in sys.argv:
    print(__doc__.strip())
    sys.exit(0)
ROOT = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith('-') else 'src'
RANK = {'vocab': 0, 'observe': 1, 'jose': 1, 'board': 1, 'protocol': 2, 'adapters': 3,
        'app': 4, 'cli': 4, 'config': 4, 'error': 4, 'server': 4, '': 5}
# Modules of one rank that may not use each other.
APART = {frozenset({'jose', 'board'}), frozenset({'jose', 'observe'}), frozenset({'board', 'observe'})}


def files():
    out = {}
    for d, _, fs in os.walk(ROOT):
        for f in fs:
            # Test code (tests.rs, and testing.rs, the support the fuzz targets share) may
            # reach anywhere.
            if f.endswith('.rs') and f not in ('tests.rs', 'testing.rs'):
                p = os.path.relpath(os.path.join(d, f), ROOT)[:-3].split(os.sep)
                if p[-1] == 'mod':
                    p = p[:-1]
                if p in (['lib'], ['main']):
                    p = []
                out[tuple(p)] = os.path.join(d, f)
    return out


MODS = files()


def code_of(path):
    s = open(path).read()
    # Strings and comments out, in one pass (a URL in a string is no comment).
    s = re.sub(r'r(#*)".*?"\1|"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/',
               lambda mo: '""' if mo.group(0)[0] in 'r"' else '', s, flags=re.S)
    i = s.find('#[cfg(test)]')
    return s if i < 0 else s[:i]


def expand(prefix, s):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d']."""
    if '{' not in s:
        return [prefix + s]
    i = s.index('{')
    pre, inner = s[:i], s[i + 1:s.rindex('}')]
    parts, depth, cur = [], 0, ''
    for ch in inner:
        depth += ch == '{'
        depth -= ch == '}'
        if ch == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return [r for p in parts if p for r in expand(prefix + pre, p)]


CODE = {m: code_of(f) for m, f in MODS.items()}
CHILDREN = {m: set(re.findall(r'\bmod\s+(\w+)\s*;', CODE[m])) for m in MODS}
USES = {}     # module -> [(path segments, is_pub_use)]
for m in MODS:
    uses = []
    for u in re.finditer(r'\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);', CODE[m]):
        body = re.sub(r'\s+', '', u.group(2))
        for p in expand('', body):
            p = re.sub(r'\bas\w+$', '', p.replace(' ', ''))
            uses.append((p, bool(u.group(1))))
    USES[m] = uses


def absolute(m, segs):
    """Segments written in module m, made absolute (None: not a path into this crate)."""
    if not segs:
        return None
    head = segs[0]
    if head == 'crate':
        return segs[1:]
    if head == 'self':
        return list(m) + segs[1:]
    if head == 'super':
        base = list(m)
        while segs and segs[0] == 'super':
            base, segs = base[:-1], segs[1:]
        return base + segs
    if head in CHILDREN.get(m, ()):
        return list(m) + segs
    return None


def aliases(m):
    """Names module m brings in by `use` -> absolute segments."""
    out = {}
    for p, _ in USES[m]:
        segs = p.split('::')
        name_rename = re.search(r'(\w+)as(\w+)$', segs[-1])
        a = absolute(m, segs)
        if a is None:
            continue
        if segs[-1] == 'self':
            a = a[:-1]
            out[a[-1] if a else ''] = a
        elif segs[-1] == '*':
            continue
        else:
            out[a[-1]] = a
    return out


ALIASES = {m: aliases(m) for m in MODS}


def resolve(segs, seen=None):
    """The module file that defines what absolute `segs` names, following re-exports."""
    seen = seen or set()
    for n in range(len(segs), -1, -1):
        mod = tuple(segs[:n])
        if mod in MODS:
            rest = segs[n:]
            if rest and (mod, rest[0]) not in seen:
                target = ALIASES[mod].get(rest[0])
                pub = any(p.split('::')[-1] == rest[0] or re.search(r'as' + rest[0] + '$', p)
                          for p, is_pub in USES[mod] if is_pub)
                if target is not None and pub:
                    seen.add((mod, rest[0]))
                    return resolve(list(target) + rest[1:], seen)
            return mod
    return None


def edges():
    out = {}
    for m in MODS:
        found = set()
        for p, is_pub in USES[m]:
            a = absolute(m, p.split('::'))
            if a is not None and a[-1:] != ['*']:
                found.add(resolve(a[:-1] if a[-1] == 'self' else a))
            elif a is not None:
                found.add(resolve(a[:-1]))
        text = CODE[m]
        for mo in re.finditer(r'(?<![\w:])((?:crate|super|self)(?:::\w+)+)(?![\w:])', text):
            found.add(resolve(absolute(m, mo.group(1).split('::'))))
        # Paths through a name `use` brought in, or a child module.
        names = set(ALIASES[m]) | CHILDREN[m]
        for mo in re.finditer(r'(?<![\w:])(\w+)((?:::\w+)+)(?![\w:])', text):
            head = mo.group(1)
            if head in names and head not in ('crate', 'super', 'self'):
                base = ALIASES[m].get(head) or list(m) + [head]
                found.add(resolve(list(base) + mo.group(2).split('::')[1:]))
        found.discard(None)
        found.discard(m)
        out[m] = found
    return out


def name(m):
    return '::'.join(m) or 'crate'


def layer(m):
    return m[0] if m else ''


def main():
    e = edges()
    bad = []
    for a, bs in e.items():
        for b in bs:
            la, lb = layer(a), layer(b)
            if not a or not b:
                continue  # the crate root declares the layers
            if RANK[lb] > RANK[la] or frozenset({la, lb}) in APART:
                bad.append(f'{name(a)} -> {name(b)}: {la} may not use {lb}')
    # Cycles (Tarjan).
    index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(100000)

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in e.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in MODS:
        if v not in index:
            visit(v)
    for comp in comps:
        bad.append('cycle: ' + ', '.join(sorted(map(name, comp))))
        for a in comp:
            for b in sorted(e[a] & set(comp)):
                bad.append(f'    {name(a)} -> {name(b)}')
    if '--edges' in sys.argv:
        for a in sorted(e):
            print(name(a), '->', ' '.join(sorted(map(name, e[a]))))
    for line in bad:
        print(line)
    print(f'{len(MODS)} files, {sum(map(len, e.values()))} imports: '
          + ('ok' if not bad else f'{len(bad)} problems'))
    return 1 if bad else 0


sys.exit(main())
