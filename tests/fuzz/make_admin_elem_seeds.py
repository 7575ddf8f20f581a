#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_admin_elem (tests/fuzz/corpus/fuzz_admin_elem/).

Scripts for the harness in tests/fuzz/fuzz_admin_elem.c (chain E1 - S - E2)
with Admin micropackets encoded as in docs/wire.md.  Rerun after a change:

    python3 tests/fuzz/make_admin_elem_seeds.py      # from the repository root
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_admin_elem")

E1, S, E2 = 0, 1, 2


def admin(hops, cmd, flags=0, status=0, tag=0, route=b"", args=b""):
    return (bytes([hops, cmd, flags, status]) + struct.pack(">I", tag) +
            bytes(route).ljust(8, b"\0") + bytes(args).ljust(16, b"\0"))


def inject(elem, port, mp):
    return bytes([0, elem, port]) + mp


def request(elem, port, hops, route, cmd, args=b""):
    return (bytes([1, elem, port, hops]) + bytes(route).ljust(8, b"\0") + bytes([cmd]) +
            bytes(args).ljust(16, b"\0"))


def advance(units):  # units * 50 ms, then tick
    return bytes([2, units])


def link(up):
    return bytes([3, 1 if up else 0])


def cancel(tag):
    return bytes([4, tag])


X = bytes([0x02, 0x99, 0, 0, 0, 1])

SEEDS = {
    "ping_chain": request(E1, 0, 0, b"", 0x01) + request(E1, 0, 1, b"\x02", 0x02) +
                  request(E2, 0, 1, b"\x01", 0x01, b"ping"),
    "acquire": link(True) + advance(3) + link(False) + link(True) + advance(20),
    "switch_cmds": request(E1, 0, 0, b"", 0x08, X + b"\x02") +
                   request(E1, 0, 0, b"", 0x09, X) +
                   request(E1, 0, 0, b"", 0x07, b"\x00\x00") +
                   request(E1, 0, 0, b"", 0x04, bytes(6) + b"\x03") +
                   request(E1, 0, 0, b"", 0x08, X + b"\xff"),
    "endpoint_cmds": request(E1, 0, 1, b"\x02", 0x0A) +
                     request(E1, 0, 1, b"\x02", 0x03, bytes([2, 1, 2, 3, 4, 5])) +
                     request(E1, 0, 1, b"\x02", 0x42),
    "bad_routes": request(E1, 0, 1, b"\x09", 0x01) + request(E1, 0, 2, b"\x02\x05", 0x01) +
                  request(E1, 0, 8, b"\x02" * 8, 0x01),
    "raw_mpkts": inject(S, 1, admin(0, 0x01, tag=7)) +
                 inject(S, 1, admin(1, 0x01, flags=0x80, route=b"\x02", tag=7)) +
                 inject(S, 2, admin(3, 0x02, status=6, route=b"\x01\x01\x01")) +
                 inject(E1, 0, admin(0, 0x04, flags=0x80, tag=1, args=X)) +
                 inject(S, 9, admin(0, 0x01)),
    "timeouts": request(E1, 0, 0, b"", 0x01) + request(S, 0, 0, b"", 0x01) + cancel(2) +
                advance(5) + advance(5),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
