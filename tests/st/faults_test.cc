// SPDX-License-Identifier: MIT
// Every sequence (connect, RMR, PUT, GET, FETCHOP, RTS/CTS write, RTR read,
// Request_State, disconnect) under loss, reordering and duplication in both
// directions, plus a dead network after connect.
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <sstream>
#include <tuple>

#include "data_helpers.h"

namespace sttest {
namespace {

using namespace data;

constexpr uint64_t kKey = 0xFA017500000000A5ull;
constexpr uint64_t kMemLen = 256 * kKiB;
constexpr uint64_t kCounterOff = 200000;  // 8-aligned word for the FETCHOPs

enum class Mode { kDrop7th, kDrop5pct, kDisorder, kDup3rd, kStacked };

const char *ModeName(Mode m)
{
	switch (m) {
	case Mode::kDrop7th: return "Drop7th";
	case Mode::kDrop5pct: return "Drop5pct";
	case Mode::kDisorder: return "Disorder";
	case Mode::kDup3rd: return "Dup3rd";
	case Mode::kStacked: return "Stacked";
	}
	return "?";
}

void PrintTo(Mode m, std::ostream *os) { *os << ModeName(m); }

bool Drops(Mode m) { return m == Mode::kDrop7th || m == Mode::kDrop5pct || m == Mode::kStacked; }
bool Dups(Mode m) { return m == Mode::kDup3rd || m == Mode::kStacked; }

// Installs the fault layers on both directions between 0 and 1 (before any
// traffic, so the connection set-up runs through them too), then a tap below.
struct Faults {
	std::vector<Drop *> drops;
	std::vector<Disorder *> disorders;
	std::vector<Duplicate *> dups;

	void Install(Net &net, Mode m, uint64_t seed)
	{
		for (int dir = 0; dir < 2; dir++) {
			int s = dir, d = 1 - dir;
			uint64_t ls = seed * 1000003ull + (uint64_t)dir * 17 + 1;
			switch (m) {
			case Mode::kDrop7th:
				drops.push_back(net.AddLayer<Drop>(s, d, Drop::Nth(7)));
				break;
			case Mode::kDrop5pct:
				drops.push_back(net.AddLayer<Drop>(s, d, Drop::Rate(0.05, ls)));
				break;
			case Mode::kDisorder:
				disorders.push_back(net.AddLayer<Disorder>(s, d, DisorderOpts(ls)));
				break;
			case Mode::kDup3rd: {
				Duplicate::Options o;
				o.every_nth = 3;
				dups.push_back(net.AddLayer<Duplicate>(s, d, o));
				break;
			}
			case Mode::kStacked: {
				drops.push_back(net.AddLayer<Drop>(s, d, Drop::Rate(0.05, ls)));
				disorders.push_back(net.AddLayer<Disorder>(s, d, DisorderOpts(ls + 5)));
				Duplicate::Options o;
				o.every_nth = 3;
				dups.push_back(net.AddLayer<Duplicate>(s, d, o));
				break;
			}
			}
		}
	}

	static Disorder::Options DisorderOpts(uint64_t seed)
	{
		Disorder::Options o;
		o.rate = 0.3;
		o.k = 2;
		o.seed = seed;
		return o;
	}

	uint64_t Dropped() const
	{
		uint64_t n = 0;
		for (auto *d : drops)
			n += d->dropped();
		return n;
	}
	uint64_t Reordered() const
	{
		uint64_t n = 0;
		for (auto *d : disorders)
			n += d->reordered();
		return n;
	}
	uint64_t Duplicated() const
	{
		uint64_t n = 0;
		for (auto *d : dups)
			n += d->duplicated();
		return n;
	}
};

struct World {
	Region *src = nullptr, *sink = nullptr, *su_src = nullptr;  // A
	Region *mem = nullptr, *su_dst = nullptr, *su_out = nullptr; // B
};

World MakeWorld(Net &net, uint64_t seed)
{
	World w;
	w.src = net.AddRegion(0, kMemLen, 0);
	w.sink = net.AddRegion(0, kMemLen, 0);
	w.su_src = net.AddRegion(0, kMemLen, 0);
	w.mem = net.AddRegion(1, kMemLen, kAll, kKey);
	w.su_dst = net.AddRegion(1, kMemLen, 0);
	w.su_out = net.AddRegion(1, kMemLen, 0);
	uint64_t s = seed * 100;
	for (Region *r : {w.src, w.sink, w.su_src, w.mem, w.su_dst, w.su_out})
		Fill(r, ++s);
	Store64(w.mem->bytes, kCounterOff, 1000);
	return w;
}

using FaultParam = std::tuple<Mode, uint64_t>;

struct FaultsTest : ::testing::TestWithParam<FaultParam> {
	Net net{2};
	Faults f;
	std::shared_ptr<TapLog> sent;  // above the faults: what the engines sent
	std::shared_ptr<TapLog> log;   // below them: what was delivered
	Mode mode = std::get<0>(GetParam());
	uint64_t seed = std::get<1>(GetParam());

	void SetUp() override
	{
		sent = net.TapBoth(0, 1);
		f.Install(net, mode, seed);
		log = net.TapBoth(0, 1);
	}

	// The sent trace with every op that never arrived marked "x".  Without
	// Disorder or Duplicate each direction's deliveries are a subsequence of
	// what was sent, so the marks are exact; otherwise they are matched by
	// header and length and only approximate.
	std::string Why()
	{
		const auto &snt = sent->records();
		const auto &dlv = log->records();
		std::vector<bool> lost(snt.size(), false);
		auto key = [](const OpRecord &r) { return FormatOp(r) + "#" + std::to_string(r.payload_len); };
		if (mode == Mode::kDrop7th || mode == Mode::kDrop5pct) {
			for (int dir = 0; dir < 2; dir++) {
				size_t j = 0;
				for (size_t i = 0; i < snt.size(); i++) {
					if (snt[i].src != dir)
						continue;
					while (j < dlv.size() && dlv[j].src != dir)
						j++;
					if (j < dlv.size() && key(dlv[j]) == key(snt[i]))
						j++;
					else
						lost[i] = true;
				}
			}
		} else {
			std::map<std::string, int> n;
			for (const auto &r : dlv)
				n[key(r)]++;
			for (size_t i = 0; i < snt.size(); i++) {
				int &c = n[key(snt[i])];
				lost[i] = c <= 0;
				if (c > 0)
					c--;
			}
		}
		std::ostringstream os;
		os << net.DumpEvents(0) << net.DumpEvents(1) << "sent (x = never delivered):\n";
		for (size_t i = 0; i < snt.size(); i++) {
			char t[32];
			snprintf(t, sizeof(t), "%10.6f ", (double)(snt[i].at_ns - kStartNs) / 1e9);
			os << (lost[i] ? " x " : "   ") << t << FormatOp(snt[i]) << "\n";
		}
		return os.str();
	}
};

TEST_P(FaultsTest, EverySequenceCompletesByteExact)
{
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok()) << Why();
	World w = MakeWorld(net, seed);
	const uint64_t put_len = 20000 + seed * 13, get_len = 30000 + seed * 7;
	const uint64_t send_len = 70000 + seed * 11, read_len = 50000 + seed * 3;

	// RMR -> MRA
	ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, kKey, 1));
	st_event rx = net.WaitEvent(0, ST_EV_REGION_EXPOSED, 1);
	ASSERT_EQ(ST_OK, rx.status) << st_status_str(rx.status) << "\n" << Why();
	EXPECT_EQ(kMemLen, rx.len);

	// PUT
	st_rma put = Rma(w.src->mx, 5, kKey, 777, put_len);
	ASSERT_EQ(0, st_put(net.eng(0), vp.a, &put, 2));
	st_event pe = net.WaitCompletion(0, 2, ST_REQ_PUT);
	ASSERT_EQ(ST_OK, pe.status) << st_status_str(pe.status) << "\n" << Why();
	EXPECT_TRUE(SameBytes(w.src->bytes, 5, w.mem->bytes, 777, put_len));

	// GET
	st_rma get = Rma(w.sink->mx, 9, kKey, 100000, get_len);
	ASSERT_EQ(0, st_get(net.eng(0), vp.a, &get, 3));
	st_event ge = net.WaitCompletion(0, 3, ST_REQ_GET);
	ASSERT_EQ(ST_OK, ge.status) << st_status_str(ge.status) << "\n" << Why();
	EXPECT_TRUE(SameBytes(w.mem->bytes, 100000, w.sink->bytes, 9, get_len));

	// FETCHOPs: five fetch-adds of 3, then a compare-swap.
	for (uint64_t i = 0; i < 5; i++) {
		struct st_fetchop fo{};
		fo.fn = ST_FN_FETCH_ADD;
		fo.rkey = kKey;
		fo.remote_off = kCounterOff;
		fo.operand = 3;
		ASSERT_EQ(0, st_fetchop(net.eng(0), vp.a, &fo, 10 + i));
		st_event fe = net.WaitCompletion(0, 10 + i, ST_REQ_FETCHOP);
		ASSERT_EQ(ST_OK, fe.status) << st_status_str(fe.status) << "\n" << Why();
		EXPECT_EQ(1000 + 3 * i, fe.value) << i;
	}
	struct st_fetchop cas{};
	cas.fn = ST_FN_COMPARE_SWAP;
	cas.rkey = kKey;
	cas.remote_off = kCounterOff;
	cas.compare = 1015;
	cas.operand = 42;
	ASSERT_EQ(0, st_fetchop(net.eng(0), vp.a, &cas, 20));
	st_event ce = net.WaitCompletion(0, 20, ST_REQ_FETCHOP);
	ASSERT_EQ(ST_OK, ce.status) << Why();
	EXPECT_EQ(1015u, ce.value);

	// RTS/CTS write with completion data.
	ASSERT_EQ(0, st_post_recv(net.eng(1), vp.b, w.su_dst->mx, 3, send_len + 100, 30));
	ASSERT_EQ(0, st_send(net.eng(0), vp.a, w.su_src->mx, 1, send_len, true, 0xABCD, 31));
	st_event se = net.WaitCompletion(0, 31, ST_REQ_SEND);
	st_event re = net.WaitCompletion(1, 30, ST_REQ_RECV);
	ASSERT_EQ(ST_OK, se.status) << st_status_str(se.status) << "\n" << Why();
	ASSERT_EQ(ST_OK, re.status) << st_status_str(re.status) << "\n" << Why();
	EXPECT_EQ(send_len, re.len);
	EXPECT_EQ(0xABCDu, re.value);
	EXPECT_TRUE(SameBytes(w.su_src->bytes, 1, w.su_dst->bytes, 3, send_len));

	// RTR read.
	ASSERT_EQ(0, st_post_source(net.eng(1), vp.b, w.su_out->mx, 7, read_len, 40));
	ASSERT_EQ(0, st_read(net.eng(0), vp.a, w.sink->mx, 50000, read_len, 41));
	st_event rde = net.WaitCompletion(0, 41, ST_REQ_READ);
	ASSERT_EQ(ST_OK, rde.status) << st_status_str(rde.status) << "\n" << Why();
	EXPECT_EQ(read_len, rde.len);
	EXPECT_TRUE(SameBytes(w.su_out->bytes, 7, w.sink->bytes, 50000, read_len));
	st_event soe = net.WaitCompletion(1, 40, ST_REQ_SOURCE);
	EXPECT_EQ(ST_OK, soe.status) << st_status_str(soe.status) << "\n" << Why();

	// Request_State.
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 50));
	st_event ste = net.WaitEvent(0, ST_EV_STATE, 50);
	EXPECT_EQ(ST_OK, ste.status) << Why();
	EXPECT_EQ(net.cfg(1).slots, ste.slots);

	// Let the responders settle (kept FETCHOP results, trackers), then disconnect.
	net.RunUntilIdle();
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, vp.a).state) << Why();
	EXPECT_EQ(42u, Load64(w.mem->bytes, kCounterOff)) << "each FETCHOP applied exactly once";
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b)) << Why();
	const st_event *ca = net.FindEvent(0, ST_EV_CLOSED);
	const st_event *cb = net.FindEvent(1, ST_EV_CLOSED);
	ASSERT_NE(nullptr, ca);
	ASSERT_NE(nullptr, cb);
	EXPECT_EQ(ST_OK, ca->status) << st_status_str(ca->status);
	EXPECT_EQ(ST_OK, cb->status) << st_status_str(cb->status);
	net.RunUntilIdle();

	// Every ULP operation completed exactly once.
	for (uint64_t ctx : {2, 3, 10, 11, 12, 13, 14, 20, 31, 41})
		EXPECT_EQ(1u, CountCompletions(net, 0, ctx)) << ctx;
	for (uint64_t ctx : {30, 40})
		EXPECT_EQ(1u, CountCompletions(net, 1, ctx)) << ctx;
	EXPECT_EQ(0u, net.harness_errors());

	// The faults really happened, and the counters saw them.
	st_counters c = SumCounters(net);
	if (Drops(mode)) {
		EXPECT_GT(f.Dropped(), 0u);
		EXPECT_GT(c.retransmits, 0u) << "drops must be recovered by retransmission";
	}
	if (Dups(mode)) {
		EXPECT_GT(f.Duplicated(), 0u);
		EXPECT_GT(c.drops[ST_DROP_DUPLICATE], 0u) << "duplicates must be recognised and counted";
	}
	if (mode == Mode::kDisorder || mode == Mode::kStacked) {
		EXPECT_GT(f.Reordered(), 0u);
	}
	if (mode == Mode::kDisorder) {
		EXPECT_EQ(0u, c.timeouts);
	}
}

// Everything at once (slots, the PUT room, the CTS window and the id
// windows all busy together) through the same faults.  Sends and reads must
// still meet the receives and sources in the order they were issued.
//
// Not run with the every-7th drop: with this many operations timing out
// together the deterministic pattern can fall into step with the
// retransmission rounds and take the same STU of a PUT every time (A must
// repeat a whole PUT and cannot learn which STU is missing), which says
// nothing about the engine.
struct FaultsMixTest : FaultsTest {};

TEST_P(FaultsMixTest, ConcurrentMixCompletesByteExact)
{
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok()) << Why();
	World w = MakeWorld(net, seed + 50);
	std::vector<uint8_t> mem0 = w.mem->bytes;
	const uint64_t n_put = 6, put_len = 9000 + seed * 17, n_get = 6, get_len = 7000 + seed * 5;
	const uint64_t n_fop = 20, n_su = 3;
	auto send_len = [&](uint64_t i) { return 20000 + seed * 3 + i; };
	auto source_len = [&](uint64_t i) { return 15000 + seed + 10 * i; };
	for (uint64_t i = 0; i < n_put; i++) {
		st_rma r = Rma(w.src->mx, i * put_len, kKey, i * put_len, put_len);
		ASSERT_EQ(0, st_put(net.eng(0), vp.a, &r, 100 + i));
	}
	for (uint64_t i = 0; i < n_get; i++) {
		st_rma r = Rma(w.sink->mx, i * get_len, kKey, 100000 + i * get_len, get_len);
		ASSERT_EQ(0, st_get(net.eng(0), vp.a, &r, 200 + i));
	}
	for (uint64_t i = 0; i < n_fop; i++) {
		struct st_fetchop fo{};
		fo.fn = ST_FN_FETCH_INCREMENT;
		fo.rkey = kKey;
		fo.remote_off = kCounterOff;
		ASSERT_EQ(0, st_fetchop(net.eng(0), vp.a, &fo, 300 + i));
	}
	for (uint64_t i = 0; i < n_su; i++) {
		ASSERT_EQ(0, st_post_recv(net.eng(1), vp.b, w.su_dst->mx, i * 30000, 30000, 400 + i));
		ASSERT_EQ(0, st_send(net.eng(0), vp.a, w.su_src->mx, i * 30000, send_len(i), false, 0, 500 + i));
		ASSERT_EQ(0, st_post_source(net.eng(1), vp.b, w.su_out->mx, i * 20000, source_len(i), 600 + i));
		ASSERT_EQ(0, st_read(net.eng(0), vp.a, w.sink->mx, 100000 + i * 20000, 16000, 700 + i));
	}
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 800));

	auto ok = [&](int ep, uint64_t ctx, st_req_kind k) {
		st_event e = net.WaitCompletion(ep, ctx, k);
		EXPECT_EQ(ST_OK, e.status) << "ctx " << ctx << ": " << st_status_str(e.status) << " reason "
					   << e.reason;
		return e;
	};
	for (uint64_t i = 0; i < n_put; i++)
		ok(0, 100 + i, ST_REQ_PUT);
	for (uint64_t i = 0; i < n_get; i++)
		ok(0, 200 + i, ST_REQ_GET);
	std::set<uint64_t> olds;
	for (uint64_t i = 0; i < n_fop; i++)
		olds.insert(ok(0, 300 + i, ST_REQ_FETCHOP).value);
	for (uint64_t i = 0; i < n_su; i++) {
		EXPECT_EQ(send_len(i), ok(1, 400 + i, ST_REQ_RECV).len) << "receive " << i << " got another send";
		EXPECT_EQ(send_len(i), ok(0, 500 + i, ST_REQ_SEND).len);
		EXPECT_EQ(source_len(i), ok(0, 700 + i, ST_REQ_READ).len) << "read " << i << " got another source";
		EXPECT_EQ(source_len(i), ok(1, 600 + i, ST_REQ_SOURCE).len);
	}
	EXPECT_EQ(ST_OK, net.WaitEvent(0, ST_EV_STATE, 800).status);
	net.RunUntilIdle();
	if (HasFailure()) {
		ADD_FAILURE() << Why();
		return;
	}
	EXPECT_TRUE(SameBytes(w.src->bytes, 0, w.mem->bytes, 0, n_put * put_len));
	for (uint64_t i = 0; i < n_get; i++)
		EXPECT_TRUE(SameBytes(mem0, 100000 + i * get_len, w.sink->bytes, i * get_len, get_len)) << i;
	EXPECT_EQ(1000 + n_fop, Load64(w.mem->bytes, kCounterOff)) << "applied exactly once";
	EXPECT_EQ(n_fop, olds.size());
	EXPECT_EQ(1000u, *olds.begin());
	for (uint64_t i = 0; i < n_su; i++) {
		EXPECT_TRUE(SameBytes(w.su_src->bytes, i * 30000, w.su_dst->bytes, i * 30000, send_len(i))) << i;
		EXPECT_TRUE(SameBytes(w.su_out->bytes, i * 20000, w.sink->bytes, 100000 + i * 20000, source_len(i)))
			<< i;
	}
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, vp.a).state);
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b)) << Why();
	EXPECT_EQ(0u, net.harness_errors());
}

INSTANTIATE_TEST_SUITE_P(Faults, FaultsMixTest,
			 ::testing::Combine(::testing::Values(Mode::kDrop5pct, Mode::kDisorder,
							      Mode::kDup3rd, Mode::kStacked),
					    ::testing::Values(1, 2, 3)),
			 [](const ::testing::TestParamInfo<FaultParam> &i) {
				 return std::string(ModeName(std::get<0>(i.param))) + "_seed" +
					std::to_string(std::get<1>(i.param));
			 });

INSTANTIATE_TEST_SUITE_P(Faults, FaultsTest,
			 ::testing::Combine(::testing::Values(Mode::kDrop7th, Mode::kDrop5pct,
							      Mode::kDisorder, Mode::kDup3rd,
							      Mode::kStacked),
					    ::testing::Values(1, 2, 3)),
			 [](const ::testing::TestParamInfo<FaultParam> &i) {
				 return std::string(ModeName(std::get<0>(i.param))) + "_seed" +
					std::to_string(std::get<1>(i.param));
			 });

// ---- a dead network after connect ----------------------------------------------------------

enum class Op { kPutCached, kPutUncached, kGet, kFetchop, kSend, kRead, kState };

const char *OpName(Op o)
{
	switch (o) {
	case Op::kPutCached: return "PutCachedKey";
	case Op::kPutUncached: return "PutUncachedKey";
	case Op::kGet: return "Get";
	case Op::kFetchop: return "Fetchop";
	case Op::kSend: return "Send";
	case Op::kRead: return "Read";
	case Op::kState: return "State";
	}
	return "?";
}

void PrintTo(Op o, std::ostream *os) { *os << OpName(o); }

struct FaultsBlackholeTest : ::testing::TestWithParam<Op> {};

TEST_P(FaultsBlackholeTest, OperationTimesOutAndTheVcCloses)
{
	const Op op = GetParam();
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	World w = MakeWorld(net, 1);
	std::vector<uint8_t> sink0 = w.sink->bytes;
	if (op != Op::kPutUncached) {
		ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, kKey, 1));
		ASSERT_EQ(ST_OK, net.WaitEvent(0, ST_EV_REGION_EXPOSED, 1).status);
	}
	auto log = net.TapBoth(0, 1);
	net.Blackhole(0, 1);
	net.Blackhole(1, 0);
	const uint64_t ctx = 0xDEAD;
	st_req_kind kind = ST_REQ_NONE;
	st_rma r = Rma(w.src->mx, 0, kKey, 0, 10000);
	st_rma g = Rma(w.sink->mx, 0, kKey, 0, 10000);
	struct st_fetchop fo{};
	fo.fn = ST_FN_FETCH_INCREMENT;
	fo.rkey = kKey;
	fo.remote_off = kCounterOff;
	switch (op) {
	case Op::kPutCached:
	case Op::kPutUncached:
		kind = ST_REQ_PUT;
		ASSERT_EQ(0, st_put(net.eng(0), vp.a, &r, ctx));
		break;
	case Op::kGet:
		kind = ST_REQ_GET;
		ASSERT_EQ(0, st_get(net.eng(0), vp.a, &g, ctx));
		break;
	case Op::kFetchop:
		kind = ST_REQ_FETCHOP;
		ASSERT_EQ(0, st_fetchop(net.eng(0), vp.a, &fo, ctx));
		break;
	case Op::kSend:
		kind = ST_REQ_SEND;
		ASSERT_EQ(0, st_send(net.eng(0), vp.a, w.su_src->mx, 0, 10000, false, 0, ctx));
		break;
	case Op::kRead:
		kind = ST_REQ_READ;
		ASSERT_EQ(0, st_read(net.eng(0), vp.a, w.sink->mx, 0, 10000, ctx));
		break;
	case Op::kState:
		ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, ctx));
		break;
	}
	const st_config &c = net.cfg(0);
	const uint64_t budget = (c.retries + 2) * c.op_timeout_ns;
	st_event done;
	if (op == Op::kState) {
		// Request_State's completion: an ST_EV_STATE or an ST_EV_COMPLETE(STATE).
		done = net.WaitEvent(0, [&](const st_event &e) {
			return e.user_ctx == ctx && (e.type == ST_EV_STATE || e.type == ST_EV_COMPLETE);
		}, budget);
	} else {
		done = net.WaitCompletion(0, ctx, kind, budget);
	}
	EXPECT_EQ(ST_ERR_TIMEOUT, done.status) << st_status_str(done.status) << "\n" << net.DumpEvents(0)
					       << log->Trace();
	st_event closed = net.WaitEvent(0, [&](const st_event &e) {
		return e.type == ST_EV_CLOSED && e.vc == vp.a;
	}, budget);
	EXPECT_EQ(ST_ERR_TIMEOUT, closed.status) << st_status_str(closed.status);
	// It gave up after the configured retries, no sooner and no later.
	uint64_t sent = 0;
	for (const auto &rec : log->Filter(-1, 0, 1))
		sent += rec.h.op != ST_OP_DATA || (rec.h.flags & ST_FLAG_LAST);  // a PUT ends with Last
	EXPECT_EQ(c.retries + 1u, sent) << "one request and its retries\n" << log->Trace();
	EXPECT_GE(net.Counters(0).timeouts, 1u);
	// The VC is gone: its handle is refused, and nothing is left ticking.
	VcInfo info{};
	int rc = st_vc_info(net.eng(0), vp.a, &info);
	EXPECT_TRUE(rc == -ENOENT || info.state != ST_VC_OPEN) << rc;
	EXPECT_LT(st_put(net.eng(0), vp.a, &r, 1), 0);
	net.RunUntilIdle();
	EXPECT_EQ(1u, CountCompletions(net, 0, ctx) + net.CountEvents(0, [&](const st_event &e) {
			  return e.type == ST_EV_STATE && e.user_ctx == ctx;
		  }));
	EXPECT_EQ(1u, net.CountEvents(0, ST_EV_CLOSED));
	EXPECT_TRUE(SameBytes(sink0, 0, w.sink->bytes, 0, sink0.size()));
}

INSTANTIATE_TEST_SUITE_P(Faults, FaultsBlackholeTest,
			 ::testing::Values(Op::kPutCached, Op::kPutUncached, Op::kGet, Op::kFetchop,
					   Op::kSend, Op::kRead, Op::kState),
			 [](const ::testing::TestParamInfo<Op> &i) { return std::string(OpName(i.param)); });

}  // namespace
}  // namespace sttest
