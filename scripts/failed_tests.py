#!/usr/bin/env python3
"""scripts/failed_tests.py TESTLOG.json - one short block per test that did
not pass (name, result, the last lines of its output that say why), so that
the tail of a CI log names what failed. Prints nothing when all passed."""
import json
import sys

def why(text, limit=5):
    """The first failed assertion (Catch2 "FAILED:" and what follows), or
    else the last lines of output."""
    lines = [l.rstrip() for l in (text or "").splitlines() if l.strip()]
    for i, l in enumerate(lines):
        if "FAILED" in l or "error:" in l or "ERROR" in l:
            return [x[:160] for x in lines[i:i + limit]]
    return [x[:160] for x in lines[-limit:]]

def main(path):
    try:
        with open(path) as f:
            records = [json.loads(l) for l in f if l.strip()]
    except OSError as e:
        print(f"(no test log: {e})")
        return
    for r in records:
        if r.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
            continue
        print(f"  {r.get('name')}: {r.get('result')} "
              f"(exit {r.get('returncode')}, {r.get('duration', 0):.1f} s)")
        for l in why((r.get("stdout") or "") + "\n" + (r.get("stderr") or "")):
            print(f"    | {l}")

if __name__ == "__main__":
    main(sys.argv[1])
