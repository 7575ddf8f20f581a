/* SPDX-License-Identifier: MIT */
/*
 * The gsn provider's atomic executor (fi_atomic_exec.h): which (op,
 * datatype) pairs each kind of atomic call supports, and the software that
 * applies them to the target memory.
 *
 * Each element goes through three steps: its old bytes are copied out;
 * the update function of its datatype class (integer, real, complex)
 * decides what the op does: keep the element, take the operand's bytes, or
 * store a computed value; then the target and the result are written.
 * FI_ATOMIC_READ and FI_ATOMIC_WRITE need no arithmetic and are decided
 * before the class is asked.
 *
 * Integers of every width are widened to 64 bits (sign- or zero-extended)
 * and computed in uint64_t: sums and products wrap modulo 2^64, and their
 * low N bits are the result modulo 2^N, so there is no signed overflow.
 * Ordered comparisons flip the sign bit of signed values, which maps the
 * signed order onto the unsigned one.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fi_atomic_exec.h"

#define OP_BIT(op) (UINT32_C(1) << (op))

/* The ops each kind of call may ask for (fi_atomic(3)). */
#define PLAIN_OPS                                                            \
	(OP_BIT(FI_MIN) | OP_BIT(FI_MAX) | OP_BIT(FI_SUM) | OP_BIT(FI_PROD) | \
	 OP_BIT(FI_LOR) | OP_BIT(FI_LAND) | OP_BIT(FI_BOR) |                  \
	 OP_BIT(FI_BAND) | OP_BIT(FI_LXOR) | OP_BIT(FI_BXOR) |                \
	 OP_BIT(FI_ATOMIC_WRITE))
#define FETCH_OPS (PLAIN_OPS | OP_BIT(FI_ATOMIC_READ))
#define COMPARE_OPS                                                     \
	(OP_BIT(FI_CSWAP) | OP_BIT(FI_CSWAP_NE) | OP_BIT(FI_CSWAP_LE) | \
	 OP_BIT(FI_CSWAP_LT) | OP_BIT(FI_CSWAP_GE) | OP_BIT(FI_CSWAP_GT) | \
	 OP_BIT(FI_MSWAP))

/* The ops each class of datatype supports. */
#define BITWISE_OPS                                                     \
	(OP_BIT(FI_BOR) | OP_BIT(FI_BAND) | OP_BIT(FI_BXOR) | OP_BIT(FI_MSWAP))
#define INTEGER_OPS (FETCH_OPS | COMPARE_OPS)
/* fi_atomic(3) defines the logical ops with C's || and &&, which take
 * floating operands; only the bitwise ones need an integer. */
#define REAL_OPS (INTEGER_OPS & ~BITWISE_OPS)
/* Complex numbers have no order (no MIN, MAX, CSWAP_LE...). */
#define COMPLEX_OPS                                                        \
	(OP_BIT(FI_SUM) | OP_BIT(FI_PROD) | OP_BIT(FI_ATOMIC_READ) |       \
	 OP_BIT(FI_ATOMIC_WRITE) | OP_BIT(FI_CSWAP) | OP_BIT(FI_CSWAP_NE))

#define MAX_ELEMENT_SIZE sizeof(long double _Complex)

enum element_outcome {
	ELEMENT_KEEP,
	ELEMENT_TAKE_OPERAND,
	ELEMENT_STORE_VALUE,
};

struct datatype_info;

/*
 * Decides what op does to one element: cur holds its old value, operand
 * and compare point to the inputs (compare is NULL unless op is a compare
 * op); for ELEMENT_STORE_VALUE the new value is written to value.
 */
typedef enum element_outcome (*element_update_fn)(
	const struct datatype_info *info, enum fi_op op,
	const unsigned char *cur, const unsigned char *operand,
	const unsigned char *compare, unsigned char *value);

struct datatype_info {
	size_t size;
	uint32_t ops;
	bool is_signed; /* integers only */
	element_update_fn update;
};

static enum element_outcome take_operand_if(bool condition)
{
	return condition ? ELEMENT_TAKE_OPERAND : ELEMENT_KEEP;
}

/* Integers: widened to 64 bits, see the top of the file. */

static uint64_t load_integer(const struct datatype_info *info,
			     const unsigned char *p)
{
	uint64_t v, sign;

	switch (info->size) {
	case 1: {
		uint8_t x;

		memcpy(&x, p, sizeof(x));
		v = x;
		break;
	}
	case 2: {
		uint16_t x;

		memcpy(&x, p, sizeof(x));
		v = x;
		break;
	}
	case 4: {
		uint32_t x;

		memcpy(&x, p, sizeof(x));
		v = x;
		break;
	}
	default:
		memcpy(&v, p, sizeof(v));
		return v;
	}
	if (!info->is_signed)
		return v;
	/* Sign extension in unsigned arithmetic. */
	sign = UINT64_C(1) << (info->size * 8 - 1);
	return (v ^ sign) - sign;
}

static void store_integer(const struct datatype_info *info, unsigned char *p,
			  uint64_t v)
{
	switch (info->size) {
	case 1: {
		uint8_t x = (uint8_t)v;

		memcpy(p, &x, sizeof(x));
		break;
	}
	case 2: {
		uint16_t x = (uint16_t)v;

		memcpy(p, &x, sizeof(x));
		break;
	}
	case 4: {
		uint32_t x = (uint32_t)v;

		memcpy(p, &x, sizeof(x));
		break;
	}
	default:
		memcpy(p, &v, sizeof(v));
		break;
	}
}

/* A key whose unsigned order is the value's order. */
static uint64_t order_key(const struct datatype_info *info, uint64_t v)
{
	return info->is_signed ? v ^ (UINT64_C(1) << 63) : v;
}

static enum element_outcome
update_integer(const struct datatype_info *info, enum fi_op op,
	       const unsigned char *cur, const unsigned char *operand,
	       const unsigned char *compare, unsigned char *value)
{
	uint64_t t = load_integer(info, cur);
	uint64_t o = load_integer(info, operand);
	uint64_t c = compare ? load_integer(info, compare) : 0;
	uint64_t key_t = order_key(info, t);
	uint64_t key_o = order_key(info, o);
	uint64_t key_c = order_key(info, c);
	uint64_t v;

	switch (op) {
	case FI_MIN:      return take_operand_if(key_o < key_t);
	case FI_MAX:      return take_operand_if(key_o > key_t);
	case FI_CSWAP:    return take_operand_if(c == t);
	case FI_CSWAP_NE: return take_operand_if(c != t);
	case FI_CSWAP_LE: return take_operand_if(key_c <= key_t);
	case FI_CSWAP_LT: return take_operand_if(key_c < key_t);
	case FI_CSWAP_GE: return take_operand_if(key_c >= key_t);
	case FI_CSWAP_GT: return take_operand_if(key_c > key_t);
	case FI_SUM:      v = t + o; break;
	case FI_PROD:     v = t * o; break;
	case FI_LOR:      v = t != 0 || o != 0; break;
	case FI_LAND:     v = t != 0 && o != 0; break;
	case FI_LXOR:     v = (t != 0) != (o != 0); break;
	case FI_BOR:      v = t | o; break;
	case FI_BAND:     v = t & o; break;
	case FI_BXOR:     v = t ^ o; break;
	case FI_MSWAP:    v = (o & c) | (t & ~c); break;
	default:          return ELEMENT_KEEP; /* not reached: see the table */
	}
	store_integer(info, value, v);
	return ELEMENT_STORE_VALUE;
}

/* Reals: computed in their own type, comparisons as C does them (NaN
 * compares false, so MIN/MAX/CSWAP leave the target alone). */
#define DEFINE_UPDATE_REAL(name, type)                                      \
	static enum element_outcome update_##name(                          \
		const struct datatype_info *info, enum fi_op op,            \
		const unsigned char *cur, const unsigned char *operand,     \
		const unsigned char *compare, unsigned char *value)         \
	{                                                                   \
		type t, o, c = 0, v;                                        \
                                                                            \
		(void)info;                                                 \
		memcpy(&t, cur, sizeof(t));                                 \
		memcpy(&o, operand, sizeof(o));                             \
		if (compare)                                                \
			memcpy(&c, compare, sizeof(c));                     \
		switch (op) {                                               \
		case FI_MIN:      return take_operand_if(o < t);            \
		case FI_MAX:      return take_operand_if(o > t);            \
		case FI_CSWAP:    return take_operand_if(c == t);           \
		case FI_CSWAP_NE: return take_operand_if(c != t);           \
		case FI_CSWAP_LE: return take_operand_if(c <= t);           \
		case FI_CSWAP_LT: return take_operand_if(c < t);            \
		case FI_CSWAP_GE: return take_operand_if(c >= t);           \
		case FI_CSWAP_GT: return take_operand_if(c > t);            \
		case FI_SUM:      v = t + o; break;                         \
		case FI_PROD:     v = t * o; break;                         \
		case FI_LOR:      v = t != 0 || o != 0; break;              \
		case FI_LAND:     v = t != 0 && o != 0; break;              \
		case FI_LXOR:     v = (t != 0) != (o != 0); break;          \
		default:          return ELEMENT_KEEP; /* not reached */    \
		}                                                           \
		memcpy(value, &v, sizeof(v));                               \
		return ELEMENT_STORE_VALUE;                                 \
	}

DEFINE_UPDATE_REAL(float, float)
DEFINE_UPDATE_REAL(double, double)
DEFINE_UPDATE_REAL(long_double, long double)

/* Complex: C's complex arithmetic, equality of both parts. */
#define DEFINE_UPDATE_COMPLEX(name, type)                                   \
	static enum element_outcome update_##name(                          \
		const struct datatype_info *info, enum fi_op op,            \
		const unsigned char *cur, const unsigned char *operand,     \
		const unsigned char *compare, unsigned char *value)         \
	{                                                                   \
		type t, o, c = 0, v;                                        \
                                                                            \
		(void)info;                                                 \
		memcpy(&t, cur, sizeof(t));                                 \
		memcpy(&o, operand, sizeof(o));                             \
		if (compare)                                                \
			memcpy(&c, compare, sizeof(c));                     \
		switch (op) {                                               \
		case FI_CSWAP:    return take_operand_if(c == t);           \
		case FI_CSWAP_NE: return take_operand_if(c != t);           \
		case FI_SUM:      v = t + o; break;                         \
		case FI_PROD:     v = t * o; break;                         \
		default:          return ELEMENT_KEEP; /* not reached */    \
		}                                                           \
		memcpy(value, &v, sizeof(v));                               \
		return ELEMENT_STORE_VALUE;                                 \
	}

DEFINE_UPDATE_COMPLEX(float_complex, float _Complex)
DEFINE_UPDATE_COMPLEX(double_complex, double _Complex)
DEFINE_UPDATE_COMPLEX(long_double_complex, long double _Complex)

/* Every point-to-point datatype; FI_INT128 and beyond are not supported. */
static const struct datatype_info datatypes[FI_DATATYPE_LAST] = {
	[FI_INT8]   = { sizeof(int8_t),   INTEGER_OPS, true,  update_integer },
	[FI_UINT8]  = { sizeof(uint8_t),  INTEGER_OPS, false, update_integer },
	[FI_INT16]  = { sizeof(int16_t),  INTEGER_OPS, true,  update_integer },
	[FI_UINT16] = { sizeof(uint16_t), INTEGER_OPS, false, update_integer },
	[FI_INT32]  = { sizeof(int32_t),  INTEGER_OPS, true,  update_integer },
	[FI_UINT32] = { sizeof(uint32_t), INTEGER_OPS, false, update_integer },
	[FI_INT64]  = { sizeof(int64_t),  INTEGER_OPS, true,  update_integer },
	[FI_UINT64] = { sizeof(uint64_t), INTEGER_OPS, false, update_integer },
	[FI_FLOAT]  = { sizeof(float),    REAL_OPS, false, update_float },
	[FI_DOUBLE] = { sizeof(double),   REAL_OPS, false, update_double },
	[FI_FLOAT_COMPLEX] = { sizeof(float _Complex), COMPLEX_OPS, false,
			       update_float_complex },
	[FI_DOUBLE_COMPLEX] = { sizeof(double _Complex), COMPLEX_OPS, false,
				update_double_complex },
	[FI_LONG_DOUBLE] = { sizeof(long double), REAL_OPS, false,
			     update_long_double },
	[FI_LONG_DOUBLE_COMPLEX] = { sizeof(long double _Complex), COMPLEX_OPS,
				     false, update_long_double_complex },
};

static bool is_datatype(enum fi_datatype dt)
{
	return (unsigned int)dt <= FI_UINT128 || dt == FI_VOID;
}

static bool is_op(enum fi_op op)
{
	return (unsigned int)op < FI_ATOMIC_OP_LAST || op == FI_NOOP;
}

/* The ops a kind of call may ask for; 0 for a value that is no kind. */
static uint32_t kind_ops(enum gsnfi_atomic_kind kind)
{
	switch (kind) {
	case GSNFI_ATOMIC_PLAIN:   return PLAIN_OPS;
	case GSNFI_ATOMIC_FETCH:   return FETCH_OPS;
	case GSNFI_ATOMIC_COMPARE: return COMPARE_OPS;
	}
	return 0;
}

int gsnfi_atomic_query(enum fi_datatype dt, enum fi_op op,
		       enum gsnfi_atomic_kind kind, size_t *size)
{
	const struct datatype_info *info;

	if (!is_datatype(dt) || !is_op(op) || !kind_ops(kind))
		return -FI_EINVAL;
	if ((unsigned int)dt >= FI_DATATYPE_LAST ||
	    (unsigned int)op >= FI_ATOMIC_OP_LAST)
		return -FI_EOPNOTSUPP;
	info = &datatypes[dt];
	if (!(info->ops & kind_ops(kind) & OP_BIT(op)))
		return -FI_EOPNOTSUPP;
	if (size)
		*size = info->size;
	return 0;
}

static enum gsnfi_atomic_kind kind_of_op(enum fi_op op)
{
	if (op == FI_ATOMIC_READ)
		return GSNFI_ATOMIC_FETCH;
	if ((unsigned int)op < FI_ATOMIC_OP_LAST && (COMPARE_OPS & OP_BIT(op)))
		return GSNFI_ATOMIC_COMPARE;
	return GSNFI_ATOMIC_PLAIN;
}

static void apply_element(const struct datatype_info *info, enum fi_op op,
			  unsigned char *target, const unsigned char *operand,
			  const unsigned char *compare, unsigned char *result)
{
	unsigned char old[MAX_ELEMENT_SIZE];
	unsigned char value[MAX_ELEMENT_SIZE];
	enum element_outcome outcome;

	memcpy(old, target, info->size);
	if (op == FI_ATOMIC_READ)
		outcome = ELEMENT_KEEP;
	else if (op == FI_ATOMIC_WRITE)
		outcome = ELEMENT_TAKE_OPERAND;
	else
		outcome = info->update(info, op, old, operand, compare, value);

	switch (outcome) {
	case ELEMENT_KEEP:
		break;
	case ELEMENT_TAKE_OPERAND:
		memmove(target, operand, info->size);
		break;
	case ELEMENT_STORE_VALUE:
		memcpy(target, value, info->size);
		break;
	}
	if (result)
		memcpy(result, old, info->size);
}

int gsnfi_atomic_apply(enum fi_op op, enum fi_datatype dt, void *target,
		       const void *operand, const void *compare, void *result,
		       size_t count)
{
	enum gsnfi_atomic_kind kind = kind_of_op(op);
	unsigned char *t = target;
	const unsigned char *o = operand;
	const unsigned char *c = compare;
	unsigned char *r = result;
	size_t size, i;
	int ret;

	ret = gsnfi_atomic_query(dt, op, kind, &size);
	if (ret)
		return ret;
	if (!count)
		return 0;
	if (!t || (op != FI_ATOMIC_READ && !o) ||
	    (kind == GSNFI_ATOMIC_COMPARE && !c) ||
	    (op == FI_ATOMIC_READ && !r))
		return -FI_EINVAL;

	for (i = 0; i < count; i++) {
		size_t at = i * size;

		/* No arithmetic on the NULL pointers of unused buffers. */
		apply_element(&datatypes[dt], op, t + at, o ? o + at : NULL,
			      kind == GSNFI_ATOMIC_COMPARE ? c + at : NULL,
			      r ? r + at : NULL);
	}
	return 0;
}
