// SPDX-License-Identifier: MIT
// The environment of the provider's tests, set before main() (and before
// libfabric reads it): this build's provider first on FI_PROVIDER_PATH, a
// run directory of this build tree so libgsn autostarts a private gsnd and
// never touches the user's, and that gsnd program.
#include <cstdlib>
#include <string>

namespace {

bool set_test_environment()
{
#ifdef GSNFI_PROVIDER_DIR
	std::string path = GSNFI_PROVIDER_DIR;
	const char *old = std::getenv("FI_PROVIDER_PATH");

	if (old && *old)
		path += std::string(":") + old;
	setenv("FI_PROVIDER_PATH", path.c_str(), 1);
#endif
	setenv("GSN_RUNDIR", GSNFI_TEST_RUNDIR, 1);
	setenv("GSND", GSND_PATH, 1);
	unsetenv("GSN_DEVICE");
	unsetenv("FI_GSN_DEVICE");
	unsetenv("GSN_AUTOSTART");
	unsetenv("FI_PROVIDER"); // a filter would hide gsn
	return true;
}

const bool environment_set = set_test_environment();

} // namespace
