"""An allocation-heavy Python workload for bench/run: dicts, lists, strings
and JSON, the kind of work a web service or a build script does.

    python3 py-work.py N

N sets the size (records built per pass).  Every step checks its result;
the last line printed is a digest that must be the same under every
allocator (bench/run compares it with a run on the system's malloc).
"""
import hashlib
import json
import sys


def records(n, seed):
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta",
             "theta", "iota", "kappa", "lambda", "mu"]
    x = seed
    out = []
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append({
            "id": i,
            "name": "%s-%d" % (words[x % len(words)], x % 9973),
            "tags": [words[(x >> k) % len(words)] for k in range(x % 5)],
            "score": (x % 100000) / 7.0,
            "nested": {"a": x % 17, "b": str(x)},
        })
    return out


def one_pass(n, seed, digest):
    recs = records(n, seed)

    # Index by name, group by first tag: dicts of lists.
    by_name = {}
    groups = {}
    for r in recs:
        by_name.setdefault(r["name"], []).append(r["id"])
        key = r["tags"][0] if r["tags"] else ""
        groups.setdefault(key, []).append(r)
    assert sum(len(v) for v in by_name.values()) == n
    assert sum(len(v) for v in groups.values()) == n

    # Sort and slice lists.
    ranked = sorted(recs, key=lambda r: (-r["score"], r["id"]))
    top = [r["id"] for r in ranked[:100]]
    assert all(ranked[i]["score"] >= ranked[i + 1]["score"]
               for i in range(len(ranked) - 1))

    # Strings: build, split, join, replace.
    text = "\n".join("%d,%s,%s,%.3f" % (r["id"], r["name"], "|".join(r["tags"]),
                                        r["score"]) for r in recs)
    lines = text.split("\n")
    assert len(lines) == n
    upper = [ln.upper().replace("A", "4") for ln in lines]
    words = {}
    for ln in upper:
        for w in ln.split(","):
            words[w] = words.get(w, 0) + 1

    # JSON round trip.
    blob = json.dumps(recs, sort_keys=True)
    back = json.loads(blob)
    assert back == recs
    small = [json.dumps(g[:10], sort_keys=True) for g in groups.values()]

    digest.update(blob.encode())
    digest.update(repr(top).encode())
    digest.update(repr(sorted(words.items())[:1000]).encode())
    digest.update("".join(sorted(small)).encode())


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    digest = hashlib.sha256()
    for seed in range(1, 6):
        one_pass(n, seed, digest)
    print("py-work: %d records x 5 passes: ok %s" % (n, digest.hexdigest()[:16]))


if __name__ == "__main__":
    main()
