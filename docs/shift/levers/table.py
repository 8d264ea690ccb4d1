#!/usr/bin/env python3
"""The levers table of README "Under shift": per configuration and severity, accuracy, ECE, NLL
and the mean model part, read from the shift.json of every configuration's `sbn shift` run.

    python3 docs/shift/levers/table.py NAME=DIR/shift.json ...   (the first is the baseline)
"""
import json, sys

runs = [(a.split('=', 1)[0], json.load(open(a.split('=', 1)[1]))) for a in sys.argv[1:]]
base = runs[0][1]
def rows(r, kind):
    k = next(k for k in r['kinds'] if k['kind'] == kind)
    return [r['clean']] + k['results']
for kind in [k['kind'] for k in base['kinds']]:
    sev = ['clean'] + [f"{x['severity']:g}" for x in rows(base, kind)[1:]]
    print(f"\n{kind} ({next(k for k in base['kinds'] if k['kind'] == kind)['unit']})\n")
    print('| configuration | ' + ' | '.join(sev) + ' |')
    print('|---|' + '---|' * len(sev))
    for name, r in runs:
        cells = []
        for x, b in zip(rows(r, kind), rows(base, kind)):
            cells.append(f"{100*x['accuracy']:.1f} / {100*x['ece']:.1f} / {x['nll']:.2f} / {x['uncertainty']['model']:.3f}")
        print(f'| {name} | ' + ' | '.join(cells) + ' |')
    for name, r in runs[1:]:
        f = [b['ece'] / x['ece'] if x['ece'] > 0 else float('inf') for x, b in zip(rows(r, kind), rows(base, kind))]
        print(f"\nECE factor, {runs[0][0]} / {name}: " + ', '.join(f"{v:.2f}×" for v in f))
