#!/usr/bin/env python3
"""Add the nft JSON form to the txlate cases: for every case of cases.jsonl with an
`nft_ruleset`, load that ruleset with the real nft (1.0.6) in a throw-away network
namespace and list it back with `nft -j list ruleset`; write cases-json.jsonl, one
object per such case: {"file", "line", "nft_json"} (or "nft_json_error": why).
The import's JSON reader is tested on these against the text form of the same rule.

Needs root. Run: nft_json.py
"""
import json, os, subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
NS = 'hxtxjson'


def sh(*cmd, inp=None):
    return subprocess.run(cmd, input=inp, capture_output=True, text=True)


def main():
    out = []
    for l in open(os.path.join(HERE, 'cases.jsonl')):
        c = json.loads(l)
        if not c.get('nft_ruleset'):
            continue
        sh('ip', 'netns', 'del', NS)
        sh('ip', 'netns', 'add', NS)
        r = sh('ip', 'netns', 'exec', NS, 'nft', '-f', '-', inp=c['nft_ruleset'])
        o = {'file': c['file'], 'line': c['line']}
        if r.returncode != 0:
            o['nft_json_error'] = r.stderr.strip()
        else:
            j = sh('ip', 'netns', 'exec', NS, 'nft', '-j', 'list', 'ruleset')
            o['nft_json'] = j.stdout.strip()
        out.append(o)
    sh('ip', 'netns', 'del', NS)
    with open(os.path.join(HERE, 'cases-json.jsonl'), 'w') as f:
        for o in out:
            f.write(json.dumps(o) + '\n')
    print(len(out), 'cases,', sum(1 for o in out if 'nft_json' in o), 'listed as JSON')


main()
