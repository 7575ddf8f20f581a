// SPDX-License-Identifier: MIT
//
// The link's run paths against their one-micropacket equivalents:
// gsn_link_send_run() against gsn_link_send(), gsn_link_send_back() against
// gsn_link_send() + gsn_link_consumed(), and the rx_run upcall against
// rx_mpkt.  Two runs of the same scenario, one per path, must put the same
// bytes on the cable and deliver the same micropackets, with loss and
// corruption on the cable too (retransmission, bad LCRCs mid-frame).
//
// The harness is a pair of links joined by two frame FIFOs with a virtual
// clock, as tests/emu/link_harness.h, kept small because each test needs
// to choose the upcalls a link is created with.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <vector>

#include "link.h"

namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint64_t kMs = 1000000ull;

// What one end does with what it receives.
enum class Rx {
	kEach,       // rx_mpkt: record, consume
	kRun,        // rx_run: record, consume
	kReflectEach, // rx_mpkt: gsn_link_send() back, then gsn_link_consumed()
	kReflectRun, // rx_run: gsn_link_send_back()
};

struct Got {
	uint64_t word; // the sender's part: VC, TYPE, TAIL, ERROR, ECRC
	Bytes data;
	bool operator==(const Got &o) const { return word == o.word && data == o.data; }
};

constexpr uint64_t kSenderBits = 0xff000000ffff0000ull;

struct Net;

struct End {
	Net *net = nullptr;
	gsn_link *link = nullptr;
	Rx rx = Rx::kEach;
	std::vector<Bytes> sent;  // every frame, in order
	std::deque<Bytes> queue;  // frames on their way to the other end
	std::vector<Got> got;
	unsigned refused = 0;     // reflect: sends the link refused
	bool consume_refused = true; // reflect: return their credits at once
	unsigned tx_ready = 0;
};

struct Net {
	uint64_t now = 1000 * kMs;
	End a, b;
	unsigned drop_every = 0;    // a->b: every Nth frame lost
	unsigned corrupt_every = 0; // a->b: every Nth frame has a bad micropacket
	unsigned frames_ab = 0;

	Net(const gsn_link_config &ca, const gsn_link_config &cb, Rx rx_b)
	{
		a.net = b.net = this;
		b.rx = rx_b;
		Create(a, ca);
		Create(b, cb);
	}
	~Net()
	{
		gsn_link_destroy(a.link);
		gsn_link_destroy(b.link);
	}
	Net(const Net &) = delete;
	Net &operator=(const Net &) = delete;

	End &Peer(End &e) { return &e == &a ? b : a; }

	static int TxFrame(void *ctx, const uint8_t *f, size_t n)
	{
		End *e = static_cast<End *>(ctx);
		Bytes fr(f, f + n);

		e->sent.push_back(fr);
		Net *net = e->net;
		if (e == &net->a) {
			net->frames_ab++;
			if (net->drop_every && net->frames_ab % net->drop_every == 0)
				return 0;
			if (net->corrupt_every && net->frames_ab % net->corrupt_every == 0 &&
			    n >= 24 + 2 * 40)
				fr[24 + 40 + 20] ^= 0x04; // data of the second micropacket
		}
		net->Peer(*e).queue.push_back(fr);
		return 0;
	}

	static void Record(End *e, const uint8_t *mp)
	{
		e->got.push_back({gsn_mpkt_ctl_word(mp) & kSenderBits,
				  Bytes(mp + GSN_MPKT_CTL_LEN, mp + GSN_MPKT_LEN)});
	}

	static void RxMpkt(void *ctx, const gsn_mpkt_ctl *c, const uint8_t d[32])
	{
		End *e = static_cast<End *>(ctx);
		uint8_t mp[GSN_MPKT_LEN];

		gsn_mpkt_encode(c, d, mp);
		if (e->rx == Rx::kReflectEach) {
			if (gsn_link_send(e->link, c, d))
				e->refused++;
			gsn_link_consumed(e->link, c->vc, 1);
			return;
		}
		Record(e, mp);
		gsn_link_consumed(e->link, c->vc, 1);
	}

	static void RxRun(void *ctx, const uint8_t *mpkts, size_t n)
	{
		End *e = static_cast<End *>(ctx);

		if (e->rx == Rx::kReflectRun) {
			while (n) {
				size_t m = 1;
				while (m < n && (mpkts[m * GSN_MPKT_LEN] >> 6) == (mpkts[0] >> 6))
					m++;
				size_t sent = 0;
				while (sent < m) {
					int k = gsn_link_send_back(e->link, mpkts + sent * GSN_MPKT_LEN,
								   m - sent);
					if (k <= 0)
						break;
					sent += static_cast<size_t>(k);
				}
				e->refused += static_cast<unsigned>(m - sent);
				if (e->consume_refused)
					gsn_link_consumed(e->link, mpkts[0] >> 6,
							  static_cast<unsigned>(m - sent));
				mpkts += m * GSN_MPKT_LEN;
				n -= m;
			}
			return;
		}
		for (size_t i = 0; i < n; i++) {
			const uint8_t *mp = mpkts + i * GSN_MPKT_LEN;

			Record(e, mp);
			gsn_link_consumed(e->link, mp[0] >> 6, 1);
		}
	}

	static void TxReady(void *ctx, unsigned) { static_cast<End *>(ctx)->tx_ready++; }
	static uint64_t Now(void *ctx) { return static_cast<End *>(ctx)->net->now; }

	void Create(End &e, const gsn_link_config &cfg)
	{
		gsn_link_ops ops{};
		ops.tx_frame = TxFrame;
		if (e.rx == Rx::kRun || e.rx == Rx::kReflectRun)
			ops.rx_run = RxRun;
		else
			ops.rx_mpkt = RxMpkt;
		ops.tx_ready = TxReady;
		ops.now_ns = Now;
		ops.ctx = &e;
		ASSERT_EQ(gsn_link_create(&cfg, &ops, &e.link), 0);
	}

	// Hands every frame on its way over, flushing both ends, until the
	// cable is quiet; then lets virtual time run to the next deadline, up
	// to max_ns.  Stops early when done() holds.
	void Run(uint64_t max_ns, const std::function<bool()> &done = nullptr)
	{
		uint64_t until = now + max_ns;

		for (;;) {
			gsn_link_flush(a.link);
			gsn_link_flush(b.link);
			bool moved = false;
			for (End *e : {&a, &b}) {
				if (e->queue.empty())
					continue;
				Bytes fr = e->queue.front();
				e->queue.pop_front();
				gsn_link_input_frame(e->link, fr.data(), fr.size());
				moved = true;
			}
			if (done && done())
				return;
			if (moved)
				continue;
			uint64_t t = std::min(gsn_link_next_deadline(a.link),
					      gsn_link_next_deadline(b.link));
			if (t == UINT64_MAX || t > until)
				return;
			now = std::max(now, t);
			gsn_link_tick(a.link);
			gsn_link_tick(b.link);
		}
	}

	void BringUp()
	{
		ASSERT_EQ(gsn_link_start(a.link), 0);
		ASSERT_EQ(gsn_link_start(b.link), 0);
		Run(100 * kMs, [&] {
			return gsn_link_state(a.link) == GSN_LINK_UP &&
			       gsn_link_state(b.link) == GSN_LINK_UP;
		});
		ASSERT_EQ(gsn_link_state(a.link), GSN_LINK_UP);
		ASSERT_EQ(gsn_link_state(b.link), GSN_LINK_UP);
		Run(0); // the handshake's last frames
		ASSERT_TRUE(a.queue.empty() && b.queue.empty());
	}
};

gsn_link_config Cfg(uint32_t incarnation, size_t frame_max, uint32_t credits, uint32_t window)
{
	gsn_link_config c;

	gsn_link_config_default(&c);
	c.incarnation = incarnation;
	c.frame_max = frame_max;
	for (auto &cr : c.rx_credits)
		cr = credits;
	c.window = window;
	return c;
}

// The i-th micropacket of a test stream: VC, TYPE, flags and data all vary.
struct Item {
	unsigned vc;
	uint64_t word;
	uint8_t data[GSN_MPKT_DATA];
};

Item MakeItem(size_t i, unsigned nvc)
{
	Item it{};
	gsn_mpkt_ctl c{};

	it.vc = static_cast<unsigned>(i / 7 % nvc);
	c.vc = static_cast<uint8_t>(it.vc);
	c.type = i % 11 == 0 ? GSN_MPKT_T_HEADER : i % 23 == 5 ? GSN_MPKT_T_ADMIN : GSN_MPKT_T_DATA;
	c.tail = i % 11 == 10;
	c.error = i % 31 == 3;
	c.ecrc = static_cast<uint16_t>(i * 40503u);
	it.word = gsn_mpkt_ctl_pack(&c);
	for (size_t k = 0; k < GSN_MPKT_DATA; k++)
		it.data[k] = static_cast<uint8_t>(i * 7 + k);
	return it;
}

Got Expect(const Item &it)
{
	return {it.word & kSenderBits, Bytes(it.data, it.data + GSN_MPKT_DATA)};
}

// Sends count stream micropackets from a: one at a time, or in runs of
// up to `run` on one VC.  On a refusal the cable runs until the link says
// tx_ready, as an element would.
void SendStream(Net &net, size_t count, unsigned nvc, size_t run)
{
	size_t i = 0;
	unsigned stalls = 0;

	while (i < count && stalls < 1000) {
		Item it = MakeItem(i, nvc);
		int rc;

		if (!run) {
			gsn_mpkt_ctl c;
			gsn_mpkt_ctl_unpack(it.word, &c);
			rc = gsn_link_send(net.a.link, &c, it.data) ? -1 : 1;
		} else {
			uint64_t words[64];
			uint8_t data[64 * GSN_MPKT_DATA];
			size_t n = 0;

			while (n < run && i + n < count && MakeItem(i + n, nvc).vc == it.vc) {
				Item x = MakeItem(i + n, nvc);
				words[n] = x.word;
				memcpy(data + n * GSN_MPKT_DATA, x.data, GSN_MPKT_DATA);
				n++;
			}
			rc = gsn_link_send_run(net.a.link, it.vc, words, data, static_cast<unsigned>(n));
		}
		if (rc > 0) {
			i += static_cast<size_t>(rc);
			continue;
		}
		unsigned before = net.a.tx_ready;
		net.Run(500 * kMs, [&] { return net.a.tx_ready != before; });
		stalls++;
	}
	net.Run(2000 * kMs);
	ASSERT_EQ(i, count);
}

} // namespace

// Same scenario, one path each: the frames on the cable in both directions
// are byte for byte the same.
TEST(LinkRun, SendRunPutsTheSameBytesOnTheCableAsSend)
{
	// small frames and credits: frames fill, sends are refused and resumed
	gsn_link_config ca = Cfg(0x1111, 24 + 40 * 9, 64, 1024);
	gsn_link_config cb = Cfg(0x2222, 24 + 40 * 9, 40, 1024);
	Net one(ca, cb, Rx::kEach), many(ca, cb, Rx::kEach);

	one.BringUp();
	many.BringUp();
	SendStream(one, 1500, 3, 0);
	SendStream(many, 1500, 3, 37);
	EXPECT_EQ(one.a.sent, many.a.sent);
	EXPECT_EQ(one.b.sent, many.b.sent);
	ASSERT_EQ(many.b.got.size(), 1500u);
	for (size_t i = 0; i < 1500; i++)
		ASSERT_EQ(many.b.got[i], Expect(MakeItem(i, 3))) << i;
	struct gsn_link_stats s1, s2;
	gsn_link_stats(one.a.link, &s1);
	gsn_link_stats(many.a.link, &s2);
	EXPECT_EQ(s1.seq_sent, s2.seq_sent);
	EXPECT_EQ(s1.eagain_credit, s2.eagain_credit);
	EXPECT_EQ(s1.eagain_window, s2.eagain_window);
	EXPECT_GT(s2.eagain_credit, 0u);
}

TEST(LinkRun, SendRunRetransmitsLikeSendUnderLoss)
{
	gsn_link_config ca = Cfg(0x3333, 24 + 40 * 16, 256, 128);
	gsn_link_config cb = Cfg(0x4444, 24 + 40 * 16, 256, 128);
	Net one(ca, cb, Rx::kEach), many(ca, cb, Rx::kEach);

	for (Net *n : {&one, &many}) {
		n->BringUp();
		n->drop_every = 5;
		n->corrupt_every = 7;
	}
	SendStream(one, 2000, 2, 0);
	SendStream(many, 2000, 2, 50);
	EXPECT_EQ(one.a.sent, many.a.sent);
	EXPECT_EQ(one.b.sent, many.b.sent);
	ASSERT_EQ(many.b.got.size(), 2000u);
	for (size_t i = 0; i < 2000; i++)
		ASSERT_EQ(many.b.got[i], Expect(MakeItem(i, 2))) << i;
	struct gsn_link_stats sa, sb;
	gsn_link_stats(many.a.link, &sa);
	gsn_link_stats(many.b.link, &sb);
	EXPECT_GT(sa.retx_mpkts, 0u);
	EXPECT_GT(sb.drops[GSN_LINK_DROP_LCRC], 0u);
}

TEST(LinkRun, SendRunStopsWhereSendWouldRefuse)
{
	Net net(Cfg(0x5555, GSN_LINK_DEFAULT_FRAME_MAX, 1024, 1024),
		Cfg(0x6666, GSN_LINK_DEFAULT_FRAME_MAX, 10, 1024), Rx::kEach);
	uint64_t words[20];
	uint8_t data[20 * GSN_MPKT_DATA] = {0};

	net.BringUp();
	for (size_t i = 0; i < 20; i++)
		words[i] = MakeItem(i + 1, 1).word; // VC0, DATA and ADMIN
	EXPECT_EQ(gsn_link_send_run(net.a.link, 0, words, data, 20), 10);
	struct gsn_link_stats s;
	gsn_link_stats(net.a.link, &s);
	EXPECT_EQ(s.eagain_credit, 0u); // nothing was refused yet
	EXPECT_EQ(gsn_link_send_run(net.a.link, 0, words + 10, data, 10), -EAGAIN);
	gsn_link_stats(net.a.link, &s);
	EXPECT_EQ(s.eagain_credit, 1u);
	EXPECT_EQ(s.seq_sent, 10u);
	net.Run(100 * kMs, [&] { return net.a.tx_ready > 0; });
	EXPECT_EQ(net.a.tx_ready, 1u);
	EXPECT_EQ(gsn_link_send_run(net.a.link, 0, words + 10, data, 10), 10);
}

TEST(LinkRun, SendRunRefusesBadArguments)
{
	Net net(Cfg(0x7777, GSN_LINK_DEFAULT_FRAME_MAX, 64, 1024),
		Cfg(0x8888, GSN_LINK_DEFAULT_FRAME_MAX, 64, 1024), Rx::kEach);
	gsn_mpkt_ctl c{};
	uint64_t words[4];
	uint8_t data[4 * GSN_MPKT_DATA] = {0};

	c.type = GSN_MPKT_T_DATA;
	for (auto &w : words)
		w = gsn_mpkt_ctl_pack(&c);
	EXPECT_EQ(gsn_link_send_run(net.a.link, 1, words, data, 4), -ENOTCONN);
	net.BringUp();
	EXPECT_EQ(gsn_link_send_run(net.a.link, 4, words, data, 4), -EINVAL);
	EXPECT_EQ(gsn_link_send_run(net.a.link, 1, words, data, 0), -EINVAL);
	c.type = GSN_MPKT_T_CREDIT;
	words[2] = gsn_mpkt_ctl_pack(&c);
	EXPECT_EQ(gsn_link_send_run(net.a.link, 1, words + 2, data, 2), -EINVAL);
	EXPECT_EQ(gsn_link_send_run(net.a.link, 1, words, data, 4), 2); // stops at the CREDIT
	c.type = 7; // reserved
	words[0] = gsn_mpkt_ctl_pack(&c);
	EXPECT_EQ(gsn_link_send_run(net.a.link, 1, words, data, 1), -EINVAL);
}

// A loopback element both ways: the micropackets a receives back and every
// frame on the cable are the same.
TEST(LinkRun, SendBackPutsTheSameBytesOnTheCableAsSendThenConsume)
{
	gsn_link_config ca = Cfg(0x9999, 24 + 40 * 13, 300, 4096);
	gsn_link_config cb = Cfg(0xaaaa, 24 + 40 * 13, 100, 4096);
	Net each(ca, cb, Rx::kReflectEach), run(ca, cb, Rx::kReflectRun);

	each.BringUp();
	run.BringUp();
	SendStream(each, 1200, 4, 0);
	SendStream(run, 1200, 4, 0);
	EXPECT_EQ(each.a.sent, run.a.sent);
	EXPECT_EQ(each.b.sent, run.b.sent);
	EXPECT_EQ(run.b.refused, 0u);
	ASSERT_EQ(run.a.got.size(), 1200u);
	for (size_t i = 0; i < 1200; i++)
		ASSERT_EQ(run.a.got[i], Expect(MakeItem(i, 4))) << i;
	EXPECT_EQ(each.a.got, run.a.got);
}

TEST(LinkRun, SendBackSendsWhatFitsAndKeepsTheRestsCredits)
{
	// b's window is 8: of a run of 20, 8 go back at once
	Net net(Cfg(0xbbbb, GSN_LINK_DEFAULT_FRAME_MAX, 1024, 1024),
		Cfg(0xcccc, GSN_LINK_DEFAULT_FRAME_MAX, 1024, 8), Rx::kReflectRun);
	uint64_t words[20];
	uint8_t data[20 * GSN_MPKT_DATA];

	net.BringUp();
	net.b.consume_refused = false;
	for (size_t i = 0; i < 20; i++) {
		words[i] = MakeItem(i + 1, 1).word;
		memset(data + i * GSN_MPKT_DATA, static_cast<int>(i), GSN_MPKT_DATA);
	}
	ASSERT_EQ(gsn_link_send_run(net.a.link, 1, words, data, 20), 20);
	gsn_link_flush(net.a.link);
	ASSERT_EQ(net.b.queue.size(), 1u);
	Bytes fr = net.b.queue.front();
	net.b.queue.pop_front();
	gsn_link_input_frame(net.b.link, fr.data(), fr.size());

	struct gsn_link_stats s;
	gsn_link_stats(net.b.link, &s);
	EXPECT_EQ(net.b.refused, 12u);
	EXPECT_EQ(s.seq_sent, 8u);
	EXPECT_EQ(s.eagain_window, 1u); // the retry of the rest was refused
	EXPECT_EQ(s.rx_held[1], 12u);   // their credits are still taken
	EXPECT_EQ(s.rx_return_pending[1], 0u); // the 8 went back (piggy-backed, CREDIT)
	ASSERT_EQ(net.a.queue.size(), 1u);
	net.Run(100 * kMs);
	ASSERT_EQ(net.a.got.size(), 8u);
	for (size_t i = 0; i < 8; i++) { // on VC1, whatever VC the words named
		Got want{(words[i] & kSenderBits & ~(3ull << 62)) | 1ull << 62,
			 Bytes(GSN_MPKT_DATA, static_cast<uint8_t>(i))};
		EXPECT_EQ(net.a.got[i], want) << i;
	}
}

TEST(LinkRun, SendBackRefusesBadArguments)
{
	Net net(Cfg(0x1212, GSN_LINK_DEFAULT_FRAME_MAX, 64, 1024),
		Cfg(0x3434, GSN_LINK_DEFAULT_FRAME_MAX, 64, 1024), Rx::kEach);
	uint8_t mp[2 * GSN_MPKT_LEN];
	gsn_mpkt_ctl c{};

	c.type = GSN_MPKT_T_DATA;
	gsn_mpkt_encode(&c, nullptr, mp);
	gsn_mpkt_encode(&c, nullptr, mp + GSN_MPKT_LEN);
	EXPECT_EQ(gsn_link_send_back(net.a.link, mp, 2), -ENOTCONN);
	net.BringUp();
	EXPECT_EQ(gsn_link_send_back(net.a.link, mp, 0), -EINVAL);
	c.type = GSN_MPKT_T_NULL;
	gsn_mpkt_encode(&c, nullptr, mp);
	EXPECT_EQ(gsn_link_send_back(net.a.link, mp, 2), -EINVAL);
	EXPECT_EQ(gsn_link_send_back(net.a.link, mp + GSN_MPKT_LEN, 1), 1);
}

// rx_run hands up what rx_mpkt hands up, in the same order, under loss
// and with bad LCRCs in the middle of frames.
TEST(LinkRun, RxRunDeliversWhatRxMpktDelivers)
{
	gsn_link_config ca = Cfg(0x5656, 24 + 40 * 20, 200, 512);
	gsn_link_config cb = Cfg(0x7878, 24 + 40 * 20, 200, 512);
	Net each(ca, cb, Rx::kEach), run(ca, cb, Rx::kRun);

	for (Net *n : {&each, &run}) {
		n->BringUp();
		n->drop_every = 9;
		n->corrupt_every = 4;
	}
	SendStream(each, 3000, 4, 0);
	SendStream(run, 3000, 4, 0);
	EXPECT_EQ(each.a.sent, run.a.sent);
	EXPECT_EQ(each.b.sent, run.b.sent);
	ASSERT_EQ(run.b.got.size(), 3000u);
	EXPECT_EQ(each.b.got, run.b.got);
	for (size_t i = 0; i < 3000; i++)
		ASSERT_EQ(run.b.got[i], Expect(MakeItem(i, 4))) << i;
	struct gsn_link_stats s;
	gsn_link_stats(run.b.link, &s);
	EXPECT_GT(s.drops[GSN_LINK_DROP_LCRC], 0u);
	EXPECT_GT(s.drops[GSN_LINK_DROP_OUT_OF_SEQ], 0u);
}

TEST(LinkRun, CreateNeedsRxMpktOrRxRun)
{
	gsn_link_config c = Cfg(1, GSN_LINK_DEFAULT_FRAME_MAX, 64, 64);
	gsn_link_ops ops{};
	gsn_link *l = nullptr;

	ops.tx_frame = [](void *, const uint8_t *, size_t) { return 0; };
	ops.now_ns = [](void *) -> uint64_t { return 1; };
	EXPECT_EQ(gsn_link_create(&c, &ops, &l), -EINVAL);
	ops.rx_run = [](void *, const uint8_t *, size_t) {};
	ASSERT_EQ(gsn_link_create(&c, &ops, &l), 0);
	gsn_link_destroy(l);
}
