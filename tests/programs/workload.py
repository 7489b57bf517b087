"""A deterministic allocation workload for CPython (tests/programs/python.sh).

Dicts, lists, strings, JSON round trips, regular expressions, big
integers, compression and threads; each part prints a SHA-256 digest of
what it computed, so two runs (with and without libmm-malloc.so.1
preloaded) must print exactly the same lines.  Usage: workload.py [SCALE]
(default 1; larger runs longer).
"""
import collections
import concurrent.futures
import gc
import hashlib
import json
import random
import re
import sys
import threading
import zlib

SCALE = int(sys.argv[1]) if len(sys.argv) > 1 else 1


def digest(obj):
    return hashlib.sha256(repr(obj).encode("utf-8")).hexdigest()[:16]


def part_dicts(rng):
    d = {}
    for i in range(60000 * SCALE):
        d["k%07d" % rng.randrange(10 ** 7)] = (i, str(i) * (i % 7))
    for k in list(d)[::3]:
        del d[k]
    nested = {k: {"v": v[0], "s": v[1], "l": list(range(v[0] % 10))}
              for k, v in list(d.items())[:20000]}
    merged = dict(nested)
    merged.update({"extra%d" % i: i for i in range(5000)})
    counts = collections.Counter(len(v[1]) for v in d.values())
    return digest((len(d), sorted(d.items())[:50], len(merged), sorted(counts.items())))


def part_lists(rng):
    xs = [rng.randrange(1 << 30) for _ in range(150000 * SCALE)]
    ys = sorted(xs)
    zs = [ys[i:i + 100] for i in range(0, len(ys), 100)]
    zs.reverse()
    flat = [x for chunk in zs for x in chunk[::-1]]
    assert flat == ys[::-1]
    dq = collections.deque(maxlen=1000)
    for x in xs:
        dq.append(x ^ 0x5A5A5A)
    return digest((ys[:100], ys[-100:], sum(ys) % 1000003, list(dq)[:50]))


def part_strings(rng):
    words = ["".join(chr(97 + rng.randrange(26)) for _ in range(rng.randrange(1, 12)))
             for _ in range(30000 * SCALE)]
    text = " ".join(words)
    up = text.upper().replace("A", "\u00e4").replace("E", "\u20ac")
    enc = up.encode("utf-8")
    back = enc.decode("utf-8")
    assert back == up
    parts = back.split(" ")
    fmt = ["%s:%d:%r" % (w, i, w[::-1]) for i, w in enumerate(parts[:20000])]
    joined = "|".join(fmt)
    pieces = []
    for i in range(20000):
        pieces.append(f"{i:06d}-{words[i % len(words)]:>12}")
    return digest((len(text), len(enc), joined[:500], hashlib.md5(joined.encode()).hexdigest(),
                   "".join(pieces)[-200:]))


def part_json(rng):
    def make(depth):
        if depth == 0:
            choice = rng.randrange(5)
            if choice == 0:
                return rng.randrange(-10 ** 9, 10 ** 9)
            if choice == 1:
                return "s\u00f8me \"text\" %d" % rng.randrange(1000)
            if choice == 2:
                return rng.random()
            if choice == 3:
                return None
            return rng.randrange(2) == 0
        if rng.randrange(2):
            return [make(depth - 1) for _ in range(rng.randrange(1, 6))]
        return {"key%d" % rng.randrange(100): make(depth - 1) for _ in range(rng.randrange(1, 6))}

    docs = [make(6) for _ in range(150 * SCALE)]
    total = 0
    for doc in docs:
        s = json.dumps(doc, sort_keys=True)
        again = json.loads(s)
        assert again == doc
        s2 = json.dumps(again, sort_keys=True, indent=1)
        assert json.loads(s2) == doc
        total += len(s) + len(s2)
    return digest((total, json.dumps(docs[:3], sort_keys=True)))


def part_regex(rng):
    lines = ["user%d@host%d.example.org said %s at %02d:%02d"
             % (rng.randrange(1000), rng.randrange(50), "x" * rng.randrange(30),
                rng.randrange(24), rng.randrange(60)) for _ in range(20000 * SCALE)]
    pat = re.compile(r"(\w+)@([\w.]+) said (x*) at (\d\d):(\d\d)")
    found = collections.Counter()
    for line in lines:
        m = pat.match(line)
        found[(m.group(2), len(m.group(3)) // 10)] += 1
    subbed = [re.sub(r"\d", "#", line) for line in lines[:5000]]
    return digest((sorted(found.items())[:100], subbed[:20]))


def part_numbers(_rng):
    f = 1
    for i in range(2, 2500):
        f *= i
    fib = [0, 1]
    for _ in range(3000):
        fib.append(fib[-1] + fib[-2])
    data = hex(f).encode() * 20  # (decimal would hit int_max_str_digits)
    packed = zlib.compress(data, 9)
    assert zlib.decompress(packed) == data
    return digest((f % (10 ** 50 + 151), fib[-1] % 999983, len(packed)))


def part_threads(_rng):
    def work(n):
        local_rng = random.Random(n)
        d = {}
        for i in range(20000):
            d[local_rng.randrange(5000)] = [i] * (i % 5)
        blob = json.dumps(sorted(d.items()))
        return n, hashlib.sha256(blob.encode()).hexdigest()[:12], len(blob)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        results = list(ex.map(work, range(16 * SCALE)))

    lock = threading.Lock()
    shared = []

    def appender(t):
        for i in range(5000):
            s = "t%d-%d" % (t, i)
            with lock:
                shared.append(s)

    ts = [threading.Thread(target=appender, args=(t,)) for t in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return digest((results, len(shared), sorted(shared)[:10]))


def main():
    rng = random.Random(20260101)
    results = []
    for name, fn in [("dicts", part_dicts), ("lists", part_lists),
                     ("strings", part_strings), ("json", part_json),
                     ("regex", part_regex), ("numbers", part_numbers),
                     ("threads", part_threads)]:
        d = fn(rng)
        gc.collect()
        results.append(d)
        print("%-8s %s" % (name, d))
    print("digest   %s" % digest(results))


if __name__ == "__main__":
    main()
