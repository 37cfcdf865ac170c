#!/usr/bin/env python3
"""Helpers for conformance/run.sh (standard library only).

  report.py focus NAME            print an anchored Go (RE2) regex matching exactly NAME
  report.py names CONFORMANCE_YAML print every codename of upstream's conformance.yaml, one a line
  report.py compact FILE          drop the specs the focus skipped from a ginkgo JSON report or a JUnit file
  report.py summarize OUT_DIR [--status FILE --all FILE --version V --claimed FILE]
        read OUT_DIR/specs.tsv (index<TAB>name) and OUT_DIR/reports/<index>.json (ginkgo JSON
        reports, one spec each), print per SIG "N passed, N failed" and an overall line, write
        OUT_DIR/results.tsv, and with --status write a STATUS.md covering every name in --all.
        Exit status 1 when a test named in --claimed did not pass.
"""
import json
import os
import re
import sys

RE2_SPECIAL = set('\\.+*?()|[]{}^$')


def focus(name):
    # Ginkgo matches the focus against "<suite description> <spec text>", so anchor at a space.
    return '(^| )' + ''.join('\\' + c if c in RE2_SPECIAL else c for c in name) + '$'


def codenames(path):
    """The codename of each entry of conformance.yaml, without a YAML library.

    Entries look like `- testname: ...` / `  codename: '...'` where a quoted value may be folded
    over several more-indented lines."""
    try:
        import yaml  # PyYAML, when present, is authoritative
        return [t['codename'] for t in yaml.safe_load(open(path, encoding='utf-8'))]
    except ImportError:
        pass
    names = []
    lines = open(path, encoding='utf-8').read().split('\n')
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith('  codename: '):
            value = line[len('  codename: '):]
            i += 1
            while i < len(lines) and lines[i].startswith('    '):
                value += ' ' + lines[i].strip()
                i += 1
            value = value.strip()
            if value.startswith("'") and value.endswith("'"):
                value = value[1:-1].replace("''", "'")
            elif value.startswith('"') and value.endswith('"'):
                value = json.loads(value)
            names.append(value)
            continue
        i += 1
    return names


def sig_of(name):
    m = re.match(r'\[(sig-[a-z-]+)\]', name)
    return m.group(1) if m else 'other'


def one_line(text, limit=300):
    for line in (text or '').splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[:limit] + '…'
    return ''


def failure_line(spec):
    """The most useful single line about why a spec did not pass."""
    failure = spec.get('Failure') or {}
    msg = failure.get('Message') or ''
    loc = failure.get('Location') or {}
    where = ''
    fn = loc.get('FileName') or ''
    if fn and '/test/e2e/' not in fn:
        # A panic or helper deep in a library: name the test's own frame instead.
        m = re.search(r'(/test/e2e/[^\s:]+\.go):(\d+)', loc.get('FullStackTrace') or '')
        if m:
            loc = {'FileName': m.group(1), 'LineNumber': m.group(2)}
    if loc.get('FileName'):
        fn = loc['FileName']
        fn = fn[fn.find('/test/e2e/') + 1:] if '/test/e2e/' in fn else os.path.basename(fn)
        where = f' ({fn}:{loc.get("LineNumber")})'
    # Gomega messages span lines ("Expected\n    <string>: x\nto equal\n    <string>: y"): squeeze
    # the first lines into one.
    lines = [l.strip() for l in msg.splitlines() if l.strip()]
    first = ' '.join(lines[:8])
    panic = failure.get('ForwardedPanic') or ''
    if panic:
        first = f'panic: {one_line(panic)} ' + first
    if not first:
        first = spec.get('State', '')
    progress = failure.get('ProgressReport') or {}
    step = progress.get('CurrentStepText') or ''
    state = spec.get('State', '')
    if state in ('interrupted', 'timedout', 'aborted') and step:
        first += f' [at step: {step}]'
    first = one_line(re.sub(r'\s+', ' ', first), 500)
    return first + where


def load_results(out_dir):
    specs = []
    with open(os.path.join(out_dir, 'specs.tsv'), encoding='utf-8') as f:
        for line in f:
            line = line.rstrip('\n')
            if line:
                idx, name = line.split('\t', 1)
                specs.append((idx, name))
    results = {}
    for idx, name in specs:
        path = os.path.join(out_dir, 'reports', idx + '.json')
        log = os.path.join(out_dir, 'logs', idx + '.log')
        state, detail, secs = 'failed', '', 0.0
        try:
            reports = json.load(open(path, encoding='utf-8'))
        except (OSError, ValueError):
            reports = None
        if not reports:
            tail = ''
            try:
                tail = [l for l in open(log, encoding='utf-8', errors='replace').read().splitlines() if l.strip()][-1]
            except (OSError, IndexError):
                pass
            detail = 'no ginkgo report (process killed by the per-test timeout?)' + (f' last log line: {tail.strip()[:200]}' if tail else '')
        else:
            its = [s for r in reports for s in (r.get('SpecReports') or []) if s.get('LeafNodeType') == 'It']
            setup = [s for r in reports for s in (r.get('SpecReports') or [])
                     if s.get('LeafNodeType') != 'It' and s.get('State') not in ('passed', None)]
            ran = [s for s in its if s.get('State') != 'skipped']
            if setup:
                state, detail = 'failed', 'suite setup failed: ' + failure_line(setup[0])
            elif not ran:
                skipped = [s for s in its if s.get('State') == 'skipped' and (s.get('Failure') or {}).get('Message')]
                if skipped:
                    state, detail = 'skipped', failure_line(skipped[0])
                else:
                    state, detail = 'not found', 'no spec matched this name'
            else:
                s = ran[0]
                secs = (s.get('RunTime') or 0) / 1e9
                if s.get('State') == 'passed':
                    state = 'passed'
                else:
                    state, detail = 'failed', f'[{s.get("State")}] ' + failure_line(s)
        results[name] = (state, detail, secs, idx)
    return specs, results


def summarize(out_dir, status=None, all_names=None, version='', claimed=None):
    specs, results = load_results(out_dir)
    per_sig = {}
    for _, name in specs:
        state = results[name][0]
        p, f = per_sig.get(sig_of(name), (0, 0))
        if state == 'passed':
            p += 1
        else:
            f += 1
        per_sig[sig_of(name)] = (p, f)
    with open(os.path.join(out_dir, 'results.tsv'), 'w', encoding='utf-8') as out:
        for _, name in specs:
            state, detail, secs, idx = results[name]
            out.write(f'{state}\t{secs:.1f}\t{name}\t{detail}\n')
    for _, name in specs:
        state, detail, secs, idx = results[name]
        if state != 'passed':
            print(f'FAIL ({state}) {name}\n    {detail}\n    log: {out_dir}/logs/{idx}.log')
    for sig in sorted(per_sig):
        p, f = per_sig[sig]
        print(f'{sig}: {p} passed, {f} failed')
    tp = sum(p for p, _ in per_sig.values())
    tf = sum(f for _, f in per_sig.values())
    print(f'{tp} passed, {tf} failed')

    if status:
        names = [l.rstrip('\n') for l in open(all_names, encoding='utf-8') if l.strip()]
        claimed_set = set()
        if claimed and os.path.exists(claimed):
            claimed_set = {l.strip() for l in open(claimed, encoding='utf-8') if l.strip() and not l.startswith('#')}
        counts = {'passing': 0, 'failing': 0, 'not run': 0}
        rows = []
        for name in names:
            if name in results:
                state, detail, secs, _ = results[name]
                if state == 'passed':
                    cell, key = 'passing', 'passing'
                elif state == 'skipped':
                    cell, key = 'not run (skipped: ' + detail.replace('|', '\\|') + ')', 'not run'
                else:
                    cell, key = 'failing: ' + detail.replace('|', '\\|'), 'failing'
            else:
                cell, key = 'not run', 'not run'
            counts[key] += 1
            mark = ' (claimed)' if name in claimed_set else ''
            rows.append(f'| {name.replace("|", chr(92) + "|")}{mark} | {cell} |')
        with open(status, 'w', encoding='utf-8') as f:
            f.write('# Upstream conformance tests against Den\n\n')
            f.write(f'Written by `FULL=1 conformance/run.sh` with upstream e2e.test {version}. '
                    'Every test of upstream\'s conformance list is one row: passing, failing (with the '
                    'first line of its failure), or not run. Tests marked (claimed) are in '
                    '`conformance/claimed.txt` and run in CI.\n\n')
            f.write(f'{counts["passing"]} passing, {counts["failing"]} failing, {counts["not run"]} not run '
                    f'(of {len(names)}).\n\n')
            f.write('| test | result |\n|---|---|\n')
            f.write('\n'.join(rows) + '\n')
    if claimed and os.path.exists(claimed):
        claimed_set = {l.strip() for l in open(claimed, encoding='utf-8') if l.strip() and not l.startswith('#')}
        bad = [n for _, n in specs if n in claimed_set and results[n][0] != 'passed']
        if bad:
            print(f'{len(bad)} claimed test(s) did not pass', file=sys.stderr)
            return 1
    return 0


def compact(path):
    """Drop the thousands of specs the focus skipped from a ginkgo JSON report (about 10 MB each)."""
    try:
        reports = json.load(open(path, encoding='utf-8'))
    except (OSError, ValueError):
        return
    for r in reports:
        r['SpecReports'] = [s for s in (r.get('SpecReports') or [])
                            if s.get('State') != 'skipped' or (s.get('Failure') or {}).get('Message')]
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(reports, f)


def compact_junit(path):
    """Drop the skipped test cases from a JUnit file the e2e framework wrote (about 2 MB each)."""
    import xml.etree.ElementTree as ET
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return
    for suite in tree.getroot().iter('testsuite'):
        for case in list(suite.findall('testcase')):
            if case.find('skipped') is not None:
                suite.remove(case)
        suite.set('skipped', '0')
        suite.set('tests', str(len(suite.findall('testcase'))))
    tree.write(path, encoding='utf-8', xml_declaration=True)


def main(argv):
    if len(argv) == 2 and argv[0] == 'compact':
        if argv[1].endswith('.xml'):
            compact_junit(argv[1])
        else:
            compact(argv[1])
        return 0
    if len(argv) >= 2 and argv[0] == 'focus':
        print(focus(argv[1]))
        return 0
    if len(argv) == 2 and argv[0] == 'names':
        for n in codenames(argv[1]):
            print(n)
        return 0
    if len(argv) >= 2 and argv[0] == 'summarize':
        opts = {}
        rest = argv[2:]
        while rest:
            opts[rest[0].lstrip('-')] = rest[1]
            rest = rest[2:]
        return summarize(argv[1], opts.get('status'), opts.get('all'), opts.get('version', ''), opts.get('claimed'))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
