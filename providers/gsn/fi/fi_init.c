/* SPDX-License-Identifier: MIT */
/*
 * fi_init.c — the provider object, its parameters and its entry point.
 *
 * libfabric dlopens libgsn-fi.so and calls fi_prov_ini(), the library's one
 * exported symbol.  The struct fi_provider is writable static storage: the
 * core keeps its bookkeeping in its context field.
 */
#include <errno.h>
#include <stdlib.h>

#include "gsn_fi.h"

struct gsnfi_params gsnfi_params;

static void gsnfi_cleanup(void)
{
	/* Nothing owned: parameter strings point into the environment. */
}

struct fi_provider gsnfi_prov = {
	.name = GSNFI_PROV_NAME,
	.version = GSNFI_PROV_VERSION,
	.fi_version = GSNFI_FI_VERSION,
	.getinfo = gsnfi_getinfo,
	.fabric = gsnfi_fabric_open,
	.cleanup = gsnfi_cleanup,
};

/* Defaults, and the floor each size parameter is clamped to. */
#define DEF_EAGER_SIZE 8192
#define DEF_RX_DEPTH 64
#define DEF_TX_DEPTH 256
#define DEF_CQ_SIZE 1024
#define DEF_CONN_TIMEOUT_MS 10000

static void define_params(void)
{
	fi_param_define(&gsnfi_prov, "eager_size", FI_PARAM_SIZE_T,
			"Largest message sent eagerly, in bytes; larger ones use "
			"the rendezvous protocol (default: %d)", DEF_EAGER_SIZE);
	fi_param_define(&gsnfi_prov, "rx_depth", FI_PARAM_SIZE_T,
			"Eager receive buffers posted per connected peer (default: %d)",
			DEF_RX_DEPTH);
	fi_param_define(&gsnfi_prov, "tx_depth", FI_PARAM_SIZE_T,
			"Send queue depth of each connection (default: %d)", DEF_TX_DEPTH);
	fi_param_define(&gsnfi_prov, "cq_size", FI_PARAM_SIZE_T,
			"Initial size of a completion queue opened with size 0; "
			"queues grow as needed (default: %d)", DEF_CQ_SIZE);
	fi_param_define(&gsnfi_prov, "progress_thread", FI_PARAM_BOOL,
			"Run a progress thread per domain (FI_PROGRESS_AUTO); with 0 "
			"progress happens only inside libfabric calls and the "
			"provider reports FI_PROGRESS_MANUAL (default: 1)");
	fi_param_define(&gsnfi_prov, "conn_timeout_ms", FI_PARAM_INT,
			"How long connection set-up to a peer may take, in "
			"milliseconds (default: %d)", DEF_CONN_TIMEOUT_MS);
	fi_param_define(&gsnfi_prov, "device", FI_PARAM_STRING,
			"The gsn device (domain) to use, e.g. gsn0 (default: "
			"GSN_DEVICE, else gsn0)");
}

static void get_size(const char *name, size_t *out, size_t def, size_t min)
{
	size_t v;

	*out = def;
	if (fi_param_get_size_t(&gsnfi_prov, name, &v) != FI_SUCCESS)
		return;
	if (v < min) {
		GSNFI_WARN(FI_LOG_CORE, "FI_GSN_%s=%zu is below %zu; using %zu\n", name, v, min,
			   min);
		v = min;
	}
	*out = v;
}

static void read_params(void)
{
	int v;
	char *s;

	get_size("eager_size", &gsnfi_params.eager_size, DEF_EAGER_SIZE, 64);
	get_size("rx_depth", &gsnfi_params.rx_depth, DEF_RX_DEPTH, 2);
	get_size("tx_depth", &gsnfi_params.tx_depth, DEF_TX_DEPTH, 2);
	get_size("cq_size", &gsnfi_params.cq_size, DEF_CQ_SIZE, 1);

	gsnfi_params.progress_thread = 1;
	if (fi_param_get_bool(&gsnfi_prov, "progress_thread", &v) == FI_SUCCESS)
		gsnfi_params.progress_thread = v != 0;

	gsnfi_params.conn_timeout_ms = DEF_CONN_TIMEOUT_MS;
	if (fi_param_get_int(&gsnfi_prov, "conn_timeout_ms", &v) == FI_SUCCESS) {
		if (v > 0)
			gsnfi_params.conn_timeout_ms = v;
		else
			GSNFI_WARN(FI_LOG_CORE, "FI_GSN_CONN_TIMEOUT_MS=%d ignored\n", v);
	}

	gsnfi_params.device = NULL;
	if (fi_param_get_str(&gsnfi_prov, "device", &s) == FI_SUCCESS && s && *s)
		gsnfi_params.device = s;
}

FI_EXT_INI
{
	define_params();
	read_params();
	return &gsnfi_prov;
}

int gsnfi_errno(int neg_errno)
{
	switch (neg_errno) {
	case 0:
		return 0;
	case -ENOMEM:
		return -FI_ENOMEM;
	case -EINVAL:
		return -FI_EINVAL;
	case -EAGAIN:
		return -FI_EAGAIN;
	case -EBUSY:
		return -FI_EBUSY;
	case -EEXIST:
		return -FI_EALREADY;
	case -ENOENT:
	case -ENODEV:
		return -FI_ENODEV;
	case -ETIMEDOUT:
		return -FI_ETIMEDOUT;
	case -ECONNREFUSED:
		return -FI_ECONNREFUSED;
	case -ECONNRESET:
		return -FI_ECONNRESET;
	case -EPERM:
	case -EACCES:
		return -FI_EACCES;
	case -ENOSPC:
		return -FI_ENOSPC;
	case -EPROTO:
		return -FI_EOTHER;
	case -EIO:
		return -FI_EIO;
	default:
		/* FI_E* values below 256 are errno values (fi_errno.h). */
		return neg_errno < 0 && neg_errno > -256 ? neg_errno : -FI_EOTHER;
	}
}
