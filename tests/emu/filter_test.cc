// SPDX-License-Identifier: MIT
// Fault layers: spec parsing, exact counts of seeded layers (replicated with
// gsn_rng), order of a stack, per-direction selection, the pcap tap.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

extern "C" {
#include "cable.h"
#include "filter.h"
#include "loop.h"
}

namespace {

using Frame = std::vector<uint8_t>;

// A cable end that records what is sent; the test delivers "received" frames.
struct FakeState {
	std::vector<Frame> sent;
	int result = 0;
	bool closed = false;
};

struct FakeCable {
	gsn_cable c;
	FakeState *st;
};

int fake_send(gsn_cable *c, const uint8_t *f, size_t len)
{
	auto *x = reinterpret_cast<FakeCable *>(c);
	if (x->st->result)
		return x->st->result;
	x->st->sent.emplace_back(f, f + len);
	return 0;
}

void fake_close(gsn_cable *c)
{
	reinterpret_cast<FakeCable *>(c)->st->closed = true;
}

const gsn_cable_ops fake_ops = {"fake", fake_send, fake_close};

struct Rig {
	gsn_loop *loop = nullptr;
	FakeState st;
	FakeCable fake{};
	gsn_cable *top;
	std::vector<Frame> up;
	std::string path;

	Rig()
	{
		EXPECT_EQ(gsn_loop_new(&loop, nullptr), 0);
		fake.c.ops = &fake_ops;
		fake.c.mtu = GSN_CABLE_FRAME_MAX;
		fake.st = &st;
		top = &fake.c;
		gsn_cable_set_rx(top, rx, this);
	}
	~Rig()
	{
		gsn_cable_close(top);
		gsn_loop_free(loop);
		if (!path.empty())
			unlink(path.c_str());
	}
	static void rx(void *arg, const uint8_t *f, size_t len)
	{
		static_cast<Rig *>(arg)->up.emplace_back(f, f + len);
	}
	int push(const std::string &spec)
	{
		return gsn_filter_push(loop, &top, spec.c_str(), nullptr);
	}
	void send(const Frame &f) { EXPECT_EQ(gsn_cable_send(top, f.data(), f.size()), 0); }
	void receive(const Frame &f) { gsn_cable_deliver(&fake.c, f.data(), f.size()); }
};

// Frame k: a header-sized prefix and n micropackets, bytes derived from k.
Frame frame(uint32_t k, size_t mpkts = 2)
{
	Frame f(24 + 40 * mpkts);
	for (size_t i = 0; i < f.size(); i++)
		f[i] = (uint8_t)(k * 13 + i);
	memcpy(f.data(), &k, sizeof(k));
	return f;
}

uint32_t id_of(const Frame &f)
{
	uint32_t k;
	memcpy(&k, f.data(), sizeof(k));
	return k;
}

std::vector<uint32_t> ids(const std::vector<Frame> &v)
{
	std::vector<uint32_t> r;
	for (auto &f : v)
		r.push_back(id_of(f));
	return r;
}

std::string err_of(const char *spec)
{
	gsn_filter_conf c[GSN_FILTER_LAYERS_MAX];
	size_t n;
	char err[160] = "";
	int r = gsn_filter_parse(spec, c, GSN_FILTER_LAYERS_MAX, &n, err, sizeof(err));
	return r == 0 ? "ok" : err;
}

TEST(FilterSpec, ParsesLayersAndOptions)
{
	gsn_filter_conf c[GSN_FILTER_LAYERS_MAX];
	size_t n;
	char err[160];
	ASSERT_EQ(gsn_filter_parse("drop=0.05,seed=3+disorder=0.1,after=4,hold-us=50+tap=/tmp/x.pcap"
				   "+dup-nth=7,dir=rx+corrupt=1e-4,unit=mpkt,bits=3,header=on",
				   c, GSN_FILTER_LAYERS_MAX, &n, err, sizeof(err)),
		  0)
		<< err;
	ASSERT_EQ(n, 5u);
	EXPECT_EQ(c[0].kind, GSN_FILTER_DROP);
	EXPECT_DOUBLE_EQ(c[0].rate, 0.05);
	EXPECT_EQ(c[0].seed, 3u);
	EXPECT_EQ(c[0].dirs, GSN_FILTER_DIR_TX | GSN_FILTER_DIR_RX);
	EXPECT_EQ(c[1].kind, GSN_FILTER_DISORDER);
	EXPECT_EQ(c[1].after, 4u);
	EXPECT_EQ(c[1].hold_ns, 50000u);
	EXPECT_EQ(c[1].seed, 1u);
	EXPECT_EQ(c[2].kind, GSN_FILTER_TAP);
	EXPECT_STREQ(c[2].path, "/tmp/x.pcap");
	EXPECT_EQ(c[3].kind, GSN_FILTER_DUP);
	EXPECT_EQ(c[3].nth, 7u);
	EXPECT_EQ(c[3].dirs, GSN_FILTER_DIR_RX);
	EXPECT_EQ(c[4].kind, GSN_FILTER_CORRUPT);
	EXPECT_DOUBLE_EQ(c[4].rate, 1e-4);
	EXPECT_TRUE(c[4].per_mpkt);
	EXPECT_EQ(c[4].bits, 3u);
	EXPECT_TRUE(c[4].header);
	EXPECT_EQ(err_of("drop-nth=10"), "ok");
	EXPECT_EQ(err_of("dup=0.01,dir=tx"), "ok");
}

TEST(FilterSpec, RejectsWithAMessage)
{
	EXPECT_EQ(err_of(""), "layer 0: empty filter spec");
	EXPECT_EQ(err_of("drop=1.5"), "layer 1: drop: want a probability 0..1");
	EXPECT_EQ(err_of("drop=nan"), "layer 1: drop: want a probability 0..1");
	EXPECT_EQ(err_of("drop=0.1+bogus=1"), "layer 2: unknown kind 'bogus'");
	EXPECT_EQ(err_of("drop-nth=0"), "layer 1: drop-nth: want 1..1e9");
	EXPECT_EQ(err_of("drop=0.1,after=3"), "layer 1: unknown option 'after' for drop");
	EXPECT_EQ(err_of("drop=0.1,dir=up"), "layer 1: dir: want tx, rx or both");
	EXPECT_EQ(err_of("drop"), "layer 1: 'drop' needs a value");
	EXPECT_EQ(err_of("drop=0.1+"), "layer 0: empty layer or item");
	EXPECT_EQ(err_of("drop=0.1,,seed=1"), "layer 0: empty layer or item");
	EXPECT_EQ(err_of("corrupt=0.1,bits=65"), "layer 1: bits: want 1..64");
	EXPECT_EQ(err_of("tap="), "layer 1: tap: bad path");
	EXPECT_EQ(err_of("seed=3"), "layer 1: unknown kind 'seed'");
	std::string many;
	for (int i = 0; i < 17; i++)
		many += std::string(i ? "+" : "") + "drop=0";
	EXPECT_EQ(err_of(many.c_str()), "layer 17: too many layers");
	std::string huge(GSN_FILTER_SPEC_MAX + 1, 'x');
	EXPECT_NE(err_of(huge.c_str()), "ok");
}

TEST(FilterPush, BadSpecOrTapLeavesTheStackUnchanged)
{
	Rig r;
	gsn_cable *before = r.top;
	EXPECT_EQ(r.push("drop=0.1+nope=1"), -EINVAL);
	EXPECT_EQ(r.top, before);
	EXPECT_EQ(r.push("drop=0.1+tap=/nonexistent-dir/x.pcap"), -ENOENT);
	EXPECT_EQ(r.top, before);
	EXPECT_EQ(gsn_filter_get_stats(r.top), nullptr);
}

TEST(FilterDrop, EveryNthExactBothDirections)
{
	Rig r;
	ASSERT_EQ(r.push("drop-nth=10"), 0);
	for (uint32_t k = 1; k <= 100; k++) {
		r.send(frame(k));
		r.receive(frame(k));
	}
	EXPECT_EQ(r.st.sent.size(), 90u);
	EXPECT_EQ(r.up.size(), 90u);
	for (auto &f : r.st.sent)
		EXPECT_NE(id_of(f) % 10, 0u);
	const gsn_filter_stats *s = gsn_filter_get_stats(r.top);
	ASSERT_NE(s, nullptr);
	EXPECT_EQ(s->frames, 200u);
	EXPECT_EQ(s->dropped, 20u);
}

TEST(FilterDrop, SeededRateMatchesTheDocumentedGenerator)
{
	Rig r;
	ASSERT_EQ(r.push("drop=0.05,seed=3"), 0);
	gsn_rng tx, rx;
	gsn_rng_seed(&tx, 3);
	gsn_rng_seed(&rx, ~3ull);
	std::vector<uint32_t> want_tx, want_rx;
	for (uint32_t k = 0; k < 2000; k++) {
		if (gsn_rng_unit(&tx) >= 0.05)
			want_tx.push_back(k);
		if (gsn_rng_unit(&rx) >= 0.05)
			want_rx.push_back(k);
		r.send(frame(k));
		r.receive(frame(k));
	}
	EXPECT_EQ(ids(r.st.sent), want_tx);
	EXPECT_EQ(ids(r.up), want_rx);
	EXPECT_EQ(gsn_filter_get_stats(r.top)->dropped, 4000 - want_tx.size() - want_rx.size());
	// and it is a 5% rate
	EXPECT_NEAR((double)(2000 - want_tx.size()) / 2000, 0.05, 0.015);
}

TEST(FilterDup, NthAndRate)
{
	Rig r;
	ASSERT_EQ(r.push("dup-nth=4,dir=tx+dup=0.25,seed=9,dir=rx"), 0);
	gsn_rng rx;
	gsn_rng_seed(&rx, ~9ull);
	std::vector<uint32_t> want_rx;
	for (uint32_t k = 1; k <= 40; k++) {
		r.send(frame(k));
		r.receive(frame(k));
		want_rx.push_back(k);
		if (gsn_rng_unit(&rx) < 0.25)
			want_rx.push_back(k);
	}
	std::vector<uint32_t> want_tx;
	for (uint32_t k = 1; k <= 40; k++) {
		want_tx.push_back(k);
		if (k % 4 == 0)
			want_tx.push_back(k);
	}
	EXPECT_EQ(ids(r.st.sent), want_tx);
	EXPECT_EQ(ids(r.up), want_rx);
	EXPECT_EQ(gsn_filter_get_stats(r.top)->duplicated, 10u);
	EXPECT_EQ(gsn_filter_get_stats(r.top->lower)->duplicated, want_rx.size() - 40);
	// each layer saw only its direction
	EXPECT_EQ(gsn_filter_get_stats(r.top)->frames, 40u);
	EXPECT_EQ(gsn_filter_get_stats(r.top->lower)->frames, 40u);
}

// The documented disorder algorithm, replayed.
std::vector<uint32_t> disorder_model(uint64_t seed, double p, unsigned after, uint32_t n,
				     uint64_t *held, uint64_t *reordered)
{
	gsn_rng g;
	gsn_rng_seed(&g, seed);
	std::vector<uint32_t> out;
	bool holding = false;
	uint32_t h = 0;
	unsigned passed = 0;
	*held = *reordered = 0;
	for (uint32_t k = 0; k < n; k++) {
		if (!holding) {
			if (gsn_rng_unit(&g) < p) {
				holding = true;
				h = k;
				passed = 0;
				(*held)++;
			} else {
				out.push_back(k);
			}
			continue;
		}
		out.push_back(k);
		if (++passed >= after) {
			out.push_back(h);
			holding = false;
			(*reordered)++;
		}
	}
	return out;
}

TEST(FilterDisorder, SeededReorderingIsExact)
{
	Rig r;
	ASSERT_EQ(r.push("disorder=0.1,after=3,seed=5,hold-us=10000000"), 0);
	for (uint32_t k = 0; k < 1000; k++)
		r.send(frame(k));
	uint64_t held, reordered;
	auto want = disorder_model(5, 0.1, 3, 1000, &held, &reordered);
	std::vector<uint32_t> got = ids(r.st.sent);
	// a frame still held at the end is not out yet
	EXPECT_EQ(got, std::vector<uint32_t>(want.begin(), want.begin() + got.size()));
	EXPECT_EQ(got.size(), want.size());
	const gsn_filter_stats *s = gsn_filter_get_stats(r.top);
	EXPECT_EQ(s->held, held);
	EXPECT_EQ(s->reordered, reordered);
	EXPECT_GT(reordered, 50u);
}

TEST(FilterDisorder, TimerReleasesAHeldFrame)
{
	Rig r;
	ASSERT_EQ(r.push("disorder=1,hold-us=2000,dir=rx"), 0);
	r.receive(frame(1));
	EXPECT_TRUE(r.up.empty());
	uint64_t end = gsn_clock_ns() + 1000000000;
	while (r.up.empty() && gsn_clock_ns() < end)
		gsn_loop_run_once(r.loop, 5000000);
	ASSERT_EQ(r.up.size(), 1u);
	EXPECT_EQ(r.up[0], frame(1));
	EXPECT_EQ(gsn_filter_get_stats(r.top)->released_late, 1u);
	r.send(frame(2)); // tx untouched
	EXPECT_EQ(r.st.sent.size(), 1u);
}

int bit_diff(const Frame &a, const Frame &b, size_t from = 0, size_t to = SIZE_MAX)
{
	int n = 0;
	for (size_t i = from; i < a.size() && i < to; i++)
		n += __builtin_popcount(a[i] ^ b[i]);
	return n;
}

TEST(FilterCorrupt, FlipsOneBitOutsideTheHeader)
{
	Rig r;
	ASSERT_EQ(r.push("corrupt=1"), 0);
	for (uint32_t k = 0; k < 200; k++) {
		Frame f = frame(k, 3);
		r.send(f);
		ASSERT_EQ(r.st.sent.back().size(), f.size());
		EXPECT_EQ(bit_diff(r.st.sent.back(), f, 0, 24), 0);
		EXPECT_EQ(bit_diff(r.st.sent.back(), f), 1);
	}
	EXPECT_EQ(gsn_filter_get_stats(r.top)->corrupted, 200u);
}

TEST(FilterCorrupt, PerMicropacketSeededCount)
{
	Rig r;
	ASSERT_EQ(r.push("corrupt=0.3,unit=mpkt,seed=11,bits=2"), 0);
	gsn_rng g;
	gsn_rng_seed(&g, 11);
	uint64_t want = 0;
	for (uint32_t k = 0; k < 300; k++) {
		Frame f = frame(k, 4);
		unsigned hits = 0;
		bool mp_hit[4];
		for (int m = 0; m < 4; m++) {
			mp_hit[m] = gsn_rng_unit(&g) < 0.3;
			if (mp_hit[m]) {
				hits++;
				gsn_rng_next(&g); // the two bit positions
				gsn_rng_next(&g);
			}
		}
		want += hits;
		r.send(f);
		const Frame &out = r.st.sent.back();
		EXPECT_EQ(bit_diff(out, f, 0, 24), 0);
		for (int m = 0; m < 4; m++) {
			if (!mp_hit[m]) {
				EXPECT_EQ(bit_diff(out, f, 24 + 40 * m, 64 + 40 * m), 0) << k << " " << m;
			}
		}
	}
	EXPECT_EQ(gsn_filter_get_stats(r.top)->corrupted, want);
}

std::vector<uint8_t> slurp(const std::string &path)
{
	std::vector<uint8_t> v;
	FILE *f = fopen(path.c_str(), "rb");
	if (!f)
		return v;
	uint8_t buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		v.insert(v.end(), buf, buf + n);
	fclose(f);
	return v;
}

uint32_t u32(const std::vector<uint8_t> &v, size_t off)
{
	uint32_t x;
	memcpy(&x, v.data() + off, 4);
	return x;
}

TEST(FilterTap, PcapHeaderAndRecordsParseBack)
{
	Rig r;
	r.path = "/tmp/gsn-filter-test-" + std::to_string(getpid()) + ".pcap";
	// the tap is below the drop: it records what crosses the cable
	ASSERT_EQ(r.push("drop-nth=2,dir=tx+tap=" + r.path), 0);
	std::vector<Frame> want;
	for (uint32_t k = 1; k <= 4; k++) {
		r.send(frame(k, k));
		if (k % 2)
			want.push_back(frame(k, k));
	}
	r.receive(frame(100, 0));
	want.push_back(frame(100, 0));
	EXPECT_EQ(gsn_filter_get_stats(r.top->lower)->tapped, 3u);
	char stats[1024];
	gsn_filter_stats_format(r.top, "port0.", stats, sizeof(stats));
	EXPECT_NE(strstr(stats, "port0.filter.0.drop.dropped=2\n"), nullptr) << stats;
	EXPECT_NE(strstr(stats, "port0.filter.1.tap.tapped=3\n"), nullptr) << stats;

	std::vector<uint8_t> v = slurp(r.path);
	ASSERT_GE(v.size(), 24u);
	EXPECT_EQ(u32(v, 0), 0xa1b2c3d4u);
	uint16_t ver[2];
	memcpy(ver, v.data() + 4, 4);
	EXPECT_EQ(ver[0], 2);
	EXPECT_EQ(ver[1], 4);
	EXPECT_EQ(u32(v, 16), GSN_CABLE_FRAME_MAX); // snaplen
	EXPECT_EQ(u32(v, 20), 147u);                // LINKTYPE_USER0
	size_t off = 24;
	uint32_t now = (uint32_t)time(nullptr);
	for (auto &f : want) {
		ASSERT_LE(off + 16, v.size());
		EXPECT_LE(u32(v, off), now);
		EXPECT_GE(u32(v, off), now - 60);
		EXPECT_LT(u32(v, off + 4), 1000000u);
		ASSERT_EQ(u32(v, off + 8), f.size());
		EXPECT_EQ(u32(v, off + 12), f.size());
		ASSERT_LE(off + 16 + f.size(), v.size());
		EXPECT_EQ(Frame(v.begin() + (long)off + 16, v.begin() + (long)(off + 16 + f.size())), f);
		off += 16 + f.size();
	}
	EXPECT_EQ(off, v.size());
	// tcpdump, when installed, reads it too
	if (access("/usr/bin/tcpdump", X_OK) == 0 || access("/usr/sbin/tcpdump", X_OK) == 0) {
		std::string cmd = "tcpdump -r " + r.path + " 2>/dev/null | grep -cE '^[0-9]+:[0-9]+:'";
		FILE *p = popen(cmd.c_str(), "r");
		ASSERT_NE(p, nullptr);
		int lines = 0;
		EXPECT_EQ(fscanf(p, "%d", &lines), 1);
		pclose(p);
		EXPECT_EQ(lines, 3);
	}
}

TEST(FilterStack, ClosingTheTopClosesTheCable)
{
	FakeState st;
	{
		gsn_loop *loop;
		ASSERT_EQ(gsn_loop_new(&loop, nullptr), 0);
		FakeCable fake{};
		fake.c.ops = &fake_ops;
		fake.c.mtu = 1000;
		fake.st = &st;
		gsn_cable *top = &fake.c;
		ASSERT_EQ(gsn_filter_push(loop, &top, "drop=0+dup=0", nullptr), 0);
		ASSERT_EQ(gsn_filter_push(loop, &top, "disorder=0", nullptr), 0);
		EXPECT_EQ(top->mtu, 1000u);
		EXPECT_EQ(gsn_cable_bottom(top), &fake.c);
		EXPECT_EQ(gsn_filter_get_conf(top)->kind, GSN_FILTER_DISORDER);
		EXPECT_EQ(gsn_filter_get_conf(top->lower)->kind, GSN_FILTER_DROP);
		Frame big(1001);
		EXPECT_EQ(gsn_cable_send(top, big.data(), big.size()), -EMSGSIZE);
		st.result = -EAGAIN; // backpressure passes through the layers
		Frame f = frame(1);
		EXPECT_EQ(gsn_cable_send(top, f.data(), f.size()), -EAGAIN);
		gsn_cable_close(top);
		gsn_loop_free(loop);
	}
	EXPECT_TRUE(st.closed);
}

} // namespace
