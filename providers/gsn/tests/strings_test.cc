// SPDX-License-Identifier: MIT
// Names of statuses, opcodes, events and states.
#include <gtest/gtest.h>

#include <cstring>

#include <libgsn.h>

TEST(LibgsnStrings, StatusOpcodeEventStateNames)
{
	EXPECT_STREQ(gsn_wc_status_str(GSN_WC_SUCCESS), "success");
	EXPECT_STREQ(gsn_wc_status_str(GSN_WC_WR_FLUSH_ERR), "Work Request Flushed Error");
	EXPECT_STREQ(gsn_wc_status_str(GSN_WC_REM_ACCESS_ERR), "remote access error");
	EXPECT_STREQ(gsn_wc_status_str((gsn_wc_status)99), "unknown");
	EXPECT_STREQ(gsn_wc_opcode_str(GSN_WC_RECV_RDMA_WITH_IMM), "RECV_RDMA_WITH_IMM");
	EXPECT_STREQ(gsn_event_type_str(GSN_EVENT_COMM_EST), "communication established");
	EXPECT_STREQ(gsn_event_type_str(GSN_EVENT_DEVICE_FATAL), "device fatal error");
	EXPECT_STREQ(gsn_port_state_str(GSN_PORT_ACTIVE), "PORT_ACTIVE");
	EXPECT_STREQ(gsn_qp_state_str(GSN_QPS_RTS), "RTS");
	// Every defined status has a real name.
	for (int s : {0, 1, 2, 4, 5, 7, 8, 9, 10, 11, 12, 13, 19, 21}) {
		EXPECT_STRNE(gsn_wc_status_str((gsn_wc_status)s), "unknown") << s;
	}
}
