/* SPDX-License-Identifier: MIT */
/*
 * fi_atomic_exec.h — the gsn provider's atomic executor.
 *
 * The gsn device has no atomic unit for libfabric's operations, so the
 * target side of fi_atomic, fi_fetch_atomic and fi_compare_atomic runs them
 * in software: the provider receives (op, datatype, count, operands) from
 * the wire, checks them with gsnfi_atomic_query and applies them to the
 * registered memory with gsnfi_atomic_apply.
 *
 * Semantics are those of fi_atomic(3), element by element:
 *   FI_MIN   if (operand < target) target = operand
 *   FI_MAX   if (operand > target) target = operand
 *   FI_SUM, FI_PROD          target = target + / * operand
 *   FI_LOR, FI_LAND, FI_LXOR target = logical or / and / xor (0 or 1)
 *   FI_BOR, FI_BAND, FI_BXOR target = target | & ^ operand
 *   FI_ATOMIC_READ           nothing changes (result gets the value)
 *   FI_ATOMIC_WRITE          target = operand
 *   FI_CSWAP_xx  if (compare xx target) target = operand, with xx one of
 *                ==, !=, <=, <, >=, > (compare is the left-hand side)
 *   FI_MSWAP     target = (operand & compare) | (target & ~compare)
 *
 * Support:
 *   integers (FI_INT8..FI_UINT64)   every op; SUM and PROD wrap modulo 2^N
 *   FI_FLOAT, FI_DOUBLE, FI_LONG_DOUBLE
 *                                   every op except the bitwise ones
 *                                   (BOR, BAND, BXOR, MSWAP); the logical
 *                                   ops test "!= 0" as C does
 *   FI_*_COMPLEX                    SUM, PROD, READ, WRITE, CSWAP, CSWAP_NE
 * FI_INT128, FI_UINT128 and the collective FI_VOID / FI_NOOP are known but
 * not supported.
 *
 * Values are copied with memcpy, so the buffers need no alignment.  Values
 * the operation does not compute (the old value into result, the operand
 * on WRITE or a successful swap) are copied byte for byte.
 *
 * The executor is not atomic by itself: the caller serialises every access
 * to the target memory (the provider runs it under the domain lock).
 */
#ifndef GSN_FI_ATOMIC_EXEC_H
#define GSN_FI_ATOMIC_EXEC_H

#include <stddef.h>

#include <rdma/fi_atomic.h>
#include <rdma/fi_errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which call asks: fi_atomic, fi_fetch_atomic or fi_compare_atomic. */
enum gsnfi_atomic_kind {
	GSNFI_ATOMIC_PLAIN,
	GSNFI_ATOMIC_FETCH,
	GSNFI_ATOMIC_COMPARE,
};

/*
 * 0 if (op, dt) is supported for that kind of call, with *size (if size is
 * not NULL) set to the size in bytes of one element; -FI_EOPNOTSUPP if the
 * combination is not supported; -FI_EINVAL if dt, op or kind is not a value
 * of its enum at all.  *size is left alone on error.
 */
int gsnfi_atomic_query(enum fi_datatype dt, enum fi_op op,
		       enum gsnfi_atomic_kind kind, size_t *size);

/*
 * Applies op to the count elements at target.  The kind is implied by op:
 * FI_ATOMIC_READ is a fetch, FI_CSWAP..FI_MSWAP are compares, every other
 * op is checked as a plain atomic (the fetching variants support the same).
 *
 * operand: count elements; NULL only for FI_ATOMIC_READ (ignored there).
 * compare: count elements for the compare ops; ignored otherwise.
 * result:  if not NULL, receives the count old values of target; required
 *          for FI_ATOMIC_READ.
 * result may be the very buffer of operand or compare (each element's
 * inputs are read before its old value is written); otherwise the buffers
 * must not overlap.
 *
 * Returns 0, the query's error (target untouched), or -FI_EINVAL for a
 * missing buffer.  count 0 does nothing.
 */
int gsnfi_atomic_apply(enum fi_op op, enum fi_datatype dt, void *target,
		       const void *operand, const void *compare, void *result,
		       size_t count);

#ifdef __cplusplus
}
#endif

#endif /* GSN_FI_ATOMIC_EXEC_H */
