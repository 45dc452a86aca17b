#!/usr/bin/env python3
"""Independent RFC 6962 test vectors for tessera-audit's Merkle tree.

Written straight from the text of RFC 6962 section 2.1 (MTH, PATH and PROOF/SUBPROOF),
using nothing but hashlib, so that the Rust implementation is checked against a second
implementation that shares no code with it. Leaves are the byte strings b"leaf-{i}".

Run from this folder with `python3 make_vectors.py`; it writes vectors.json next to itself:
  roots:        {"n": n, "root": hex MTH(D[0:n])} for n = 0..64
  inclusion:    {"index": m, "n": n, "path": [hex...]} for every 0 <= m < n <= 32
  consistency:  {"m": m, "n": n, "proof": [hex...]} for every 1 <= m <= n <= 32
  leaf_hashes:  hex SHA-256(0x00 || leaf) for the 64 leaves
"""

import hashlib
import json
import os


def sha256(data):
    return hashlib.sha256(data).digest()


def largest_power_of_two_less_than(n):
    # "k is the largest power of two smaller than n (i.e., k < n <= 2k)"
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    """MTH(D[n]) from RFC 6962 section 2.1."""
    n = len(d)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + d[0])
    k = largest_power_of_two_less_than(n)
    return sha256(b"\x01" + mth(d[0:k]) + mth(d[k:n]))


def path(m, d):
    """PATH(m, D[n]) from RFC 6962 section 2.1.1."""
    n = len(d)
    if n == 1:
        return []
    k = largest_power_of_two_less_than(n)
    if m < k:
        return path(m, d[0:k]) + [mth(d[k:n])]
    return path(m - k, d[k:n]) + [mth(d[0:k])]


def subproof(m, d, b):
    """SUBPROOF(m, D[n], b) from RFC 6962 section 2.1.2."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = largest_power_of_two_less_than(n)
    if m <= k:
        return subproof(m, d[0:k], b) + [mth(d[k:n])]
    return subproof(m - k, d[k:n], False) + [mth(d[0:k])]


def proof(m, d):
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    return subproof(m, d, True)


def main():
    leaves = [b"leaf-%d" % i for i in range(64)]
    out = {
        "description": "RFC 6962 MTH, PATH and PROOF over leaves b'leaf-{i}', from make_vectors.py (hashlib only)",
        "leaves": [leaf.decode() for leaf in leaves],
        "leaf_hashes": [sha256(b"\x00" + leaf).hex() for leaf in leaves],
        "roots": [{"n": n, "root": mth(leaves[:n]).hex()} for n in range(0, 65)],
        "inclusion": [
            {"index": m, "n": n, "path": [h.hex() for h in path(m, leaves[:n])]}
            for n in range(1, 33)
            for m in range(n)
        ],
        "consistency": [
            {"m": m, "n": n, "proof": [h.hex() for h in proof(m, leaves[:n])]}
            for n in range(1, 33)
            for m in range(1, n + 1)
        ],
    }
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "vectors.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
