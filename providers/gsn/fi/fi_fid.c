/* SPDX-License-Identifier: MIT */
/*
 * What every fid of the provider shares: the fi_ops slots no object
 * implements, and fi_control's wait-object queries for the objects that
 * have one (CQ, counter, EQ).
 */
#include "gsn_fi.h"

int gsnfi_no_ops_open(struct fid *fid, const char *name, uint64_t flags, void **ops,
		      void *context)
{
	(void)fid;
	(void)name;
	(void)flags;
	(void)ops;
	(void)context;
	return -FI_ENOSYS;
}

int gsnfi_no_tostr(const struct fid *fid, char *buf, size_t len)
{
	(void)fid;
	(void)buf;
	(void)len;
	return -FI_ENOSYS;
}

int gsnfi_no_ops_set(struct fid *fid, const char *name, uint64_t flags, void *ops,
		     void *context)
{
	(void)fid;
	(void)name;
	(void)flags;
	(void)ops;
	(void)context;
	return -FI_ENOSYS;
}

int gsnfi_wait_control(int command, void *arg, enum fi_wait_obj wait_obj, int signal_fd,
		       pthread_mutex_t *mutex, pthread_cond_t *cond)
{
	switch (command) {
	case FI_GETWAIT:
		if (!arg)
			return -FI_EINVAL;
		if (wait_obj == FI_WAIT_FD) {
			*(int *)arg = signal_fd;
			return 0;
		}
		if (wait_obj == FI_WAIT_MUTEX_COND) {
			struct fi_mutex_cond *mc = arg;

			mc->mutex = mutex;
			mc->cond = cond;
			return 0;
		}
		return -FI_ENODATA;
	case FI_GETWAITOBJ:
		if (!arg)
			return -FI_EINVAL;
		*(enum fi_wait_obj *)arg = wait_obj;
		return 0;
	default:
		return -FI_ENOSYS;
	}
}
