#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_harp (tests/fuzz/corpus/fuzz_harp/).

A plain Python encoding of the HARP packet (docs/harp.md) and of the
harness's script opcodes (tests/fuzz/fuzz_harp.c).  Rerun after a change:

    python3 tests/fuzz/make_harp_seeds.py       # from the repository root
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_harp")

REQUEST, REPLY, INARP_REQUEST, INARP_REPLY, NAK = 1, 2, 8, 9, 10
CLIENT, SERVER = 0, 1


def ula(n):
    return bytes([0x02, 0, 0, 0, 0, n])  # the harness's client is 1, its server 101


def other(n):
    return bytes([0x02, 0, 0, 1, 0, n])


def ip(n):
    return bytes([10, 0, 0, n])


def harp(op, sha, spa, tha, tpa, hrd=28):
    return (struct.pack(">HHBBHBBBB", hrd, 0x0800, 6, 0, op, 4, 6, 0, 4) +
            sha + spa + tha + tpa)


# script opcodes
def pkt(to, src_sel, data):
    return bytes([to, src_sel, len(data)]) + data


def advance(units):          # units * 7 ms, then tick
    return bytes([2, units])


def resolve(n):
    return bytes([3, n])


def static(n):
    return bytes([4, n])


def delete(n):
    return bytes([5, n])


def restart():
    return bytes([6, 0])


def deaf(on):                # packets to the server are lost while on
    return bytes([8, 1 if on else 0])


def text(s):
    b = s.encode()
    return bytes([7, len(b)]) + b


SEEDS = {
    # the codec alone: one packet of each operation
    "pkt_request": harp(REQUEST, other(5), ip(5), bytes(6), ip(1)),
    "pkt_reply": harp(REPLY, other(5), ip(5), ula(1), ip(1)),
    "pkt_inarp": harp(INARP_REQUEST, other(5), ip(5), ula(101), bytes(4)),
    "pkt_probe_hrd6": harp(INARP_REQUEST, other(5), ip(5), other(5), ip(5), hrd=6),
    "pkt_nak": harp(NAK, ula(1), ip(1), bytes(6), ip(77)),
    "pkt_short_inarp": harp(INARP_REQUEST, other(5), ip(5), ula(101), bytes(4))[:28],
    # detection times out, the client registers, resolves the server and an unknown
    "register_resolve": advance(2) + advance(1) + resolve(101) + resolve(77) + advance(3),
    # registration, then silence: re-registration, revalidation, forgetting
    "timers": advance(2) + advance(1) + resolve(101) + resolve(101) +
              b"".join(advance(255) for _ in range(4)),
    # packets into the client in every mode
    "client_packets": pkt(CLIENT, 3, harp(INARP_REQUEST, other(5), ip(5), other(5), ip(5))) +
                      pkt(CLIENT, 3, harp(REQUEST, other(5), ip(5), bytes(6), ip(1))) +
                      resolve(9) +
                      pkt(CLIENT, 3, harp(REPLY, other(9), ip(9), ula(1), ip(1))) +
                      pkt(CLIENT, 3, harp(INARP_REQUEST, other(5), ip(5), ula(1), bytes(4))) +
                      pkt(CLIENT, 2, harp(3, other(5), ip(5), ula(1), ip(1))) +
                      advance(40),
    # packets into the server: registrations, requests, a NAK-worthy miss
    "server_packets": pkt(SERVER, 3, harp(INARP_REQUEST, other(5), ip(5), ula(101), bytes(4))) +
                      pkt(SERVER, 3, harp(INARP_REQUEST, other(6), ip(6), ula(101), bytes(4))) +
                      pkt(SERVER, 3, harp(REQUEST, other(5), ip(5), bytes(6), ip(6))) +
                      pkt(SERVER, 3, harp(REQUEST, other(5), ip(5), bytes(6), ip(7))) +
                      advance(80),
    # the server stops answering: the client drops it, registers again, recovers
    "failover": advance(2) + advance(1) + deaf(True) + resolve(101) +
                b"".join(advance(3) for _ in range(12)) + deaf(False) + advance(3) + resolve(5),
    # static entries by API and by text, deletes, restart
    "statics": static(5) + static(6) + resolve(5) + delete(5) + resolve(5) +
               text("# static\n10.0.0.20 02:00:00:01:00:14\n10.0.0.21\t2:0:0:1:0:15\r\n") +
               text("10.0.0.22 ff:ff:ff:ff:ff:ff\n") + restart() + advance(3),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
