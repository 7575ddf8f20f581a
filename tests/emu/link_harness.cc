// SPDX-License-Identifier: MIT
#include "link_harness.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

namespace lktest {

Ula MakeUla(uint8_t n)
{
	return Ula{0x02, 0x00, 0x5e, 0x10, 0x00, n};
}

Bytes Pattern(uint64_t seed, size_t len)
{
	Bytes b(len);
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
	return b;
}

gsn_link_config LinkCfg(uint32_t incarnation, size_t frame_max)
{
	gsn_link_config c;

	gsn_link_config_default(&c);
	c.incarnation = incarnation;
	c.frame_max = frame_max;
	return c;
}

// ---- Wire -------------------------------------------------------------------

void Wire::SetFaults(const Faults &f)
{
	f_ = f;
	rng_.seed(f.seed);
}

double Wire::U()
{
	return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

void Wire::Corrupt(Bytes &fr)
{
	if (f_.corrupt_byte <= 0)
		return;
	bool hit = false;
	double l = std::log1p(-f_.corrupt_byte);
	// geometric gaps between corrupted bytes
	for (double pos = std::floor(std::log(1.0 - U()) / l); pos < (double)fr.size();
	     pos += 1 + std::floor(std::log(1.0 - U()) / l)) {
		fr[(size_t)pos] ^= (uint8_t)(1u << (rng_() % 8));
		hit = true;
	}
	if (hit)
		stats.corrupted++;
}

void Wire::Enqueue(const Bytes &fr)
{
	if (f_.reorder > 0 && U() < f_.reorder) {
		held_.push_back({f_.reorder_depth, fr});
		stats.reordered++;
	} else {
		q_.push_back(fr);
	}
	for (auto it = held_.begin(); it != held_.end();) {
		if (it->left && --it->left == 0) {
			q_.push_back(std::move(it->fr));
			it = held_.erase(it);
		} else {
			++it;
		}
	}
}

void Wire::Push(const uint8_t *p, size_t n)
{
	Bytes fr(p, p + n);

	n_++;
	stats.frames++;
	if (cut || (filter && !filter(fr)) || (f_.drop_every && n_ % f_.drop_every == 0) ||
	    (f_.drop > 0 && U() < f_.drop)) {
		stats.dropped++;
		return;
	}
	Corrupt(fr);
	bool twice = f_.dup > 0 && U() < f_.dup;
	Enqueue(fr);
	if (twice) {
		stats.duplicated++;
		Enqueue(fr);
	}
}

bool Wire::Pop(Bytes &out)
{
	if (q_.empty())
		return false;
	out = std::move(q_.front());
	q_.pop_front();
	return true;
}

bool Wire::ReleaseHeld()
{
	if (held_.empty())
		return false;
	for (auto &h : held_)
		q_.push_back(std::move(h.fr));
	held_.clear();
	return true;
}

void Wire::Clear()
{
	q_.clear();
	held_.clear();
}

// ---- LinkEnd ----------------------------------------------------------------

LinkEnd::LinkEnd(World &w, const gsn_link_config &c, std::string n)
	: world(w), name(std::move(n)), cfg(c)
{
	cfg.name = name.c_str();
	Create();
	world.Add(this);
}

LinkEnd::~LinkEnd()
{
	world.Remove(this);
	gsn_link_destroy(link);
}

void LinkEnd::Create()
{
	gsn_link_ops ops{};
	ops.tx_frame = TxFrame;
	ops.rx_mpkt = RxMpkt;
	ops.tx_ready = TxReady;
	ops.event = Event;
	ops.now_ns = Now;
	ops.ctx = this;
	int rc = gsn_link_create(&cfg, &ops, &link);
	EXPECT_EQ(rc, 0);
}

void LinkEnd::Recreate(uint32_t incarnation)
{
	gsn_link_destroy(link);
	link = nullptr;
	cfg.incarnation = incarnation;
	rx.clear();
	events.clear();
	tx_ready_calls = {};
	Create();
}

struct gsn_link_stats LinkEnd::Stats() const
{
	struct gsn_link_stats s;

	gsn_link_stats(link, &s);
	return s;
}

int LinkEnd::Send(unsigned vc, unsigned type, const uint8_t *data, bool tail, bool error,
		  uint16_t ecrc)
{
	gsn_mpkt_ctl c{};

	c.vc = (uint8_t)vc;
	c.type = (uint8_t)type;
	c.tail = tail;
	c.error = error;
	c.ecrc = ecrc;
	return gsn_link_send(link, &c, data);
}

int LinkEnd::TxFrame(void *ctx, const uint8_t *f, size_t n)
{
	auto *e = static_cast<LinkEnd *>(ctx);

	if (e->out)
		e->out->Push(f, n);
	return 0;
}

void LinkEnd::RxMpkt(void *ctx, const gsn_mpkt_ctl *c, const uint8_t d[32])
{
	auto *e = static_cast<LinkEnd *>(ctx);

	if (e->on_rx) {
		e->on_rx(c, d);
		return;
	}
	if (e->record) {
		Mpkt m;
		m.ctl = *c;
		std::memcpy(m.data.data(), d, 32);
		e->rx.push_back(m);
	}
	if (e->auto_consume)
		gsn_link_consumed(e->link, c->vc, 1);
}

void LinkEnd::TxReady(void *ctx, unsigned vc)
{
	auto *e = static_cast<LinkEnd *>(ctx);

	e->tx_ready_calls[vc & 3]++;
	if (e->on_tx_ready)
		e->on_tx_ready(vc);
}

void LinkEnd::Event(void *ctx, gsn_link_event ev, uint32_t inc)
{
	auto *e = static_cast<LinkEnd *>(ctx);

	e->events.emplace_back(ev, inc);
	if (e->on_event)
		e->on_event(ev, inc);
}

uint64_t LinkEnd::Now(void *ctx)
{
	return static_cast<LinkEnd *>(ctx)->world.now;
}

// ---- World ------------------------------------------------------------------

Cable &World::Connect(LinkEnd &a, LinkEnd &b, const Faults &ab, const Faults &ba)
{
	cables_.push_back(std::make_unique<Cable>());
	Cable &c = *cables_.back();
	c.ab.SetFaults(ab);
	c.ba.SetFaults(ba);
	a.out = &c.ab;
	b.out = &c.ba;
	dirs_.push_back({&c.ab, &b});
	dirs_.push_back({&c.ba, &a});
	return c;
}

void World::Remove(LinkEnd *e)
{
	ends_.erase(std::remove(ends_.begin(), ends_.end(), e), ends_.end());
	dirs_.erase(std::remove_if(dirs_.begin(), dirs_.end(),
				   [e](const Dir &d) { return d.dst == e; }),
		    dirs_.end());
}

void World::FlushAll()
{
	for (LinkEnd *e : ends_)
		gsn_link_flush(e->link);
}

bool World::DeliverOne()
{
	Bytes fr;

	for (size_t i = 0; i < dirs_.size(); i++) {
		Dir &d = dirs_[(rr_ + i) % dirs_.size()];

		if (d.w->Pop(fr)) {
			rr_ = (rr_ + i + 1) % dirs_.size();
			frames_delivered++;
			gsn_link_input_frame(d.dst->link, fr.data(), fr.size());
			return true;
		}
	}
	return false;
}

bool World::ReleaseHeld()
{
	bool any = false;

	for (Dir &d : dirs_)
		any |= d.w->ReleaseHeld();
	return any;
}

bool World::RunUntil(const std::function<bool()> &pred, uint64_t max_ns)
{
	const uint64_t deadline = now + max_ns;
	unsigned since_flush = 0;

	for (uint64_t guard = 0; guard < 50000000ull; guard++) {
		if (pred && pred())
			return true;
		if (DeliverOne()) {
			if (++since_flush == 16) {
				since_flush = 0;
				FlushAll();
			}
			continue;
		}
		since_flush = 0;
		FlushAll();
		if (DeliverOne() || ReleaseHeld())
			continue;
		uint64_t next = UINT64_MAX;
		for (LinkEnd *e : ends_)
			next = std::min(next, gsn_link_next_deadline(e->link));
		if (next == UINT64_MAX || next > deadline) {
			now = std::max(now, deadline);
			return pred ? pred() : true;
		}
		now = std::max(now, next);
		std::vector<LinkEnd *> due;
		for (LinkEnd *e : ends_)
			if (gsn_link_next_deadline(e->link) <= now)
				due.push_back(e);
		for (LinkEnd *e : due)
			gsn_link_tick(e->link);
	}
	ADD_FAILURE() << "World::RunUntil: no progress";
	return false;
}

// ---- Endpoint ---------------------------------------------------------------

static gsn_link_config EndpointLinkCfg(const gsn_link_config *lcfg, uint32_t incarnation)
{
	gsn_link_config c = lcfg ? *lcfg : LinkCfg(incarnation);

	c.incarnation = incarnation;
	return c;
}

static gsn_msg_config DefaultMsgCfg()
{
	gsn_msg_config c;

	gsn_msg_config_default(&c);
	return c;
}

Endpoint::Endpoint(World &w, uint8_t ula_n, uint32_t incarnation, const gsn_link_config *lcfg,
		   const gsn_msg_config *mc)
	: world(w), ula(MakeUla(ula_n)), mcfg(mc ? *mc : DefaultMsgCfg()),
	  end(w, EndpointLinkCfg(lcfg, incarnation), "ep" + std::to_string(ula_n))
{
	std::memcpy(mcfg.ula, ula.data(), GSN_ULA_LEN);
	end.on_rx = [this](const gsn_mpkt_ctl *c, const uint8_t *d) {
		if (tap) {
			Mpkt m;
			m.ctl = *c;
			std::memcpy(m.data.data(), d, 32);
			raw.push_back(m);
		}
		gsn_msg_link_rx(msg, c, d);
	};
	end.on_tx_ready = [this](unsigned vc) { gsn_msg_link_tx_ready(msg, vc); };
	end.on_event = [this](gsn_link_event ev, uint32_t inc) { gsn_msg_link_event(msg, ev, inc); };
	Create();
}

Endpoint::~Endpoint()
{
	gsn_msg_destroy(msg);
}

void Endpoint::Create()
{
	gsn_msg_ops ops{};
	ops.ctx = this;
	ops.deliver = [](void *ctx, unsigned vc, const uint8_t *src, const uint8_t *dst,
			 uint16_t et, const uint8_t *pdu, size_t len) -> bool {
		auto *e = static_cast<Endpoint *>(ctx);
		RxMsg m;
		m.vc = vc;
		std::memcpy(m.src.data(), src, 6);
		std::memcpy(m.dst.data(), dst, 6);
		m.ethertype = et;
		m.pdu.assign(pdu, pdu + len);
		e->got.push_back(std::move(m));
		if (!e->consume)
			e->kept.emplace_back(vc, gsn_msg_mpkts(len));
		return e->consume;
	};
	ops.admin = [](void *ctx, const gsn_mpkt_ctl *c, const uint8_t *d) {
		auto *e = static_cast<Endpoint *>(ctx);
		Mpkt m;
		m.ctl = *c;
		std::memcpy(m.data.data(), d, 32);
		e->admin.push_back(m);
	};
	ops.tx_space = [](void *ctx, unsigned vc) {
		auto *e = static_cast<Endpoint *>(ctx);
		e->tx_space[vc & 3]++;
		if (e->on_tx_space)
			e->on_tx_space(vc);
	};
	int rc = gsn_msg_create(&mcfg, end.link, &ops, &msg);
	EXPECT_EQ(rc, 0);
}

int Endpoint::Send(unsigned vc, const Ula &dst, const Bytes &pdu, uint16_t ethertype)
{
	iovec iov{const_cast<uint8_t *>(pdu.data()), pdu.size()};

	return gsn_msg_send(msg, vc, dst.data(), ethertype, &iov, 1);
}

void Endpoint::ReleaseAll()
{
	for (auto &k : kept)
		gsn_msg_release(msg, k.first, k.second);
	kept.clear();
}

void Endpoint::Restart(uint32_t incarnation)
{
	gsn_msg_destroy(msg);
	msg = nullptr;
	end.Recreate(incarnation);
	got.clear();
	kept.clear();
	Create();
	end.Start();
}

struct gsn_msg_stats Endpoint::Stats() const
{
	struct gsn_msg_stats s;

	gsn_msg_stats(msg, &s);
	return s;
}

// ---- Outbox -----------------------------------------------------------------

Outbox::Outbox(Endpoint &e) : ep_(e)
{
	ep_.on_tx_space = [this](unsigned) { Pump(); };
}

void Outbox::Add(unsigned vc, const Ula &dst, const Bytes &pdu, uint16_t ethertype)
{
	q_[vc].push_back({dst, pdu, ethertype});
}

void Outbox::Pump()
{
	for (bool moved = true; moved;) {
		moved = false;
		for (unsigned vc = 0; vc < 4; vc++) {
			if (q_[vc].empty())
				continue;
			Item &it = q_[vc].front();
			int rc = ep_.Send(vc, it.dst, it.pdu, it.ethertype);
			if (rc == 0) {
				q_[vc].pop_front();
				sent++;
				moved = true;
			} else if (rc != -EAGAIN) {
				ADD_FAILURE() << "gsn_msg_send: " << rc;
				q_[vc].pop_front();
			}
		}
	}
}

bool Outbox::Empty() const
{
	for (auto &q : q_)
		if (!q.empty())
			return false;
	return true;
}

// ---- Switch -----------------------------------------------------------------

Switch::Switch(World &w, unsigned nports, uint32_t inc_base, bool broadcast,
	       const gsn_link_config *lcfg)
	: world(w)
{
	gsn_xbar_config xc{};
	xc.nports = nports;
	xc.broadcast = broadcast;
	xc.name = "sw";
	gsn_xbar_ops ops{};
	ops.ctx = this;
	ops.route = [](void *ctx, const uint8_t *d) -> int {
		auto *s = static_cast<Switch *>(ctx);
		Ula u;
		std::memcpy(u.data(), d, 6);
		auto it = s->routes.find(u);
		return it == s->routes.end() ? -1 : it->second;
	};
	ops.admin = [](void *ctx, unsigned port, const gsn_mpkt_ctl *c, const uint8_t *d) {
		auto *s = static_cast<Switch *>(ctx);
		Mpkt m;
		m.ctl = *c;
		std::memcpy(m.data.data(), d, 32);
		s->admin.emplace_back(port, m);
	};
	EXPECT_EQ(gsn_xbar_create(&xc, &ops, &x), 0);
	for (unsigned p = 0; p < nports; p++) {
		gsn_link_config c = lcfg ? *lcfg : LinkCfg(0);
		c.incarnation = inc_base + p;
		ports.push_back(std::make_unique<LinkEnd>(w, c, "sw.p" + std::to_string(p)));
		LinkEnd &e = *ports.back();
		e.on_rx = [this, p](const gsn_mpkt_ctl *c2, const uint8_t *d) {
			gsn_xbar_link_rx(x, p, c2, d);
		};
		e.on_tx_ready = [this, p](unsigned vc) { gsn_xbar_link_tx_ready(x, p, vc); };
		e.on_event = [this, p](gsn_link_event ev, uint32_t inc) {
			gsn_xbar_link_event(x, p, ev, inc);
		};
		EXPECT_EQ(gsn_xbar_attach(x, p, e.link), 0);
	}
}

Switch::~Switch()
{
	gsn_xbar_destroy(x);
}

struct gsn_xbar_port_stats Switch::Stats(unsigned p) const
{
	struct gsn_xbar_port_stats s;

	EXPECT_EQ(gsn_xbar_port_stats(x, p, &s), 0);
	return s;
}

} // namespace lktest
