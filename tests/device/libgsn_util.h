// SPDX-License-Identifier: MIT
// Small helpers of the device tests that go through libgsn: opening a
// device of a test's gsnd, polling with a deadline, test patterns.
#ifndef GSN_TESTS_DEVICE_LIBGSN_UTIL_H
#define GSN_TESTS_DEVICE_LIBGSN_UTIL_H

#include "dev_harness.h"

#include <libgsn.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace gsndev {

inline void Fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 11));
}

// Opens device `name` of `rundir` through libgsn's device list (no autostart).
inline int OpenCtx(const std::string &rundir, const std::string &name, gsn_context **ctx)
{
	setenv("GSN_RUNDIR", rundir.c_str(), 1);
	setenv("GSN_AUTOSTART", "0", 1);
	setenv("GSN_DEVICE", name.c_str(), 1);
	setenv("GSN_CMD_TIMEOUT_MS", "5000", 1);
	gsn_device **list = nullptr;
	int n = 0;
	int st = gsn_get_device_list(&list, &n);
	if (st)
		return st;
	if (n < 1) {
		gsn_free_device_list(list);
		return -ENODEV;
	}
	st = gsn_open_device(list[0], ctx);
	gsn_free_device_list(list);
	return st;
}

// One completion within timeout_ms.
inline bool PollOne(gsn_cq *cq, gsn_wc *wc, int timeout_ms = 20000)
{
	uint64_t end = NowMs() + (uint64_t)timeout_ms;
	for (;;) {
		int n = gsn_poll_cq(cq, 1, wc);
		if (n == 1)
			return true;
		if (n < 0 || NowMs() >= end)
			return false;
		usleep(50);
	}
}

// Nothing arrives on cq for ms milliseconds.
inline bool QuietCq(gsn_cq *cq, int ms)
{
	gsn_wc wc{};
	return !PollOne(cq, &wc, ms);
}

} // namespace gsndev

#endif
