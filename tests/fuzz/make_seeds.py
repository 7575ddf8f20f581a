#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of fuzz_cable_frame and fuzz_mpkt.

An independent, deliberately plain Python encoding of the wire formats in
docs/wire.md (micropacket with LCRC, HEADER micropacket, Admin, INIT, cable
frame).  The seeds are valid inputs, so the fuzzers start past the magic,
length and LCRC checks.  Rerun after a wire format change:

    python3 tests/fuzz/make_seeds.py            # from the repository root
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def fold16(c):
    return (c >> 16) ^ (c & 0xFFFF)


NULL, DATA, HEADER, CREDIT, ADMIN, RESET, RESET_ACK, INIT, INIT_ACK = 0, 1, 2, 3, 4, 8, 9, 10, 11


def mpkt(data, vc=0, type_=DATA, tail=0, error=0, vcr=0, cr=0, rseq=0, tseq=0, ecrc=0):
    """40-byte cable form: control word (with LCRC) then 32 data bytes."""
    data = bytes(data).ljust(32, b"\0")
    assert len(data) == 32
    w = (vc << 62 | type_ << 58 | tail << 57 | error << 56 | vcr << 54 | cr << 48 |
         rseq << 40 | tseq << 32 | ecrc << 16)
    ctl = struct.pack(">Q", w)
    lcrc = fold16(crc32c(ctl[:6], crc32c(data)))  # data bytes, then control bytes 0..5
    return struct.pack(">Q", w | lcrc) + data


def msg_hdr(d_ula, s_ula, m_len, ethertype, pdu8):
    return (bytes(d_ula) + bytes(s_ula) + struct.pack(">I", m_len) +
            b"\xAA\xAA\x03\x00\x00\x00" + struct.pack(">H", ethertype) + bytes(pdu8).ljust(8, b"\0"))


def admin(hops, cmd, flags, status, tag, route, args):
    return (bytes([hops, cmd, flags, status]) + struct.pack(">I", tag) +
            bytes(route).ljust(8, b"\0") + bytes(args).ljust(16, b"\0"))


def frame(mpkts, incarnation=1, ext_tseq=0, ext_rseq=0, flags=0):
    return (b"GSNL" + struct.pack(">BBHIIII", 1, flags, len(mpkts), incarnation,
                                  ext_tseq, ext_rseq, 0) + b"".join(mpkts))


def message(vc, d_ula, s_ula, ethertype, payload, tseq, rseq):
    """Micropackets of a GSN Message with a running ECRC."""
    body = bytes(payload)
    m_len = 8 + len(body)
    first = msg_hdr(d_ula, s_ula, m_len, ethertype, body[:8])
    rest = body[8:]
    chunks = [first] + [rest[i:i + 32].ljust(32, b"\0") for i in range(0, len(rest), 32)]
    out, running = [], 0
    for i, c in enumerate(chunks):
        running = crc32c(c, running)
        out.append(mpkt(c, vc=vc, type_=HEADER if i == 0 else DATA, tail=int(i == len(chunks) - 1),
                        rseq=rseq, tseq=(tseq + i) & 0xFF, ecrc=fold16(running)))
    return out


def write(corpus, name, data):
    d = os.path.join(HERE, "corpus", corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    a = bytes([0x02, 0, 0, 0, 0, 0x01])
    b = bytes([0x02, 0, 0, 0, 0, 0x02])
    st_op = bytes([0x08, 0x00]) + bytes(38)  # Request_Connection, rest zero
    msg = message(0, a, b, 0x8181, st_op + b"payload bytes", tseq=0x05, rseq=0x07)
    credit = mpkt(b"", type_=CREDIT, vcr=1, cr=12, rseq=0x07)

    write("fuzz_cable_frame", "message", frame([credit] + msg, ext_tseq=0x105, ext_rseq=0x107))
    write("fuzz_cable_frame", "init", frame([mpkt(struct.pack(">IIII", 64, 256, 256, 1024), type_=INIT)]))
    adm = mpkt(admin(0, 0x01, 0, 0, 0x1234, b"\x01\x02", b""), vc=1, type_=ADMIN, tail=1,
               tseq=0xFF, rseq=0x00)
    write("fuzz_cable_frame", "admin", frame([mpkt(b"", type_=NULL), adm], ext_tseq=0xFF, ext_rseq=0x100))
    write("fuzz_cable_frame", "empty", frame([]))

    write("fuzz_mpkt", "header", msg[0])
    write("fuzz_mpkt", "admin", adm)
    write("fuzz_mpkt", "null", mpkt(b"", type_=NULL))
    write("fuzz_mpkt", "ula", b"02:00:5e:10:20:30")


if __name__ == "__main__":
    main()
