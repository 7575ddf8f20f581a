// SPDX-License-Identifier: MIT
//
// In-memory network for libst tests.
//
// A Net owns N endpoints, each with its own st_engine, a shared virtual clock
// (nanoseconds, starting at 1 s) and registered regions backed by
// std::vector<uint8_t>.  Every ST operation an engine sends becomes a Packet
// that is pushed down the Link from its source to its destination.  A Link is
// a stack of Layers (x-kernel style: one narrow interface, push down; the
// bottom of every stack is the network's delivery queue, which delivers up by
// calling st_input on the destination).  Fault and observation layers (Drop,
// Disorder, Duplicate, Tap) can be stacked per direction between any two
// endpoints; the layer added first is the one nearest the sender.
//
// Time only moves inside RunUntilIdle/RunUntil: queued packets are delivered
// first, then the clock jumps to the earliest engine deadline and every engine
// is ticked.  Everything is deterministic: randomness comes only from seeded
// generators in the layers.
#ifndef ST_HARNESS_H
#define ST_HARNESS_H

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include <st/st.h>
}

namespace sttest {

constexpr uint64_t kMs = 1000ull * 1000ull;
constexpr uint64_t kSec = 1000ull * kMs;
constexpr uint64_t kStartNs = kSec;
constexpr uint32_t kDefaultUport = 7;

class Net;

// ---- packets and layers --------------------------------------------------

struct Packet {
	int src = -1;  // endpoint index
	int dst = -1;
	unsigned vc = 0;
	std::vector<uint8_t> bytes;  // 40-byte header + payload
};

// Decoded view of a packet, for assertions.
struct OpRecord {
	int src = -1, dst = -1;
	unsigned vc = 0;
	st_hdr h{};
	int decode = ST_HDR_OK;  // st_hdr_decode's result
	size_t payload_len = 0;
	std::vector<uint8_t> payload;
	uint64_t at_ns = 0;
	uint64_t seq = 0;  // global order in the tap log
};

// Short operation names used in traces ("RTS", "CTS", "DATA", ...).
const char *OpShort(unsigned op);
// "A->B RTS T_len=100 id=1"
std::string FormatOp(const OpRecord &r);
std::string EpName(int ep);

class Layer {
public:
	virtual ~Layer() = default;
	// A packet travelling down from the sender side.  Pass it on with Down().
	virtual void Push(Packet p) = 0;
	// Control: release whatever the layer holds back (called when the network
	// is otherwise idle).  Returns true if it released anything.
	virtual bool Flush() { return false; }
	void Bind(std::function<void(Packet)> below) { below_ = std::move(below); }

protected:
	void Down(Packet p) { below_(std::move(p)); }

private:
	std::function<void(Packet)> below_;
};

// Which packets a fault layer acts on.
struct Match {
	int op = -1;        // opcode, or -1 for every op
	int function = -1;  // GET Function (with op == GET), or -1
	bool Matches(const Packet &p) const;
};

// Drops matching packets: every Nth (1 = all of them), or at a seeded rate,
// at most `max_drops` times in all.
class Drop : public Layer {
public:
	struct Options {
		unsigned every_nth = 0;  // 0: use rate
		double rate = 0.0;
		uint64_t seed = 1;
		Match match;
		uint64_t max_drops = UINT64_MAX;
	};
	explicit Drop(Options o) : o_(o), rng_(o.seed) {}
	static Options All(int op = -1) { Options o; o.every_nth = 1; o.match.op = op; return o; }
	static Options Once(int op) { Options o = All(op); o.max_drops = 1; return o; }
	static Options Nth(unsigned n, int op = -1) { Options o; o.every_nth = n; o.match.op = op; return o; }
	static Options Rate(double r, uint64_t seed, int op = -1)
	{
		Options o; o.rate = r; o.seed = seed; o.match.op = op; return o;
	}
	void Push(Packet p) override;
	uint64_t dropped() const { return dropped_; }
	void set_enabled(bool on) { enabled_ = on; }

private:
	Options o_;
	std::mt19937_64 rng_;
	uint64_t seen_ = 0, dropped_ = 0;
	bool enabled_ = true;
};

// Reorders: with probability `rate` (seeded) a packet is held back and
// released after `k` later packets have passed (or when the net is idle).
class Disorder : public Layer {
public:
	struct Options {
		double rate = 0.5;
		unsigned k = 1;
		uint64_t seed = 1;
		Match match;
		bool release_when_idle = true;
	};
	explicit Disorder(Options o) : o_(o), rng_(o.seed) {}
	void Push(Packet p) override;
	bool Flush() override;
	uint64_t reordered() const { return held_total_; }

private:
	struct Held { Packet p; unsigned left; };
	Options o_;
	std::mt19937_64 rng_;
	std::deque<Held> held_;
	uint64_t held_total_ = 0;
};

// Duplicates matching packets: every Nth or at a seeded rate.
class Duplicate : public Layer {
public:
	struct Options {
		unsigned every_nth = 0;
		double rate = 0.0;
		uint64_t seed = 1;
		Match match;
		uint64_t max_dups = UINT64_MAX;
	};
	explicit Duplicate(Options o) : o_(o), rng_(o.seed) {}
	static Options All(int op = -1) { Options o; o.every_nth = 1; o.match.op = op; return o; }
	void Push(Packet p) override;
	uint64_t duplicated() const { return dups_; }

private:
	Options o_;
	std::mt19937_64 rng_;
	uint64_t seen_ = 0, dups_ = 0;
};

// Records every packet that passes (with its decoded header) into a log that
// may be shared by several taps (e.g. both directions of a link).
class TapLog {
public:
	void Record(const Packet &p, uint64_t now);
	const std::vector<OpRecord> &records() const { return recs_; }
	void Clear() { recs_.clear(); }
	// Number of ops with opcode `op` (from src to dst; -1 = any).
	size_t Count(int op, int src = -1, int dst = -1) const;
	// Opcodes in order, optionally only from src.
	std::vector<unsigned> Ops(int src = -1, int dst = -1) const;
	std::vector<OpRecord> Filter(int op, int src = -1, int dst = -1) const;
	std::string Trace() const;

private:
	std::vector<OpRecord> recs_;
	uint64_t next_seq_ = 0;
};

class Tap : public Layer {
public:
	Tap(Net *net, std::shared_ptr<TapLog> log) : net_(net), log_(std::move(log)) {}
	void Push(Packet p) override;
	TapLog &log() { return *log_; }

private:
	Net *net_;
	std::shared_ptr<TapLog> log_;
};

// ---- endpoints ------------------------------------------------------------

using VcInfo = struct st_vc_info;

struct Region {
	Net *net = nullptr;
	int ep = -1;
	std::vector<uint8_t> bytes;
	uint16_t mx = 0;
	uint64_t key = 0;
	unsigned access = 0;
	uint64_t reads = 0, writes = 0;  // mem_read/mem_write calls
};

struct Endpoint {
	Net *net = nullptr;
	int idx = -1;
	st_config cfg{};
	st_engine *eng = nullptr;
	std::vector<st_event> events;
	std::vector<uint64_t> event_times;  // virtual time each event was drained
	std::vector<std::unique_ptr<Region>> regions;
	std::set<uint32_t> listening;
	int fail_sends = 0;  // lower send returns -EIO while > 0 (counted down)
	uint64_t sent = 0;
};

struct VcPair {
	uint16_t a = 0, b = 0;
	bool ok() const { return a != 0 && b != 0; }
};

struct ConnectOptions {
	uint32_t uport = kDefaultUport;
	uint32_t local_uport = 100;
	uint16_t ethertype = 0;
	uint16_t listen_ethertype = 0;
	uint64_t user_ctx = 0xC0C0;
	bool listen = true;  // st_listen on b first (once per uport)
};

// ---- the network ------------------------------------------------------------

class Net {
public:
	using Tweak = std::function<void(int ep, st_config *cfg)>;
	explicit Net(int n, const Tweak &tweak = {});
	~Net();
	Net(const Net &) = delete;
	Net &operator=(const Net &) = delete;

	int size() const { return (int)eps_.size(); }
	st_engine *eng(int i) { return eps_[i]->eng; }
	Endpoint &ep(int i) { return *eps_[i]; }
	const uint8_t *ula(int i) const { return eps_[i]->cfg.ula; }
	const st_config &cfg(int i) const { return eps_[i]->cfg; }
	uint64_t now() const { return now_; }
	// Moves the clock forward without ticking anything.
	void Advance(uint64_t ns) { now_ += ns; }
	// Endpoint index for a ULA, or -1.
	int Find(const uint8_t ula[ST_ULA_LEN]) const;

	// -- regions
	// Registers len bytes with the access flags; key 0 picks a unique one.
	Region *AddRegion(int ep, size_t len, unsigned access, uint64_t key = 0);
	static void FillPattern(Region *r, uint32_t seed);
	static void FillPattern(std::vector<uint8_t> &v, uint32_t seed);

	// -- layers
	template <class L, class... Args> L *AddLayer(int src, int dst, Args &&...args)
	{
		auto layer = std::make_unique<L>(std::forward<Args>(args)...);
		L *raw = layer.get();
		PushLayer(src, dst, std::move(layer));
		return raw;
	}
	// A Tap on both directions between a and b sharing one log.
	std::shared_ptr<TapLog> TapBoth(int a, int b);
	// A Tap on every link between every pair (existing endpoints), one log.
	std::shared_ptr<TapLog> TapAll();
	// Drop everything from src to dst from now on.
	Drop *Blackhole(int src, int dst) { return AddLayer<Drop>(src, dst, Drop::All()); }

	// -- driving
	// Delivers queued packets, then advances virtual time deadline by deadline,
	// until nothing is queued and no deadline is <= now()+max_virtual_ns.
	// Returns the number of steps taken.
	uint64_t RunUntilIdle(uint64_t max_virtual_ns = 60 * kSec);
	// Delivers queued packets without moving the clock.
	uint64_t Pump() { return RunUntilIdle(0); }
	// As RunUntilIdle but stops as soon as pred() holds; returns pred().
	bool RunUntil(const std::function<bool()> &pred, uint64_t max_virtual_ns = 60 * kSec);
	// Injects an operation into ep as if it came from src_ula on vc; returns
	// st_input's result.  Events are drained afterwards.
	int Inject(int ep, const uint8_t src_ula[ST_ULA_LEN], unsigned vc, const void *op, size_t len);
	int Inject(int ep, const uint8_t src_ula[ST_ULA_LEN], unsigned vc, const st_hdr &h,
		   const std::vector<uint8_t> &payload = {}, bool with_cksum = false);
	// Polls every engine's events into the per-endpoint vectors.
	void Drain();
	size_t queued() const { return queue_.size(); }
	// Livelock guard: RunUntil* fails the test after this many steps.
	void set_step_cap(uint64_t cap) { step_cap_ = cap; }

	// -- events
	using EventPred = std::function<bool(const st_event &)>;
	const st_event *FindEvent(int ep, const EventPred &pred) const;
	const st_event *FindEvent(int ep, st_event_type type) const;
	const st_event *FindEvent(int ep, st_event_type type, uint64_t user_ctx) const;
	// ST_EV_COMPLETE or ST_EV_RECV_COMPLETE of `kind` with user_ctx.
	const st_event *FindCompletion(int ep, uint64_t user_ctx, st_req_kind kind) const;
	size_t CountEvents(int ep, st_event_type type) const;
	size_t CountEvents(int ep, const EventPred &pred) const;
	// Runs until the event shows up; fails the test (and returns a zeroed
	// event with type 0) when it does not within max_virtual_ns.
	st_event WaitEvent(int ep, st_event_type type, uint64_t user_ctx,
			   uint64_t max_virtual_ns = 60 * kSec);
	st_event WaitEvent(int ep, const EventPred &pred, uint64_t max_virtual_ns = 60 * kSec);
	st_event WaitCompletion(int ep, uint64_t user_ctx, st_req_kind kind,
				uint64_t max_virtual_ns = 60 * kSec);
	// Virtual time at which the first matching event was drained (0 if none).
	uint64_t EventTime(int ep, const EventPred &pred) const;
	void ClearEvents(int ep) { eps_[ep]->events.clear(); eps_[ep]->event_times.clear(); }
	std::string DumpEvents(int ep) const;

	// -- helpers
	// st_listen on b (unless already), st_connect from a, run, assert
	// ST_EV_CONNECTED on both sides.  Returns both local ports.
	VcPair Connect(int a, int b, const ConnectOptions &o = {});
	// st_disconnect from a on vc and run until both sides report CLOSED.
	bool Disconnect(int a, uint16_t vc, int b, uint16_t peer_vc);
	VcInfo Info(int ep, uint16_t vc);
	st_counters Counters(int ep, uint16_t vc = 0);
	// A header addressed to `ep`'s VC `vc` as its peer would send it (D_Port,
	// S_Port, D_Key filled in); the peer's ULA in *src_ula when not null.
	st_hdr HdrTo(int ep, uint16_t vc, unsigned op, uint8_t src_ula[ST_ULA_LEN] = nullptr);
	// Everything recorded by the most recent TapBoth/TapAll log, for messages.
	std::string Trace() const;

	// Failures the harness itself detected (OOB memory access, wrong VC, ...).
	uint64_t harness_errors() const { return harness_errors_; }

	// lower-layer entry points (used by the C callbacks)
	int LowerSend(Endpoint *from, const uint8_t dst[ST_ULA_LEN], unsigned vc, const uint8_t *hdr,
		      const struct iovec *iov, unsigned iovcnt);
	int MemAccess(Region *r, uint64_t off, void *buf, size_t len, bool write);

private:
	struct Link {
		std::vector<std::unique_ptr<Layer>> layers;
	};
	void PushLayer(int src, int dst, std::unique_ptr<Layer> layer);
	void Rebind(Link &link);
	Link &LinkFor(int src, int dst);
	void EnqueueFromLink(Packet p) { queue_.push_back(std::move(p)); }
	bool DeliverOne();
	bool FlushLayers();
	uint64_t EarliestDeadline() const;
	void TickAll();
	bool Run(const std::function<bool()> *pred, uint64_t max_virtual_ns, bool *pred_ok);

	std::vector<std::unique_ptr<Endpoint>> eps_;
	std::map<std::pair<int, int>, Link> links_;
	std::deque<Packet> queue_;
	std::shared_ptr<TapLog> last_log_;
	uint64_t now_ = kStartNs;
	uint64_t step_cap_ = 2000000;
	uint64_t harness_errors_ = 0;
	uint64_t key_seq_ = 0;
};

// Byte-exact comparison with a useful message (first differing offset).
::testing::AssertionResult BytesEqual(const uint8_t *a, const uint8_t *b, size_t len);
::testing::AssertionResult BytesEqual(const std::vector<uint8_t> &a, const std::vector<uint8_t> &b);

// Wire checks on recorded ops.
inline bool IsReject(const OpRecord &r) { return (r.h.flags & ST_FLAG_REJECT) != 0; }

}  // namespace sttest

#endif  // ST_HARNESS_H
