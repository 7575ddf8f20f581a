#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_st_engine (tests/fuzz/corpus/fuzz_st_engine/).

Each seed is a record sequence in the format documented at the top of
fuzz_st_engine.c; the harness patches ports, keys, Mx and ids at run time, so
the seeds stay valid whatever keys the engine picks.
"""
import os
import struct
import sys

# opcodes
RC, CA, RD, DA, DC, NOP = 0x01, 0x02, 0x03, 0x04, 0x05, 0x10
RMR, MRA, GET, RTS, RA, RTR, CTS, DATA = 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x1A, 0x1B
RSQ, RSR, END, EACK = 0x1C, 0x1D, 0x1E, 0x1F
# flags
SILENT, INTERRUPT, SEND_STATE, OOO, LAST, REJECT = 0x80, 0x40, 0x20, 0x10, 0x08, 0x04
# record control bits
DATA_VC, STRANGER, KEEP_CKSUM, CKSUM = 0x01, 0x02, 0x04, 0x08
# patch bits
P_ADDR, P_MX_X, P_FRESH, P_CTS, P_RA, P_LAST_ID, P_MX_Y, P_MX_Z = 1, 2, 4, 8, 16, 32, 64, 128


def hdr(op, flags=0, fn=0, param=0, d_port=0, s_port=0, d_key=0, cksum=0, b_id=0, bufx=0,
        offset=0, sync=0, b_num=0, d_id=0, s_id=0):
    w0 = (op & 0x1F) << 11 | (flags & 0xFF) | (fn & 7) << 8
    return struct.pack(">HHHHIHHIIIIII", w0, param, d_port, s_port, d_key, cksum, b_id, bufx,
                       offset, sync, b_num, d_id, s_id)


def op(h, payload=b"", c=0, patch=P_ADDR):
    assert len(h) == 40
    return bytes([c & 0x7F, patch]) + struct.pack("<H", len(payload)) + h + payload


def tick(b):
    return bytes([0x80, b])


def pump(n=0):
    return bytes([0xA0, n])


def ulp(a):
    return bytes([0xC0, a])


def ulp_b(a):
    """B issues a request of its own (PUT/GET/FETCHOP/send/read by a % 5)."""
    return bytes([0xD0, a])


def raw(data, c=0xE0):
    return bytes([c]) + struct.pack("<H", len(data)) + data


def seeds():
    s = {}
    # PUT: one STU of 64 bytes into X at byte 128 (Last), answered Request_Answer;
    # then GET 100 bytes of X at 256: B answers with Data.
    s["put_get_valid"] = (
        op(hdr(DATA, LAST, offset=128, b_num=1), bytes(range(64)), DATA_VC, P_ADDR | P_MX_X | P_FRESH)
        + pump()
        + op(hdr(GET, param=100, offset=256), b"", 0, P_ADDR | P_MX_X | P_FRESH) + pump())
    # PUT of two STUs, the last carrying completion data (Interrupt).
    s["put_two_stus"] = (
        op(hdr(DATA, SILENT, param=0, bufx=1, offset=0, b_num=2, sync=0), b"\x11" * 1024, DATA_VC,
           P_ADDR | P_MX_X | P_FRESH)
        + op(hdr(DATA, LAST | INTERRUPT, bufx=1, offset=1024, b_num=2, sync=0xC0FFEE), b"\x22" * 100,
             DATA_VC, P_ADDR | P_MX_X | P_LAST_ID)
        + pump())
    # FETCH_ADD at X+64, retransmitted result, then fetchop-complete.
    s["fetchop_add"] = (
        op(hdr(GET, fn=4, param=8, offset=64), struct.pack(">Q", 5), 0, P_ADDR | P_MX_X | P_FRESH)
        + tick(100)
        + op(hdr(GET, fn=7), b"", 0, P_ADDR | P_LAST_ID) + pump())
    # COMPARE_SWAP with a checksummed header, and a repeat of the same G_num.
    cas = op(hdr(GET, fn=6, param=8, offset=8), struct.pack(">QQ", 0, 7), CKSUM,
             P_ADDR | P_MX_X | P_FRESH)
    s["fetchop_cas_repeat"] = (cas
                              + op(hdr(GET, fn=6, param=8, offset=8), struct.pack(">QQ", 0, 7), CKSUM,
                                   P_ADDR | P_MX_X | P_LAST_ID)
                              + op(hdr(GET, fn=7), b"", 0, P_ADDR | P_LAST_ID) + pump())
    # RTS of 2000 bytes into the posted receive; Data for the CTS B sends.
    s["rts_data"] = (
        op(hdr(RTS, param=4, b_id=12, b_num=2000, d_id=0xFFFFFFFF), b"", 0, P_ADDR | P_FRESH)
        + op(hdr(DATA, param=0, bufx=0, offset=0), b"\x33" * 1024, DATA_VC, P_ADDR | P_CTS)
        + op(hdr(DATA, LAST, param=1, bufx=0, offset=1024), b"\x44" * 976, DATA_VC, P_ADDR | P_CTS)
        + pump())
    # RTR of 3000 bytes from the posted source: accept, CTS, Data, final answer.
    s["rtr_flow"] = (
        op(hdr(RTR, param=4, b_id=12, b_num=3000, d_id=0xFFFFFFFF), b"", 0, P_ADDR | P_FRESH)
        + op(hdr(CTS, param=12, b_num=0), b"", 0, P_ADDR | P_RA)
        + op(hdr(RA, b_num=3000), b"", 0, P_ADDR | P_RA)
        + pump())
    # Region request for X's key, End releasing the Mx, state with Send_State.
    s["rmr_end_state"] = (
        op(hdr(RMR, bufx=0, offset=0x1111), b"", 0, P_ADDR | P_FRESH) + pump()
        + op(hdr(END, b_id=0, bufx=7), b"", 0, P_ADDR | P_MX_X) + pump()
        + op(hdr(RSQ, SEND_STATE), b"", 0, P_ADDR | P_FRESH) + pump()
        + op(hdr(NOP, SEND_STATE), b"", 0, P_ADDR) + pump())
    # Hostile mix: unknown opcode, bad checksum, truncated, stranger, wrong Mx,
    # PUT across a buffer boundary, then timers run out.
    s["hostile_mix"] = (
        op(hdr(0x19, s_id=3), b"", 0, P_ADDR)
        + op(hdr(RSQ, cksum=0x1234), b"", KEEP_CKSUM, P_ADDR | P_FRESH)
        + raw(b"\x00" * 17)
        + op(hdr(RSQ), b"", STRANGER, P_ADDR | P_FRESH)
        + op(hdr(DATA, LAST, b_num=1), b"\x55" * 64, DATA_VC, P_ADDR | P_MX_Y | P_FRESH)
        + op(hdr(DATA, LAST, b_num=1), b"\x55" * 64, DATA_VC, P_ADDR | P_MX_Z | P_FRESH)
        + op(hdr(DATA, LAST, offset=4064, b_num=1), b"\x66" * 64, DATA_VC, P_ADDR | P_MX_X | P_FRESH)
        + op(hdr(DATA, LAST, d_id=12345, s_id=9), b"\x77" * 16, DATA_VC, P_ADDR)
        + pump() + tick(255) + pump() + tick(255) + pump())
    # Upper-layer calls mixed with traffic: slots, state, abort, disconnect.
    s["ulp_mix"] = (
        ulp(0 | 2 << 3) + pump() + ulp(1) + ulp(2) + pump()
        + op(hdr(RTS, param=2, b_id=12, b_num=500, d_id=0xFFFFFFFF), b"", 0, P_ADDR | P_FRESH)
        + pump() + ulp(3 | 8) + pump() + ulp(4) + ulp(5) + ulp(6) + pump()
        + ulp(7 | 8 | 16) + pump() + tick(200) + pump())
    # B's own requests towards A: real A answers; then fuzzed answers arrive
    # too (a stray MRA, a GET Data, a CTS) for the ids B used.
    s["b_initiates"] = (
        ulp_b(6) + ulp_b(12) + ulp_b(3) + ulp_b(4) + ulp_b(0)
        + op(hdr(MRA, b_id=2, b_num=16384, d_id=1), b"", 0, P_ADDR)
        + op(hdr(DATA, LAST, d_id=2, offset=0), b"\x99" * 8, DATA_VC, P_ADDR)
        + op(hdr(CTS, param=12, b_num=0, d_id=3, s_id=1), b"", 0, P_ADDR)
        + op(hdr(RA, b_num=100, d_id=4, s_id=2), b"", 0, P_ADDR)
        + pump() + tick(120) + pump() + tick(255) + pump())
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "fuzz_st_engine")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds())} seeds to {out}")


if __name__ == "__main__":
    main()
