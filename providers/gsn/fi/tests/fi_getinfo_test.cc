// SPDX-License-Identifier: MIT
// fi_getinfo against the gsn provider: found through FI_PROVIDER_PATH, every
// hint field matched or refused, and the exact hints of the applications we
// serve (docs/fi.md, INTEGRATION.md "Clients and what they ask for").
#include <arpa/inet.h>

#include <cstring>

#include "fi_obj_fixture.h"

using gsnfi_test::getinfo;
using gsnfi_test::gsn_hints;
using gsnfi_test::kApi;

namespace {

// RAII for results
struct Info {
	fi_info *p;
	explicit Info(fi_info *i) : p(i) {}
	~Info() { fi_freeinfo(p); }
	Info(const Info &) = delete;
	Info &operator=(const Info &) = delete;
	fi_info *operator->() const { return p; }
};

// Expect the hints edited by edit to be refused with -FI_ENODATA.
void expect_refused(const std::function<void(fi_info *)> &edit, uint32_t version = kApi)
{
	int ret;
	Info info(getinfo(edit, &ret, version));

	EXPECT_EQ(ret, -FI_ENODATA);
	EXPECT_EQ(info.p, nullptr);
}

// The hints edited by edit are accepted; the (only) result.
fi_info *accepted(const std::function<void(fi_info *)> &edit, uint32_t version = kApi)
{
	int ret;
	fi_info *info = getinfo(edit, &ret, version);

	EXPECT_EQ(ret, 0) << fi_strerror(-ret);
	if (info) {
		EXPECT_EQ(info->next, nullptr);
	}
	return info;
}

void set_ep_type(fi_info *h, fi_ep_type t) { h->ep_attr->type = t; }

} // namespace

TEST(GetInfo, ProviderFoundWithItsNames)
{
	Info info(accepted(nullptr));

	ASSERT_NE(info.p, nullptr);
	EXPECT_STREQ(info->fabric_attr->prov_name, "gsn");
	EXPECT_STREQ(info->fabric_attr->name, "gsn");
	EXPECT_STREQ(info->domain_attr->name, "gsn0");
	EXPECT_EQ(info->fabric_attr->prov_version, FI_VERSION(0, 1));
	EXPECT_EQ(info->ep_attr->type, FI_EP_RDM);
	EXPECT_EQ(info->addr_format, (uint32_t)FI_FORMAT_UNSPEC);
	EXPECT_EQ(info->mode, 0u);
}

TEST(GetInfo, NullHintsListGsnWithEverything)
{
	fi_info *list = nullptr;
	int ret = fi_getinfo(kApi, nullptr, nullptr, 0, nullptr, &list);

	ASSERT_EQ(ret, 0);
	const fi_info *gsn = nullptr;

	for (const fi_info *i = list; i; i = i->next)
		if (!strcmp(i->fabric_attr->prov_name, "gsn"))
			gsn = i;
	ASSERT_NE(gsn, nullptr);
	const uint64_t all = FI_MSG | FI_TAGGED | FI_RMA | FI_ATOMIC | FI_SEND | FI_RECV |
			     FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE |
			     FI_RMA_EVENT | FI_DIRECTED_RECV | FI_SOURCE | FI_LOCAL_COMM |
			     FI_REMOTE_COMM;
	EXPECT_EQ(gsn->caps, all);
	EXPECT_EQ(gsn->domain_attr->mr_mode, 0);
	EXPECT_EQ(gsn->domain_attr->threading, FI_THREAD_SAFE);
	EXPECT_EQ(gsn->domain_attr->data_progress, FI_PROGRESS_AUTO);
	EXPECT_EQ(gsn->domain_attr->control_progress, FI_PROGRESS_AUTO);
	EXPECT_EQ(gsn->domain_attr->resource_mgmt, FI_RM_ENABLED);
	EXPECT_EQ(gsn->domain_attr->av_type, FI_AV_MAP);
	EXPECT_EQ(gsn->domain_attr->cq_data_size, 8u);
	EXPECT_EQ(gsn->domain_attr->mr_key_size, 8u);
	EXPECT_EQ(gsn->domain_attr->max_ep_tx_ctx, 1u);
	EXPECT_EQ(gsn->domain_attr->max_ep_rx_ctx, 1u);
	EXPECT_EQ(gsn->domain_attr->max_ep_stx_ctx, 0u);
	EXPECT_EQ(gsn->domain_attr->max_ep_srx_ctx, 0u);
	EXPECT_EQ(gsn->ep_attr->mem_tag_format >> 63, 1u);
	EXPECT_EQ(gsn->ep_attr->tx_ctx_cnt, 1u);
	EXPECT_EQ(gsn->ep_attr->rx_ctx_cnt, 1u);
	EXPECT_EQ(gsn->tx_attr->op_flags, (uint64_t)FI_TRANSMIT_COMPLETE);
	EXPECT_EQ(gsn->tx_attr->msg_order & FI_ORDER_SAS, FI_ORDER_SAS);
	EXPECT_EQ(gsn->tx_attr->inject_size, 4096u);
	EXPECT_GE(gsn->ep_attr->max_msg_size, (size_t)1 << 30);
	EXPECT_EQ(gsn->tx_attr->iov_limit, 4u);
	EXPECT_EQ(gsn->tx_attr->rma_iov_limit, 1u);
	EXPECT_EQ(gsn->src_addr, nullptr);
	fi_freeinfo(list);
}

TEST(GetInfo, HintsWithNullSubstructures)
{
	fi_info *h = gsn_hints();
	fi_info *info = nullptr;

	// keep only fabric_attr (the provider name); everything else absent
	free(h->tx_attr);
	free(h->rx_attr);
	free(h->ep_attr);
	free(h->domain_attr);
	h->tx_attr = nullptr;
	h->rx_attr = nullptr;
	h->ep_attr = nullptr;
	h->domain_attr = nullptr;
	ASSERT_EQ(fi_getinfo(kApi, nullptr, nullptr, 0, h, &info), 0);
	ASSERT_NE(info, nullptr);
	EXPECT_EQ(info->domain_attr->mr_mode, 0);
	fi_freeinfo(info);

	// and no fabric_attr either: every provider answers, gsn among them
	free(h->fabric_attr->prov_name);
	free(h->fabric_attr);
	h->fabric_attr = nullptr;
	h->caps = FI_TAGGED;
	ASSERT_EQ(fi_getinfo(kApi, nullptr, nullptr, 0, h, &info), 0);
	bool found = false;
	for (fi_info *i = info; i; i = i->next)
		found = found || !strcmp(i->fabric_attr->prov_name, "gsn");
	EXPECT_TRUE(found);
	fi_freeinfo(info);
	fi_freeinfo(h);
}

TEST(GetInfo, ResultSurvivesDupinfo)
{
	Info info(accepted(nullptr));
	ASSERT_NE(info.p, nullptr);
	fi_info *dup = fi_dupinfo(info.p);

	ASSERT_NE(dup, nullptr);
	EXPECT_STREQ(dup->domain_attr->name, "gsn0");
	fi_freeinfo(dup);
}

TEST(GetInfo, EndpointTypes)
{
	expect_refused([](fi_info *h) { set_ep_type(h, FI_EP_MSG); });
	expect_refused([](fi_info *h) { set_ep_type(h, FI_EP_DGRAM); });
	expect_refused([](fi_info *h) { set_ep_type(h, FI_EP_SOCK_STREAM); });
	Info rdm(accepted([](fi_info *h) { set_ep_type(h, FI_EP_RDM); }));
	ASSERT_NE(rdm.p, nullptr);
	Info unspec(accepted([](fi_info *h) { set_ep_type(h, FI_EP_UNSPEC); }));
	ASSERT_NE(unspec.p, nullptr);
	EXPECT_EQ(unspec->ep_attr->type, FI_EP_RDM);
}

TEST(GetInfo, CapsBeyondOursRefused)
{
	for (uint64_t cap : {FI_MULTI_RECV, FI_TRIGGER, FI_HMEM, FI_MULTICAST, FI_FENCE,
			     FI_NAMED_RX_CTX, FI_COLLECTIVE, FI_VARIABLE_MSG, FI_SOURCE_ERR}) {
		SCOPED_TRACE(fi_tostr(&cap, FI_TYPE_CAPS));
		expect_refused([cap](fi_info *h) { h->caps = FI_MSG | cap; });
	}
}

TEST(GetInfo, CapsAreWhatWasAskedWithDirections)
{
	Info msg(accepted([](fi_info *h) { h->caps = FI_MSG; }));
	ASSERT_NE(msg.p, nullptr);
	EXPECT_EQ(msg->caps, (uint64_t)(FI_MSG | FI_SEND | FI_RECV));
	EXPECT_EQ(msg->tx_attr->caps, (uint64_t)(FI_MSG | FI_SEND));
	EXPECT_EQ(msg->rx_attr->caps, (uint64_t)(FI_MSG | FI_RECV));

	Info rma(accepted([](fi_info *h) { h->caps = FI_RMA | FI_ATOMIC; }));
	ASSERT_NE(rma.p, nullptr);
	EXPECT_EQ(rma->caps, (uint64_t)(FI_RMA | FI_ATOMIC | FI_READ | FI_WRITE |
					FI_REMOTE_READ | FI_REMOTE_WRITE));

	// a direction given: no others added
	Info send(accepted([](fi_info *h) { h->caps = FI_TAGGED | FI_SEND; }));
	ASSERT_NE(send.p, nullptr);
	EXPECT_EQ(send->caps, (uint64_t)(FI_TAGGED | FI_SEND));
	EXPECT_EQ(send->rx_attr->caps, (uint64_t)FI_TAGGED);
}

TEST(GetInfo, SecondaryCapsOnlyWhenAsked)
{
	Info plain(accepted([](fi_info *h) { h->caps = FI_RMA; }));
	ASSERT_NE(plain.p, nullptr);
	EXPECT_EQ(plain->caps & (FI_SOURCE | FI_RMA_EVENT), 0u);

	Info asked(accepted([](fi_info *h) {
		h->caps = FI_RMA | FI_RMA_EVENT | FI_MSG | FI_SOURCE;
	}));
	ASSERT_NE(asked.p, nullptr);
	EXPECT_EQ(asked->caps & (FI_SOURCE | FI_RMA_EVENT), (uint64_t)(FI_SOURCE | FI_RMA_EVENT));
	EXPECT_EQ(asked->rx_attr->caps & FI_RMA_EVENT, (uint64_t)FI_RMA_EVENT);
	EXPECT_EQ(asked->tx_attr->caps & FI_RMA_EVENT, 0u);
}

TEST(GetInfo, SideCapsMustBeSubsetOfInfoCaps)
{
	expect_refused([](fi_info *h) {
		h->caps = FI_MSG;
		h->tx_attr->caps = FI_TAGGED;
	});
	expect_refused([](fi_info *h) { h->rx_attr->caps = FI_MULTI_RECV; });
	Info ok(accepted([](fi_info *h) {
		h->caps = FI_MSG | FI_TAGGED;
		h->tx_attr->caps = FI_TAGGED;
	}));
	ASSERT_NE(ok.p, nullptr);
	EXPECT_EQ(ok->tx_attr->caps, (uint64_t)(FI_TAGGED | FI_SEND));
}

TEST(GetInfo, AnyModeAcceptedNoneRequired)
{
	Info info(accepted([](fi_info *h) {
		h->mode = FI_CONTEXT | FI_CONTEXT2 | FI_MSG_PREFIX | FI_LOCAL_MR | FI_RX_CQ_DATA;
	}));
	ASSERT_NE(info.p, nullptr);
	EXPECT_EQ(info->mode, 0u);
	EXPECT_EQ(info->tx_attr->mode, 0u);
	EXPECT_EQ(info->rx_attr->mode, 0u);
	Info none(accepted([](fi_info *h) { h->mode = 0; }));
	EXPECT_NE(none.p, nullptr);
}

TEST(GetInfo, MrModes)
{
	struct Case {
		int offered;
		int returned;
	} cases[] = {
		{0, 0},                                     // mtl ofi, SOS: user keys, offsets
		{FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY, // btl ofi
		 FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY},
		{FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY, // fi_pingpong
		 FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY},
		{FI_MR_BASIC, FI_MR_BASIC},
		{FI_MR_SCALABLE, FI_MR_SCALABLE},
		{FI_MR_PROV_KEY, FI_MR_PROV_KEY},
		{FI_MR_VIRT_ADDR, FI_MR_VIRT_ADDR},
		// offered but never needed: not returned
		{FI_MR_RAW | FI_MR_ENDPOINT | FI_MR_MMU_NOTIFY | FI_MR_RMA_EVENT | FI_MR_HMEM, 0},
		{FI_MR_ENDPOINT | FI_MR_PROV_KEY, FI_MR_PROV_KEY},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.offered);
		Info info(accepted([&c](fi_info *h) { h->domain_attr->mr_mode = c.offered; }));
		ASSERT_NE(info.p, nullptr);
		EXPECT_EQ(info->domain_attr->mr_mode, c.returned);
	}
	// the old values cannot be combined with anything
	expect_refused([](fi_info *h) { h->domain_attr->mr_mode = FI_MR_BASIC | FI_MR_LOCAL; });
	expect_refused([](fi_info *h) {
		h->domain_attr->mr_mode = FI_MR_SCALABLE | FI_MR_PROV_KEY;
	});
	expect_refused([](fi_info *h) { h->domain_attr->mr_mode = FI_MR_BASIC | FI_MR_SCALABLE; });
}

TEST(GetInfo, ThreadingModels)
{
	for (fi_threading t : {FI_THREAD_SAFE, FI_THREAD_FID, FI_THREAD_ENDPOINT,
			       FI_THREAD_COMPLETION, FI_THREAD_DOMAIN}) {
		Info info(accepted([t](fi_info *h) { h->domain_attr->threading = t; }));
		ASSERT_NE(info.p, nullptr);
		EXPECT_EQ(info->domain_attr->threading, t);
	}
	Info unspec(accepted([](fi_info *h) { h->domain_attr->threading = FI_THREAD_UNSPEC; }));
	ASSERT_NE(unspec.p, nullptr);
	EXPECT_EQ(unspec->domain_attr->threading, FI_THREAD_SAFE);
	expect_refused([](fi_info *h) { h->domain_attr->threading = (fi_threading)77; });
}

TEST(GetInfo, ProgressModels)
{
	// auto progress (the progress thread) satisfies both
	for (fi_progress p : {FI_PROGRESS_AUTO, FI_PROGRESS_MANUAL}) {
		Info info(accepted([p](fi_info *h) {
			h->domain_attr->data_progress = p;
			h->domain_attr->control_progress = p;
		}));
		ASSERT_NE(info.p, nullptr);
		EXPECT_EQ(info->domain_attr->data_progress, p);
		EXPECT_EQ(info->domain_attr->control_progress, p);
	}
	Info unspec(accepted(nullptr));
	ASSERT_NE(unspec.p, nullptr);
	EXPECT_EQ(unspec->domain_attr->data_progress, FI_PROGRESS_AUTO);
	expect_refused([](fi_info *h) { h->domain_attr->data_progress = (fi_progress)9; });
	expect_refused([](fi_info *h) { h->domain_attr->control_progress = (fi_progress)9; });
}

TEST(GetInfo, ResourceManagement)
{
	for (fi_resource_mgmt rm : {FI_RM_UNSPEC, FI_RM_ENABLED, FI_RM_DISABLED}) {
		Info info(accepted([rm](fi_info *h) { h->domain_attr->resource_mgmt = rm; }));
		ASSERT_NE(info.p, nullptr);
		EXPECT_EQ(info->domain_attr->resource_mgmt, FI_RM_ENABLED);
	}
	expect_refused([](fi_info *h) { h->domain_attr->resource_mgmt = (fi_resource_mgmt)5; });
}

TEST(GetInfo, AvTypes)
{
	Info map(accepted([](fi_info *h) { h->domain_attr->av_type = FI_AV_MAP; }));
	ASSERT_NE(map.p, nullptr);
	EXPECT_EQ(map->domain_attr->av_type, FI_AV_MAP);
	Info table(accepted([](fi_info *h) { h->domain_attr->av_type = FI_AV_TABLE; }));
	ASSERT_NE(table.p, nullptr);
	EXPECT_EQ(table->domain_attr->av_type, FI_AV_TABLE);
	Info unspec(accepted([](fi_info *h) { h->domain_attr->av_type = FI_AV_UNSPEC; }));
	ASSERT_NE(unspec.p, nullptr);
	EXPECT_EQ(unspec->domain_attr->av_type, FI_AV_MAP);
	expect_refused([](fi_info *h) { h->domain_attr->av_type = (fi_av_type)7; });
}

TEST(GetInfo, Orders)
{
	Info sas(accepted([](fi_info *h) {
		h->tx_attr->msg_order = FI_ORDER_SAS;
		h->rx_attr->msg_order = FI_ORDER_SAS;
	}));
	ASSERT_NE(sas.p, nullptr);
	EXPECT_EQ(sas->tx_attr->msg_order, (uint64_t)FI_ORDER_SAS);
	expect_refused([](fi_info *h) { h->tx_attr->msg_order = FI_ORDER_SAS | FI_ORDER_RAW; });
	expect_refused([](fi_info *h) { h->rx_attr->msg_order = FI_ORDER_WAW; });
	expect_refused([](fi_info *h) { h->tx_attr->comp_order = FI_ORDER_STRICT; });
	expect_refused([](fi_info *h) { h->rx_attr->comp_order = FI_ORDER_DATA; });
	expect_refused([](fi_info *h) {
		h->caps = FI_RMA;
		h->ep_attr->max_order_waw_size = 8;
	});
}

TEST(GetInfo, Sizes)
{
	Info at_limit(accepted([](fi_info *h) {
		h->tx_attr->inject_size = 4096;
		h->ep_attr->max_msg_size = (size_t)1 << 30;
		h->tx_attr->iov_limit = 4;
		h->rx_attr->iov_limit = 4;
		h->tx_attr->rma_iov_limit = 1;
		h->domain_attr->cq_data_size = 8;
		h->domain_attr->mr_key_size = 8;
		h->tx_attr->size = 1024;
		h->rx_attr->size = 1024;
		h->ep_attr->tx_ctx_cnt = 1;
		h->ep_attr->rx_ctx_cnt = 1;
		h->domain_attr->max_ep_tx_ctx = 1;
		h->domain_attr->mr_iov_limit = 1;
	}));
	ASSERT_NE(at_limit.p, nullptr);
	EXPECT_EQ(at_limit->tx_attr->inject_size, 4096u);

	Info small(accepted([](fi_info *h) { h->tx_attr->inject_size = 16; }));
	ASSERT_NE(small.p, nullptr);
	EXPECT_EQ(small->tx_attr->inject_size, 16u);

	expect_refused([](fi_info *h) { h->tx_attr->inject_size = 4097; });
	expect_refused([](fi_info *h) { h->ep_attr->max_msg_size = ((size_t)1 << 30) + 1; });
	expect_refused([](fi_info *h) { h->tx_attr->iov_limit = 5; });
	expect_refused([](fi_info *h) { h->rx_attr->iov_limit = 5; });
	expect_refused([](fi_info *h) { h->tx_attr->rma_iov_limit = 2; });
	expect_refused([](fi_info *h) { h->domain_attr->cq_data_size = 9; });
	expect_refused([](fi_info *h) { h->domain_attr->mr_key_size = 16; });
	expect_refused([](fi_info *h) { h->tx_attr->size = 1025; });
	expect_refused([](fi_info *h) { h->rx_attr->size = 1025; });
	expect_refused([](fi_info *h) { h->ep_attr->tx_ctx_cnt = 2; });
	expect_refused([](fi_info *h) { h->ep_attr->rx_ctx_cnt = FI_SHARED_CONTEXT; });
	expect_refused([](fi_info *h) { h->domain_attr->max_ep_tx_ctx = 2; });
	expect_refused([](fi_info *h) { h->domain_attr->max_ep_stx_ctx = 1; });
	expect_refused([](fi_info *h) { h->domain_attr->max_ep_srx_ctx = 1; });
	expect_refused([](fi_info *h) { h->domain_attr->mr_iov_limit = 2; });
	expect_refused([](fi_info *h) { h->domain_attr->max_err_data = 64; });
	expect_refused([](fi_info *h) { h->ep_attr->msg_prefix_size = 16; });
}

TEST(GetInfo, OpFlags)
{
	Info dc(accepted([](fi_info *h) { h->tx_attr->op_flags = FI_DELIVERY_COMPLETE; }));
	ASSERT_NE(dc.p, nullptr);
	EXPECT_EQ(dc->tx_attr->op_flags, (uint64_t)FI_DELIVERY_COMPLETE);
	Info comp(accepted([](fi_info *h) {
		h->tx_attr->op_flags = FI_COMPLETION | FI_INJECT_COMPLETE;
		h->rx_attr->op_flags = FI_COMPLETION;
	}));
	ASSERT_NE(comp.p, nullptr);
	expect_refused([](fi_info *h) { h->tx_attr->op_flags = FI_COMMIT_COMPLETE; });
	expect_refused([](fi_info *h) { h->rx_attr->op_flags = FI_MULTI_RECV; });
}

TEST(GetInfo, ApiVersions)
{
	expect_refused(nullptr, FI_VERSION(1, 4));
	expect_refused(nullptr, FI_VERSION(1, 0));
	for (uint32_t v : {FI_VERSION(1, 5), FI_VERSION(1, 9), FI_VERSION(1, 17)}) {
		Info info(accepted(nullptr, v));
		ASSERT_NE(info.p, nullptr);
		EXPECT_EQ(info->fabric_attr->api_version, v);
	}
	// newer than the library: the core refuses before asking us
	int ret;
	Info newer(getinfo(nullptr, &ret, FI_VERSION(1, 18)));
	EXPECT_NE(ret, 0);
}

TEST(GetInfo, FabricAndDomainNames)
{
	Info ok(accepted([](fi_info *h) {
		h->fabric_attr->name = strdup("gsn");
		h->domain_attr->name = strdup("gsn0");
	}));
	EXPECT_NE(ok.p, nullptr);
	expect_refused([](fi_info *h) { h->fabric_attr->name = strdup("ethernet"); });
	expect_refused([](fi_info *h) { h->domain_attr->name = strdup("mlx5_0"); });
	expect_refused([](fi_info *h) { h->fabric_attr->prov_version = FI_VERSION(9, 0); });
}

TEST(GetInfo, AddressFormatAndAuthKeys)
{
	expect_refused([](fi_info *h) { h->addr_format = FI_SOCKADDR_IN; });
	expect_refused([](fi_info *h) { h->addr_format = FI_ADDR_STR; });
	expect_refused([](fi_info *h) {
		h->domain_attr->auth_key = (uint8_t *)calloc(1, 4);
		h->domain_attr->auth_key_size = 4;
	});
}

TEST(GetInfo, NodeInOurTextForm)
{
	const char *node = "gsn://02:00:00:00:00:01/1a/2b3c";
	int ret;
	Info src(getinfo(nullptr, &ret, kApi, node, FI_SOURCE));

	ASSERT_EQ(ret, 0);
	ASSERT_NE(src.p, nullptr);
	ASSERT_EQ(src->src_addrlen, 16u);
	ASSERT_NE(src->src_addr, nullptr);
	EXPECT_EQ(src->dest_addr, nullptr);
	const uint8_t *a = (const uint8_t *)src->src_addr;
	const uint8_t ula[6] = {2, 0, 0, 0, 0, 1};
	uint32_t qpn, nonce;

	EXPECT_EQ(memcmp(a, ula, 6), 0);
	EXPECT_EQ(a[6] | a[7], 0);
	memcpy(&qpn, a + 8, 4);
	memcpy(&nonce, a + 12, 4);
	EXPECT_EQ(ntohl(qpn), 0x1au);
	EXPECT_EQ(ntohl(nonce), 0x2b3cu);

	Info dest(getinfo(nullptr, &ret, kApi, node, 0));
	ASSERT_EQ(ret, 0);
	ASSERT_NE(dest.p, nullptr);
	ASSERT_EQ(dest->dest_addrlen, 16u);
	EXPECT_EQ(memcmp(dest->dest_addr, src->src_addr, 16), 0);
	EXPECT_EQ(dest->src_addr, nullptr);
}

TEST(GetInfo, NodeNotOursRefused)
{
	for (const char *node : {"127.0.0.1", "localhost", "gsn://02:00:00:00:00:01/1a",
				 "gsn://02:00:00:00:00/1a/2", "gsn://02:00:00:00:00:01/123456789/1",
				 "gsn://02:00:00:00:00:01/1/2/", "gsn://0x2:00:00:00:00:01/1/2"}) {
		SCOPED_TRACE(node);
		for (uint64_t flags : {(uint64_t)0, (uint64_t)FI_SOURCE}) {
			int ret;
			Info info(getinfo(nullptr, &ret, kApi, node, flags));

			EXPECT_EQ(ret, -FI_ENODATA);
		}
	}
}

TEST(GetInfo, ServiceAloneIsIgnored)
{
	fi_info *h = gsn_hints();
	fi_info *info = nullptr;

	ASSERT_EQ(fi_getinfo(kApi, nullptr, "9228", FI_SOURCE, h, &info), 0);
	ASSERT_NE(info, nullptr);
	EXPECT_EQ(info->src_addr, nullptr);
	fi_freeinfo(info);
	fi_freeinfo(h);
}

TEST(GetInfo, AddressesInHints)
{
	uint8_t addr[16] = {2, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1};

	// fi_pingpong's client: the server's name as dest_addr
	Info dest(accepted([&addr](fi_info *h) {
		h->dest_addr = malloc(16);
		memcpy(h->dest_addr, addr, 16);
		h->dest_addrlen = 16;
	}));
	ASSERT_NE(dest.p, nullptr);
	ASSERT_EQ(dest->dest_addrlen, 16u);
	EXPECT_EQ(memcmp(dest->dest_addr, addr, 16), 0);

	Info src(accepted([&addr](fi_info *h) {
		h->src_addr = malloc(16);
		memcpy(h->src_addr, addr, 16);
		h->src_addrlen = 16;
	}));
	ASSERT_NE(src.p, nullptr);
	EXPECT_EQ(memcmp(src->src_addr, addr, 16), 0);

	expect_refused([](fi_info *h) { // a sockaddr_in is not ours
		h->dest_addr = calloc(1, 16);
		h->dest_addrlen = 8;
	});
	expect_refused([&addr](fi_info *h) { // reserved bytes set
		h->dest_addr = malloc(16);
		memcpy(h->dest_addr, addr, 16);
		((uint8_t *)h->dest_addr)[6] = 1;
		h->dest_addrlen = 16;
	});
}

// ---- the applications' own hints -----------------------------------------------------

TEST(GetInfoClients, OpenMpiMtlOfi)
{
	Info info(accepted([](fi_info *h) {
		h->caps = FI_TAGGED | FI_LOCAL_COMM | FI_REMOTE_COMM | FI_DIRECTED_RECV;
		h->mode = FI_CONTEXT | FI_CONTEXT2;
		h->ep_attr->type = FI_EP_RDM;
		h->tx_attr->op_flags = FI_COMPLETION;
		h->rx_attr->op_flags = FI_COMPLETION;
		h->tx_attr->msg_order = FI_ORDER_SAS;
		h->rx_attr->msg_order = FI_ORDER_SAS;
		h->domain_attr->threading = FI_THREAD_DOMAIN;
		h->domain_attr->resource_mgmt = FI_RM_ENABLED;
		h->domain_attr->av_type = FI_AV_MAP;
		h->domain_attr->cq_data_size = 4;
		h->domain_attr->mr_mode = 0;
	}, FI_VERSION(1, 5)));
	ASSERT_NE(info.p, nullptr);
	EXPECT_EQ(info->caps, (uint64_t)(FI_TAGGED | FI_SEND | FI_RECV | FI_LOCAL_COMM |
					 FI_REMOTE_COMM | FI_DIRECTED_RECV));
	EXPECT_EQ(info->domain_attr->mr_mode, 0);
	EXPECT_EQ(info->mode, 0u);
	EXPECT_EQ(info->ep_attr->mem_tag_format >> 63, 1u);
	EXPECT_GE(info->domain_attr->cq_data_size, 4u);
	EXPECT_EQ(info->domain_attr->av_type, FI_AV_MAP);

	// MPI_THREAD_MULTIPLE asks for FI_THREAD_SAFE
	Info safe(accepted([](fi_info *h) {
		h->caps = FI_TAGGED | FI_DIRECTED_RECV;
		h->domain_attr->threading = FI_THREAD_SAFE;
	}, FI_VERSION(1, 5)));
	EXPECT_NE(safe.p, nullptr);
}

TEST(GetInfoClients, OpenMpiBtlOfi)
{
	Info info(accepted([](fi_info *h) {
		h->caps = FI_RMA | FI_ATOMIC;
		h->mode = FI_CONTEXT | FI_CONTEXT2;
		h->ep_attr->type = FI_EP_RDM;
		h->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
		h->tx_attr->iov_limit = 1;
		h->rx_attr->iov_limit = 1;
		h->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
		h->domain_attr->av_type = FI_AV_MAP;
	}, FI_VERSION(1, 5)));
	ASSERT_NE(info.p, nullptr);
	EXPECT_EQ(info->domain_attr->mr_mode, FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY);
	EXPECT_EQ(info->domain_attr->mr_mode & (FI_MR_LOCAL | FI_MR_ENDPOINT), 0);
	EXPECT_EQ(info->tx_attr->op_flags, (uint64_t)FI_DELIVERY_COMPLETE);
	EXPECT_EQ(info->domain_attr->max_ep_tx_ctx, 1u);
	EXPECT_EQ(info->caps & (FI_RMA | FI_ATOMIC), (uint64_t)(FI_RMA | FI_ATOMIC));
}

TEST(GetInfoClients, OpenShmemSos)
{
	for (int mr_mode : {0, (int)(FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY)}) {
		for (fi_av_type av : {FI_AV_TABLE, FI_AV_MAP}) {
			Info info(accepted([mr_mode, av](fi_info *h) {
				h->caps = FI_RMA | FI_ATOMIC | FI_RMA_EVENT;
				h->ep_attr->type = FI_EP_RDM;
				h->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
				h->tx_attr->inject_size = 16;
				h->domain_attr->data_progress = FI_PROGRESS_AUTO;
				h->domain_attr->resource_mgmt = FI_RM_ENABLED;
				h->domain_attr->threading = FI_THREAD_DOMAIN;
				h->domain_attr->av_type = av;
				h->domain_attr->mr_mode = mr_mode;
			}));
			ASSERT_NE(info.p, nullptr);
			EXPECT_EQ(info->domain_attr->mr_mode, mr_mode);
			EXPECT_EQ(info->domain_attr->av_type, av);
			EXPECT_EQ(info->domain_attr->data_progress, FI_PROGRESS_AUTO);
			EXPECT_NE(info->caps & FI_RMA_EVENT, 0u);
			EXPECT_GE(info->tx_attr->inject_size, 16u);
			EXPECT_EQ(info->domain_attr->max_ep_stx_ctx, 0u);
		}
	}
	Info scalable(accepted([](fi_info *h) {
		h->caps = FI_RMA | FI_ATOMIC | FI_RMA_EVENT;
		h->domain_attr->mr_mode = FI_MR_SCALABLE;
	}));
	ASSERT_NE(scalable.p, nullptr);
	EXPECT_EQ(scalable->domain_attr->mr_mode, FI_MR_SCALABLE);
}

TEST(GetInfoClients, FiPingpong)
{
	for (uint64_t caps : {(uint64_t)FI_MSG, (uint64_t)FI_TAGGED}) {
		Info info(accepted([caps](fi_info *h) {
			h->ep_attr->type = FI_EP_RDM;
			h->caps = caps;
			h->mode = FI_CONTEXT | FI_CONTEXT2 | FI_MSG_PREFIX;
			h->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_ALLOCATED | FI_MR_PROV_KEY |
						  FI_MR_VIRT_ADDR;
		}));
		ASSERT_NE(info.p, nullptr);
		EXPECT_EQ(info->mode & FI_MSG_PREFIX, 0u);
		EXPECT_EQ(info->ep_attr->msg_prefix_size, 0u);
		EXPECT_EQ(info->domain_attr->mr_mode, FI_MR_LOCAL | FI_MR_ALLOCATED |
							      FI_MR_PROV_KEY | FI_MR_VIRT_ADDR);
	}
	// its default endpoint type is DGRAM: not ours
	expect_refused([](fi_info *h) {
		h->ep_attr->type = FI_EP_DGRAM;
		h->caps = FI_MSG;
	});
}
