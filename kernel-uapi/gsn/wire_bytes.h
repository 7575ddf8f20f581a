/* SPDX-License-Identifier: MIT */
/*
 * Big-endian load/store helpers shared by every wire codec.  All gsn wire
 * fields are big-endian (PROTOCOL.md).  These never assume alignment.
 */
#ifndef GSN_WIRE_BYTES_H
#define GSN_WIRE_BYTES_H

#include <stdint.h>

static inline uint16_t gsn_get_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t gsn_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t gsn_get_be48(const uint8_t *p)
{
	return (uint64_t)gsn_get_be16(p) << 32 | gsn_get_be32(p + 2);
}

static inline uint64_t gsn_get_be64(const uint8_t *p)
{
	return (uint64_t)gsn_get_be32(p) << 32 | gsn_get_be32(p + 4);
}

static inline void gsn_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void gsn_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void gsn_put_be48(uint8_t *p, uint64_t v)
{
	gsn_put_be16(p, (uint16_t)(v >> 32));
	gsn_put_be32(p + 2, (uint32_t)v);
}

static inline void gsn_put_be64(uint8_t *p, uint64_t v)
{
	gsn_put_be32(p, (uint32_t)(v >> 32));
	gsn_put_be32(p + 4, (uint32_t)v);
}

#endif /* GSN_WIRE_BYTES_H */
