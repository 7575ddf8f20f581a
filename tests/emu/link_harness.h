// SPDX-License-Identifier: MIT
//
// In-memory fabric for the link, msg and xbar suites.
//
// A World owns a virtual clock (nanoseconds, starting at 1 s) and Wires.  A
// Wire is one direction of a cable: a FIFO of frames with seeded fault
// layers applied as a frame is pushed (drop by rate or every Nth,
// duplicate, hold back to reorder, flip bits), plus an optional filter
// function that may edit or drop a frame first.  A LinkEnd wraps one
// gsn_link and turns its upcalls into std::functions; connecting two
// LinkEnds makes a cable of two Wires.
//
// Time moves only inside World::Run*: frames are delivered one at a time
// (round-robin over wires; delivery is instantaneous), every link is flushed
// when the wires run dry (the emulator's idle hook), frames held back by a
// reorder layer are released, and only then does the clock jump to the
// earliest link deadline and the due links are ticked.  No sleeps, no
// threads: the same seed gives the same run.
#ifndef GSN_TESTS_EMU_LINK_HARNESS_H
#define GSN_TESTS_EMU_LINK_HARNESS_H

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "link.h"
#include "msg.h"
#include "xbar.h"

namespace lktest {

constexpr uint64_t kUs = 1000ull;
constexpr uint64_t kMs = 1000ull * kUs;
constexpr uint64_t kSec = 1000ull * kMs;

using Ula = std::array<uint8_t, GSN_ULA_LEN>;
using Bytes = std::vector<uint8_t>;

// A locally administered ULA ending in n.
Ula MakeUla(uint8_t n);
// len deterministic pseudo-random bytes.
Bytes Pattern(uint64_t seed, size_t len);

struct Faults {
	double drop = 0;            // per frame
	unsigned drop_every = 0;    // every Nth frame (0: off)
	double dup = 0;             // per frame: sent twice
	double reorder = 0;         // per frame: held back ...
	unsigned reorder_depth = 3; // ... until this many later frames passed
	double corrupt_byte = 0;    // per byte: one bit flipped
	uint64_t seed = 1;
};

struct WireStats {
	uint64_t frames = 0, dropped = 0, duplicated = 0, reordered = 0, corrupted = 0;
};

class Wire {
public:
	explicit Wire(const Faults &f = Faults()) { SetFaults(f); }
	void SetFaults(const Faults &f);
	void Push(const uint8_t *p, size_t n);
	bool Pop(Bytes &out);
	bool ReleaseHeld();
	bool Empty() const { return q_.empty(); }
	void Clear();

	// Runs first; may edit the frame; false drops it.
	std::function<bool(Bytes &)> filter;
	bool cut = false; // drops everything
	WireStats stats;

private:
	double U();
	void Corrupt(Bytes &fr);
	void Enqueue(const Bytes &fr);

	Faults f_;
	std::mt19937_64 rng_;
	std::deque<Bytes> q_;
	struct Held {
		unsigned left;
		Bytes fr;
	};
	std::vector<Held> held_;
	uint64_t n_ = 0;
};

struct Mpkt {
	gsn_mpkt_ctl ctl{};
	std::array<uint8_t, 32> data{};
};

class World;

// One gsn_link and its upcalls.
class LinkEnd {
public:
	LinkEnd(World &w, const gsn_link_config &cfg, std::string name);
	~LinkEnd();
	LinkEnd(const LinkEnd &) = delete;
	LinkEnd &operator=(const LinkEnd &) = delete;

	// A restarted end: a new link with a new incarnation (not started).
	void Recreate(uint32_t incarnation);
	void Start() { ASSERT_EQ(gsn_link_start(link), 0); }
	struct gsn_link_stats Stats() const;
	bool Up() const { return gsn_link_state(link) == GSN_LINK_UP; }
	// Sends one micropacket straight on the link.
	int Send(unsigned vc, unsigned type, const uint8_t *data, bool tail = false,
		 bool error = false, uint16_t ecrc = 0);

	World &world;
	std::string name;
	gsn_link_config cfg;
	gsn_link *link = nullptr;
	Wire *out = nullptr;

	// Default rx handler: records (if record) and consumes (if auto_consume).
	std::function<void(const gsn_mpkt_ctl *, const uint8_t *)> on_rx;
	std::function<void(unsigned)> on_tx_ready;
	std::function<void(gsn_link_event, uint32_t)> on_event;
	bool auto_consume = true;
	bool record = true;
	std::vector<Mpkt> rx;
	std::vector<std::pair<gsn_link_event, uint32_t>> events;
	std::array<unsigned, 4> tx_ready_calls{};

private:
	void Create();
	static int TxFrame(void *ctx, const uint8_t *f, size_t n);
	static void RxMpkt(void *ctx, const gsn_mpkt_ctl *c, const uint8_t d[32]);
	static void TxReady(void *ctx, unsigned vc);
	static void Event(void *ctx, gsn_link_event ev, uint32_t inc);
	static uint64_t Now(void *ctx);
};

struct Cable {
	Wire ab, ba; // a->b, b->a
};

class World {
public:
	uint64_t now = kSec;

	// A cable between a and b; faults per direction.
	Cable &Connect(LinkEnd &a, LinkEnd &b, const Faults &ab = Faults(),
		       const Faults &ba = Faults());
	void Add(LinkEnd *e) { ends_.push_back(e); }
	void Remove(LinkEnd *e);

	// Flushes every link (the emulator's idle hook).
	void FlushAll();
	// Runs until pred() holds (true) or max_ns of virtual time pass (false).
	bool RunUntil(const std::function<bool()> &pred, uint64_t max_ns);
	// Lets for_ns of virtual time pass.
	void Run(uint64_t for_ns) { RunUntil(nullptr, for_ns); }

	uint64_t frames_delivered = 0;

private:
	bool DeliverOne();
	bool ReleaseHeld();
	struct Dir {
		Wire *w;
		LinkEnd *dst;
	};
	std::vector<LinkEnd *> ends_;
	std::vector<Dir> dirs_;
	std::vector<std::unique_ptr<Cable>> cables_;
	size_t rr_ = 0;
};

gsn_link_config LinkCfg(uint32_t incarnation, size_t frame_max = GSN_LINK_DEFAULT_FRAME_MAX);

// ---- endpoints with msg ------------------------------------------------------

struct RxMsg {
	unsigned vc = 0;
	Ula src{}, dst{};
	uint16_t ethertype = 0;
	Bytes pdu;
};

class Endpoint {
public:
	Endpoint(World &w, uint8_t ula_n, uint32_t incarnation,
		 const gsn_link_config *lcfg = nullptr, const gsn_msg_config *mcfg = nullptr);
	~Endpoint();

	int Send(unsigned vc, const Ula &dst, const Bytes &pdu,
		 uint16_t ethertype = GSN_ETHERTYPE_ST);
	// Releases every Message kept while consume was false.
	void ReleaseAll();
	// Restarts the element: new link (new incarnation) and new msg, started.
	void Restart(uint32_t incarnation);
	struct gsn_msg_stats Stats() const;

	World &world;
	Ula ula;
	gsn_msg_config mcfg;
	LinkEnd end;
	gsn_msg *msg = nullptr;
	bool consume = true; // deliver() returns this
	std::vector<RxMsg> got;
	std::vector<std::pair<unsigned, uint32_t>> kept; // (vc, mpkts) to release
	std::vector<Mpkt> admin;
	std::array<unsigned, 4> tx_space{};
	std::function<void(unsigned)> on_tx_space;
	std::vector<Mpkt> raw; // every micropacket the link delivered up (if tap)
	bool tap = false;

private:
	void Create();
};

// Queues Messages and hands them to an Endpoint's msg as it accepts them
// (again on every tx_space).
class Outbox {
public:
	explicit Outbox(Endpoint &e);
	void Add(unsigned vc, const Ula &dst, const Bytes &pdu,
		 uint16_t ethertype = GSN_ETHERTYPE_ST);
	void Pump();
	bool Empty() const;
	size_t sent = 0;

private:
	struct Item {
		Ula dst;
		Bytes pdu;
		uint16_t ethertype;
	};
	Endpoint &ep_;
	std::array<std::deque<Item>, 4> q_;
};

// ---- a switch -----------------------------------------------------------------

class Switch {
public:
	Switch(World &w, unsigned nports, uint32_t incarnation_base, bool broadcast = false,
	       const gsn_link_config *lcfg = nullptr);
	~Switch();

	LinkEnd &Port(unsigned p) { return *ports[p]; }
	struct gsn_xbar_port_stats Stats(unsigned p) const;

	World &world;
	gsn_xbar *x = nullptr;
	std::vector<std::unique_ptr<LinkEnd>> ports;
	std::map<Ula, int> routes;
	std::vector<std::pair<unsigned, Mpkt>> admin;
};

} // namespace lktest

#endif // GSN_TESTS_EMU_LINK_HARNESS_H
