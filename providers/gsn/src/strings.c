/* SPDX-License-Identifier: MIT */
/* Names of statuses, opcodes, events and states. */
#include "gsn_priv.h"

const char *gsn_wc_status_str(enum gsn_wc_status status)
{
	switch (status) {
	case GSN_WC_SUCCESS: return "success";
	case GSN_WC_LOC_LEN_ERR: return "local length error";
	case GSN_WC_LOC_QP_OP_ERR: return "local QP operation error";
	case GSN_WC_LOC_PROT_ERR: return "local protection error";
	case GSN_WC_WR_FLUSH_ERR: return "Work Request Flushed Error";
	case GSN_WC_BAD_RESP_ERR: return "bad response error";
	case GSN_WC_LOC_ACCESS_ERR: return "local access error";
	case GSN_WC_REM_INV_REQ_ERR: return "remote invalid request error";
	case GSN_WC_REM_ACCESS_ERR: return "remote access error";
	case GSN_WC_REM_OP_ERR: return "remote operation error";
	case GSN_WC_RETRY_EXC_ERR: return "transport retry counter exceeded";
	case GSN_WC_RNR_RETRY_EXC_ERR: return "RNR retry counter exceeded";
	case GSN_WC_FATAL_ERR: return "fatal error";
	case GSN_WC_GENERAL_ERR: return "general error";
	}
	return "unknown";
}

const char *gsn_wc_opcode_str(enum gsn_wc_opcode opcode)
{
	switch (opcode) {
	case GSN_WC_SEND: return "SEND";
	case GSN_WC_RDMA_WRITE: return "RDMA_WRITE";
	case GSN_WC_RDMA_READ: return "RDMA_READ";
	case GSN_WC_COMP_SWAP: return "COMP_SWAP";
	case GSN_WC_FETCH_ADD: return "FETCH_ADD";
	case GSN_WC_ATOMIC: return "ATOMIC";
	case GSN_WC_RECV: return "RECV";
	case GSN_WC_RECV_RDMA_WITH_IMM: return "RECV_RDMA_WITH_IMM";
	}
	return "unknown";
}

const char *gsn_event_type_str(int event_type)
{
	switch (event_type) {
	case GSN_EVENT_QP_FATAL: return "QP fatal error";
	case GSN_EVENT_COMM_EST: return "communication established";
	case GSN_EVENT_PORT_ACTIVE: return "port active";
	case GSN_EVENT_PORT_ERR: return "port error";
	case GSN_EVENT_CQ_ERR: return "CQ error";
	case GSN_EVENT_DEVICE_FATAL: return "device fatal error";
	}
	return "unknown";
}

const char *gsn_port_state_str(enum gsn_port_state state)
{
	switch (state) {
	case GSN_PORT_DOWN: return "PORT_DOWN";
	case GSN_PORT_INIT: return "PORT_INIT";
	case GSN_PORT_ACTIVE: return "PORT_ACTIVE";
	}
	return "invalid state";
}

const char *gsn_qp_state_str(enum gsn_qp_state state)
{
	switch (state) {
	case GSN_QPS_RESET: return "RESET";
	case GSN_QPS_INIT: return "INIT";
	case GSN_QPS_RTR: return "RTR";
	case GSN_QPS_RTS: return "RTS";
	case GSN_QPS_SQD: return "SQD";
	case GSN_QPS_SQE: return "SQE";
	case GSN_QPS_ERR: return "ERR";
	}
	return "unknown";
}
