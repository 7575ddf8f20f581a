// SPDX-License-Identifier: MIT
#include "st_harness.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace sttest {

namespace {

int CbSend(void *ctx, const uint8_t dst[ST_ULA_LEN], unsigned vc,
		      const uint8_t hdr[ST_HDR_LEN], const struct iovec *payload, unsigned iovcnt)
{
	auto *ep = static_cast<Endpoint *>(ctx);
	return ep->net->LowerSend(ep, dst, vc, hdr, payload, iovcnt);
}

uint64_t CbNow(void *ctx)
{
	return static_cast<Endpoint *>(ctx)->net->now();
}

int CbRead(void *ctx, void *cookie, uint64_t off, void *dst, size_t len)
{
	auto *ep = static_cast<Endpoint *>(ctx);
	auto *r = static_cast<Region *>(cookie);
	if (r == nullptr || r->ep != ep->idx) {
		ADD_FAILURE() << EpName(ep->idx) << ": mem_read with a foreign or null cookie";
		return -EFAULT;
	}
	return ep->net->MemAccess(r, off, dst, len, false);
}

int CbWrite(void *ctx, void *cookie, uint64_t off, const void *src, size_t len)
{
	auto *ep = static_cast<Endpoint *>(ctx);
	auto *r = static_cast<Region *>(cookie);
	if (r == nullptr || r->ep != ep->idx) {
		ADD_FAILURE() << EpName(ep->idx) << ": mem_write with a foreign or null cookie";
		return -EFAULT;
	}
	return ep->net->MemAccess(r, off, const_cast<void *>(src), len, true);
}

const char *RejectName(unsigned r)
{
	static const char *const names[] = {
		"NONE",      "BAD_OPCODE", "BAD_RANGE", "ACCESS",   "NO_TRANSFER", "NO_SLOTS",
		"NOT_READY", "LENGTH",     "NO_LISTENER", "ETHERTYPE", "BAD_PARAM", "RESOURCES",
		"REFUSED",   "BAD_KEY",    "ABORTED",   "BAD_FUNCTION",
	};
	return r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

std::string Flags(uint16_t f)
{
	std::string s;
	if (f & ST_FLAG_SILENT)
		s += " Sil";
	if (f & ST_FLAG_INTERRUPT)
		s += " Int";
	if (f & ST_FLAG_SEND_STATE)
		s += " S";
	if (f & ST_FLAG_OUT_OF_ORDER)
		s += " OoO";
	if (f & ST_FLAG_LAST)
		s += " Last";
	return s;
}

uint64_t Hi32Lo32(uint32_t hi, uint32_t lo) { return (uint64_t)hi << 32 | lo; }

}  // namespace

// ---- formatting -------------------------------------------------------------

std::string EpName(int ep)
{
	if (ep >= 0 && ep < 26)
		return std::string(1, (char)('A' + ep));
	return "?" + std::to_string(ep);
}

const char *OpShort(unsigned op)
{
	switch (op) {
	case ST_OP_REQUEST_CONNECTION: return "RC";
	case ST_OP_CONNECTION_ANSWER: return "CA";
	case ST_OP_REQUEST_DISCONNECT: return "RD";
	case ST_OP_DISCONNECT_ANSWER: return "DA";
	case ST_OP_DISCONNECT_COMPLETE: return "DC";
	case ST_OP_NOP: return "NOP";
	case ST_OP_REQUEST_MEMORY_REGION: return "RMR";
	case ST_OP_MEMORY_REGION_AVAILABLE: return "MRA";
	case ST_OP_GET: return "GET";
	case ST_OP_REQUEST_TO_SEND: return "RTS";
	case ST_OP_REQUEST_ANSWER: return "RA";
	case ST_OP_REQUEST_TO_RECEIVE: return "RTR";
	case ST_OP_CLEAR_TO_SEND: return "CTS";
	case ST_OP_DATA: return "DATA";
	case ST_OP_REQUEST_STATE: return "RSQ";
	case ST_OP_REQUEST_STATE_RESPONSE: return "RSR";
	case ST_OP_END: return "END";
	case ST_OP_END_ACK: return "EACK";
	default: return "OP?";
	}
}

std::string FormatOp(const OpRecord &r)
{
	char buf[256];
	const st_hdr &h = r.h;
	std::string s = EpName(r.src) + "->" + EpName(r.dst) + " ";
	if (r.decode == ST_HDR_TRUNCATED)
		return s + "<truncated " + std::to_string(r.payload_len) + ">";
	if (!st_opcode_valid(h.op)) {
		snprintf(buf, sizeof(buf), "OP0x%02x", h.op);
		return s + buf;
	}
	s += OpShort(h.op);
	switch (h.op) {
	case ST_OP_REQUEST_CONNECTION:
		snprintf(buf, sizeof(buf),
			 " slots=%u ethertype=0x%04x bufsize=%u key=0x%x max_stu=%u ruport=%u iuport=%u sport=%u",
			 h.param, h.b_id, h.bufx, h.offset, h.sync, h.d_id, h.s_id, h.s_port);
		break;
	case ST_OP_CONNECTION_ANSWER:
		if (h.flags & ST_FLAG_REJECT)
			snprintf(buf, sizeof(buf), " REJ %s(%u)", RejectName(h.param), h.param);
		else
			snprintf(buf, sizeof(buf), " slots=%u bufsize=%u key=0x%x max_stu=%u sport=%u",
				 h.param, h.bufx, h.offset, h.sync, h.s_port);
		break;
	case ST_OP_REQUEST_MEMORY_REGION:
		snprintf(buf, sizeof(buf), " key=0x%" PRIx64 " T_len=%" PRIu64 " id=%u",
			 Hi32Lo32(h.bufx, h.offset), Hi32Lo32(h.sync, h.b_num), h.s_id);
		break;
	case ST_OP_MEMORY_REGION_AVAILABLE:
		snprintf(buf, sizeof(buf), " mx=%u len=%" PRIu64 " id=%u", h.b_id,
			 Hi32Lo32(h.sync, h.b_num), h.d_id);
		break;
	case ST_OP_GET:
		snprintf(buf, sizeof(buf), " fn=%u T_len=%u mx=%u pos=%u:%u did=%u gnum=%u",
			 st_hdr_function(&h), h.param, h.b_id, h.bufx, h.offset, h.d_id, h.s_id);
		break;
	case ST_OP_REQUEST_TO_SEND:
	case ST_OP_REQUEST_TO_RECEIVE:
		snprintf(buf, sizeof(buf), " T_len=%" PRIu64 " id=%u cts_req=%u max_block=%u",
			 Hi32Lo32(h.sync, h.b_num), h.s_id, h.param, h.b_id);
		break;
	case ST_OP_REQUEST_ANSWER:
		if (h.flags & ST_FLAG_REJECT)
			snprintf(buf, sizeof(buf), " REJ %s(%u) op=%s id=%u", RejectName(h.param), h.param,
				 OpShort(h.b_id), h.d_id);
		else
			snprintf(buf, sizeof(buf), " id=%u sid=%u len=%" PRIu64, h.d_id, h.s_id,
				 Hi32Lo32(h.sync, h.b_num));
		break;
	case ST_OP_CLEAR_TO_SEND:
		snprintf(buf, sizeof(buf), " blk=%u bs=%u pos=%u:%u did=%u sid=%u", h.b_num, h.param,
			 h.bufx, h.offset, h.d_id, h.s_id);
		break;
	case ST_OP_DATA:
		snprintf(buf, sizeof(buf), " did=%u sid=%u mx=%u pos=%u:%u stu=%u bnum=%u sync=%u len=%zu",
			 h.d_id, h.s_id, h.b_id, h.bufx, h.offset, h.param, h.b_num, h.sync, r.payload_len);
		break;
	case ST_OP_REQUEST_STATE:
		snprintf(buf, sizeof(buf), " id=%u", h.s_id);
		break;
	case ST_OP_REQUEST_STATE_RESPONSE:
		snprintf(buf, sizeof(buf), " did=%u slots=%u bseq=%u", h.d_id, h.param, h.offset);
		break;
	case ST_OP_END:
		snprintf(buf, sizeof(buf), " did=%u sid=%u mx=%u seq=%u", h.d_id, h.s_id, h.b_id, h.bufx);
		break;
	case ST_OP_END_ACK:
		snprintf(buf, sizeof(buf), " seq=%u", h.bufx);
		break;
	default:
		buf[0] = 0;
		break;
	}
	s += buf;
	s += Flags(h.flags);
	if (r.decode == ST_HDR_BAD_CKSUM)
		s += " BAD_CKSUM";
	return s;
}

// ---- layers -------------------------------------------------------------------

bool Match::Matches(const Packet &p) const
{
	if (op < 0 && function < 0)
		return true;
	st_hdr h{};
	if (st_hdr_decode(p.bytes.data(), p.bytes.size(), &h) == ST_HDR_TRUNCATED)
		return false;
	if (op >= 0 && h.op != (unsigned)op)
		return false;
	if (function >= 0 && st_hdr_function(&h) != (unsigned)function)
		return false;
	return true;
}

void Drop::Push(Packet p)
{
	if (!enabled_ || !o_.match.Matches(p) || dropped_ >= o_.max_drops) {
		Down(std::move(p));
		return;
	}
	seen_++;
	bool drop;
	if (o_.every_nth)
		drop = seen_ % o_.every_nth == 0;
	else
		drop = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < o_.rate;
	if (drop) {
		dropped_++;
		return;
	}
	Down(std::move(p));
}

void Disorder::Push(Packet p)
{
	// Every packet that passes counts towards the release of the held ones.
	bool hold = o_.match.Matches(p) &&
		    std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < o_.rate;
	if (hold) {
		held_.push_back({std::move(p), o_.k});
		held_total_++;
		return;
	}
	Down(std::move(p));
	for (auto it = held_.begin(); it != held_.end();) {
		if (--it->left == 0) {
			Packet q = std::move(it->p);
			it = held_.erase(it);
			Down(std::move(q));
		} else {
			++it;
		}
	}
}

bool Disorder::Flush()
{
	if (!o_.release_when_idle || held_.empty())
		return false;
	Held h = std::move(held_.front());
	held_.pop_front();
	Down(std::move(h.p));
	return true;
}

void Duplicate::Push(Packet p)
{
	bool dup = false;
	if (o_.match.Matches(p) && dups_ < o_.max_dups) {
		seen_++;
		if (o_.every_nth)
			dup = seen_ % o_.every_nth == 0;
		else
			dup = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < o_.rate;
	}
	if (dup) {
		dups_++;
		Down(p);
	}
	Down(std::move(p));
}

void TapLog::Record(const Packet &p, uint64_t now)
{
	OpRecord r;
	r.src = p.src;
	r.dst = p.dst;
	r.vc = p.vc;
	r.decode = st_hdr_decode(p.bytes.data(), p.bytes.size(), &r.h);
	if (p.bytes.size() >= ST_HDR_LEN) {
		r.payload_len = p.bytes.size() - ST_HDR_LEN;
		r.payload.assign(p.bytes.begin() + ST_HDR_LEN, p.bytes.end());
	} else {
		r.payload_len = p.bytes.size();
	}
	r.at_ns = now;
	r.seq = next_seq_++;
	recs_.push_back(std::move(r));
}

size_t TapLog::Count(int op, int src, int dst) const
{
	size_t n = 0;
	for (const auto &r : recs_)
		if ((op < 0 || r.h.op == (unsigned)op) && (src < 0 || r.src == src) &&
		    (dst < 0 || r.dst == dst))
			n++;
	return n;
}

std::vector<unsigned> TapLog::Ops(int src, int dst) const
{
	std::vector<unsigned> v;
	for (const auto &r : recs_)
		if ((src < 0 || r.src == src) && (dst < 0 || r.dst == dst))
			v.push_back(r.h.op);
	return v;
}

std::vector<OpRecord> TapLog::Filter(int op, int src, int dst) const
{
	std::vector<OpRecord> v;
	for (const auto &r : recs_)
		if ((op < 0 || r.h.op == (unsigned)op) && (src < 0 || r.src == src) &&
		    (dst < 0 || r.dst == dst))
			v.push_back(r);
	return v;
}

std::string TapLog::Trace() const
{
	std::ostringstream os;
	for (const auto &r : recs_) {
		char t[32];
		snprintf(t, sizeof(t), "%10.6f ", (double)(r.at_ns - kStartNs) / 1e9);
		os << t << FormatOp(r) << "\n";
	}
	return os.str();
}

void Tap::Push(Packet p)
{
	log_->Record(p, net_->now());
	Down(std::move(p));
}

// ---- the network ------------------------------------------------------------------

Net::Net(int n, const Tweak &tweak)
{
	for (int i = 0; i < n; i++) {
		auto ep = std::make_unique<Endpoint>();
		ep->net = this;
		ep->idx = i;
		st_config_default(&ep->cfg);
		const uint8_t ula[ST_ULA_LEN] = {0x02, 0, 0, 0, 0, (uint8_t)(i + 1)};
		memcpy(ep->cfg.ula, ula, ST_ULA_LEN);
		if (tweak)
			tweak(i, &ep->cfg);
		st_lower_ops lower{};
		lower.send = CbSend;
		lower.now_ns = CbNow;
		lower.mem_read = CbRead;
		lower.mem_write = CbWrite;
		lower.ctx = ep.get();
		int rc = st_engine_create(&ep->cfg, &lower, &ep->eng);
		EXPECT_EQ(0, rc) << "st_engine_create for " << EpName(i);
		if (rc != 0)
			ep->eng = nullptr;
		eps_.push_back(std::move(ep));
	}
}

Net::~Net()
{
	for (auto &ep : eps_)
		if (ep->eng)
			st_engine_destroy(ep->eng);
}

int Net::Find(const uint8_t ula[ST_ULA_LEN]) const
{
	for (const auto &ep : eps_)
		if (memcmp(ep->cfg.ula, ula, ST_ULA_LEN) == 0)
			return ep->idx;
	return -1;
}

Region *Net::AddRegion(int ep, size_t len, unsigned access, uint64_t key)
{
	auto r = std::make_unique<Region>();
	r->net = this;
	r->ep = ep;
	r->bytes.assign(len, 0);
	r->access = access;
	r->key = key ? key : 0x5100000000ull + (uint64_t)(ep + 1) * 0x10000 + ++key_seq_;
	int rc = st_region_register(eng(ep), len, access, r->key, r.get(), &r->mx);
	EXPECT_EQ(0, rc) << "st_region_register on " << EpName(ep);
	EXPECT_NE(0, r->mx) << "Mx 0 is reserved";
	Region *raw = r.get();
	eps_[ep]->regions.push_back(std::move(r));
	return raw;
}

void Net::FillPattern(std::vector<uint8_t> &v, uint32_t seed)
{
	std::mt19937 g(seed);
	for (auto &b : v)
		b = (uint8_t)g();
}

void Net::FillPattern(Region *r, uint32_t seed) { FillPattern(r->bytes, seed); }

Net::Link &Net::LinkFor(int src, int dst) { return links_[{src, dst}]; }

void Net::Rebind(Link &link)
{
	for (size_t i = 0; i < link.layers.size(); i++) {
		if (i + 1 < link.layers.size()) {
			Layer *next = link.layers[i + 1].get();
			link.layers[i]->Bind([next](Packet p) { next->Push(std::move(p)); });
		} else {
			link.layers[i]->Bind([this](Packet p) { EnqueueFromLink(std::move(p)); });
		}
	}
}

void Net::PushLayer(int src, int dst, std::unique_ptr<Layer> layer)
{
	Link &l = LinkFor(src, dst);
	l.layers.push_back(std::move(layer));
	Rebind(l);
}

std::shared_ptr<TapLog> Net::TapBoth(int a, int b)
{
	auto log = std::make_shared<TapLog>();
	AddLayer<Tap>(a, b, this, log);
	AddLayer<Tap>(b, a, this, log);
	last_log_ = log;
	return log;
}

std::shared_ptr<TapLog> Net::TapAll()
{
	auto log = std::make_shared<TapLog>();
	for (int a = 0; a < size(); a++)
		for (int b = 0; b < size(); b++)
			if (a != b)
				AddLayer<Tap>(a, b, this, log);
	last_log_ = log;
	return log;
}

std::string Net::Trace() const { return last_log_ ? last_log_->Trace() : std::string("(no tap)\n"); }

int Net::LowerSend(Endpoint *from, const uint8_t dst[ST_ULA_LEN], unsigned vc, const uint8_t *hdr,
		   const struct iovec *iov, unsigned iovcnt)
{
	if (from->fail_sends > 0) {
		from->fail_sends--;
		return -EIO;
	}
	Packet p;
	p.src = from->idx;
	p.vc = vc;
	p.bytes.assign(hdr, hdr + ST_HDR_LEN);
	for (unsigned i = 0; i < iovcnt; i++) {
		const uint8_t *b = static_cast<const uint8_t *>(iov[i].iov_base);
		if (iov[i].iov_len)
			p.bytes.insert(p.bytes.end(), b, b + iov[i].iov_len);
	}
	from->sent++;
	st_hdr h{};
	int dec = st_hdr_decode(p.bytes.data(), p.bytes.size(), &h);
	if (dec != ST_HDR_OK) {
		harness_errors_++;
		ADD_FAILURE() << EpName(from->idx) << " sent an undecodable header (" << dec << ")";
	} else {
		unsigned want_vc = h.op == ST_OP_DATA ? from->cfg.data_vc : 0u;
		if (vc != want_vc) {
			harness_errors_++;
			ADD_FAILURE() << EpName(from->idx) << " sent " << OpShort(h.op) << " on VC" << vc
				      << ", expected VC" << want_vc;
		}
		if (p.bytes.size() - ST_HDR_LEN > gsn_vc_max_st_payload(vc)) {
			harness_errors_++;
			ADD_FAILURE() << EpName(from->idx) << " sent " << OpShort(h.op) << " with "
				      << p.bytes.size() - ST_HDR_LEN << " payload bytes, more than VC"
				      << vc << " carries";
		}
		if (h.flags & ST_FLAG_RESERVED) {
			harness_errors_++;
			ADD_FAILURE() << EpName(from->idx) << " sent reserved flag bits";
		}
	}
	p.dst = Find(dst);
	if (p.dst < 0)
		return 0;  // nobody there: the network loses it
	Link &l = LinkFor(p.src, p.dst);
	if (l.layers.empty())
		EnqueueFromLink(std::move(p));
	else
		l.layers.front()->Push(std::move(p));
	return 0;
}

int Net::MemAccess(Region *r, uint64_t off, void *buf, size_t len, bool write)
{
	if (off > r->bytes.size() || len > r->bytes.size() - off) {
		harness_errors_++;
		ADD_FAILURE() << EpName(r->ep) << ": mem_" << (write ? "write" : "read")
			      << " out of bounds: Mx " << r->mx << " off " << off << " len " << len
			      << " region " << r->bytes.size();
		return -EFAULT;
	}
	if (len == 0)
		return 0;
	if (write) {
		memcpy(r->bytes.data() + off, buf, len);
		r->writes++;
	} else {
		memcpy(buf, r->bytes.data() + off, len);
		r->reads++;
	}
	return 0;
}

void Net::Drain()
{
	for (auto &ep : eps_) {
		if (!ep->eng)
			continue;
		st_event ev;
		while (st_poll_event(ep->eng, &ev)) {
			ep->events.push_back(ev);
			ep->event_times.push_back(now_);
		}
	}
}

bool Net::DeliverOne()
{
	if (queue_.empty())
		return false;
	Packet p = std::move(queue_.front());
	queue_.pop_front();
	Endpoint &dst = *eps_[p.dst];
	if (dst.eng)
		st_input(dst.eng, eps_[p.src]->cfg.ula, p.vc, p.bytes.data(), p.bytes.size());
	Drain();
	return true;
}

bool Net::FlushLayers()
{
	for (auto &kv : links_)
		for (auto &l : kv.second.layers)
			if (l->Flush())
				return true;
	return false;
}

uint64_t Net::EarliestDeadline() const
{
	uint64_t d = UINT64_MAX;
	for (const auto &ep : eps_)
		if (ep->eng)
			d = std::min(d, st_next_deadline(ep->eng));
	return d;
}

void Net::TickAll()
{
	for (auto &ep : eps_)
		if (ep->eng)
			st_tick(ep->eng);
	Drain();
}

bool Net::Run(const std::function<bool()> *pred, uint64_t max_virtual_ns, bool *pred_ok)
{
	uint64_t limit = now_ + max_virtual_ns < now_ ? UINT64_MAX : now_ + max_virtual_ns;
	Drain();
	for (uint64_t steps = 0;; steps++) {
		if (pred && (*pred)()) {
			*pred_ok = true;
			return true;
		}
		if (steps >= step_cap_) {
			ADD_FAILURE() << "livelock: " << steps << " steps without going idle (virtual time "
				      << (now_ - kStartNs) << " ns)";
			return false;
		}
		if (DeliverOne())
			continue;
		if (FlushLayers())
			continue;
		uint64_t d = EarliestDeadline();
		if (d == UINT64_MAX || d > limit)
			break;
		if (d > now_)
			now_ = d;
		TickAll();
	}
	if (pred)
		*pred_ok = (*pred)();
	return true;
}

uint64_t Net::RunUntilIdle(uint64_t max_virtual_ns)
{
	bool ok = false;
	uint64_t before = now_;
	Run(nullptr, max_virtual_ns, &ok);
	return now_ - before;
}

bool Net::RunUntil(const std::function<bool()> &pred, uint64_t max_virtual_ns)
{
	bool ok = false;
	Run(&pred, max_virtual_ns, &ok);
	return ok;
}

int Net::Inject(int ep, const uint8_t src_ula[ST_ULA_LEN], unsigned vc, const void *op, size_t len)
{
	int rc = st_input(eng(ep), src_ula, vc, op, len);
	Drain();
	return rc;
}

int Net::Inject(int ep, const uint8_t src_ula[ST_ULA_LEN], unsigned vc, const st_hdr &h,
		const std::vector<uint8_t> &payload, bool with_cksum)
{
	std::vector<uint8_t> buf(ST_HDR_LEN);
	st_hdr_encode(&h, buf.data(), with_cksum);
	buf.insert(buf.end(), payload.begin(), payload.end());
	return Inject(ep, src_ula, vc, buf.data(), buf.size());
}

// ---- events -------------------------------------------------------------------------

const st_event *Net::FindEvent(int ep, const EventPred &pred) const
{
	for (const auto &e : eps_[ep]->events)
		if (pred(e))
			return &e;
	return nullptr;
}

const st_event *Net::FindEvent(int ep, st_event_type type) const
{
	return FindEvent(ep, [type](const st_event &e) { return e.type == type; });
}

const st_event *Net::FindEvent(int ep, st_event_type type, uint64_t user_ctx) const
{
	return FindEvent(ep, [=](const st_event &e) { return e.type == type && e.user_ctx == user_ctx; });
}

const st_event *Net::FindCompletion(int ep, uint64_t user_ctx, st_req_kind kind) const
{
	return FindEvent(ep, [=](const st_event &e) {
		return (e.type == ST_EV_COMPLETE || e.type == ST_EV_RECV_COMPLETE) && e.kind == kind &&
		       e.user_ctx == user_ctx;
	});
}

size_t Net::CountEvents(int ep, const EventPred &pred) const
{
	size_t n = 0;
	for (const auto &e : eps_[ep]->events)
		n += pred(e) ? 1 : 0;
	return n;
}

size_t Net::CountEvents(int ep, st_event_type type) const
{
	return CountEvents(ep, [type](const st_event &e) { return e.type == type; });
}

uint64_t Net::EventTime(int ep, const EventPred &pred) const
{
	const auto &ev = eps_[ep]->events;
	for (size_t i = 0; i < ev.size(); i++)
		if (pred(ev[i]))
			return eps_[ep]->event_times[i];
	return 0;
}

std::string Net::DumpEvents(int ep) const
{
	std::ostringstream os;
	for (const auto &e : eps_[ep]->events)
		os << "  " << EpName(ep) << " ev type=" << e.type << " kind=" << e.kind
		   << " status=" << e.status << " reason=" << e.reason << " vc=" << e.vc
		   << " ctx=0x" << std::hex << e.user_ctx << std::dec << " len=" << e.len << "\n";
	return os.str();
}

st_event Net::WaitEvent(int ep, const EventPred &pred, uint64_t max_virtual_ns)
{
	if (!RunUntil([&] { return FindEvent(ep, pred) != nullptr; }, max_virtual_ns)) {
		ADD_FAILURE() << "event did not arrive at " << EpName(ep) << "\n"
			      << DumpEvents(ep) << Trace();
		return st_event{};
	}
	return *FindEvent(ep, pred);
}

st_event Net::WaitEvent(int ep, st_event_type type, uint64_t user_ctx, uint64_t max_virtual_ns)
{
	return WaitEvent(
		ep, [=](const st_event &e) { return e.type == type && e.user_ctx == user_ctx; },
		max_virtual_ns);
}

st_event Net::WaitCompletion(int ep, uint64_t user_ctx, st_req_kind kind, uint64_t max_virtual_ns)
{
	return WaitEvent(
		ep,
		[=](const st_event &e) {
			return (e.type == ST_EV_COMPLETE || e.type == ST_EV_RECV_COMPLETE) &&
			       e.kind == kind && e.user_ctx == user_ctx;
		},
		max_virtual_ns);
}

// ---- helpers ----------------------------------------------------------------------

VcPair Net::Connect(int a, int b, const ConnectOptions &o)
{
	VcPair vp;
	Endpoint &B = *eps_[b];
	if (o.listen && !B.listening.count(o.uport)) {
		st_listen_params lp{};
		lp.ethertype = o.listen_ethertype;
		lp.manual_accept = false;
		int rc = st_listen(B.eng, o.uport, &lp);
		EXPECT_EQ(0, rc) << "st_listen";
		if (rc != 0)
			return vp;
		B.listening.insert(o.uport);
	}
	size_t a_first = eps_[a]->events.size();
	size_t b_first = B.events.size();
	st_connect_params cp{};
	memcpy(cp.peer, B.cfg.ula, ST_ULA_LEN);
	cp.uport = o.uport;
	cp.local_uport = o.local_uport;
	cp.ethertype = o.ethertype;
	uint16_t va = 0;
	int rc = st_connect(eps_[a]->eng, &cp, o.user_ctx, &va);
	EXPECT_EQ(0, rc) << "st_connect";
	if (rc != 0)
		return vp;
	EXPECT_NE(0, va);
	auto a_done = [&]() -> const st_event * {
		const auto &ev = eps_[a]->events;
		for (size_t i = a_first; i < ev.size(); i++)
			if ((ev[i].type == ST_EV_CONNECTED || ev[i].type == ST_EV_REFUSED) && ev[i].vc == va)
				return &ev[i];
		return nullptr;
	};
	if (!RunUntil([&] { return a_done() != nullptr; }, 30 * kSec)) {
		ADD_FAILURE() << "connect " << EpName(a) << "->" << EpName(b) << " did not finish\n"
			      << DumpEvents(a) << Trace();
		return vp;
	}
	const st_event *ea = a_done();
	EXPECT_EQ(ST_EV_CONNECTED, ea->type) << "status " << ea->status << " reason " << ea->reason;
	if (ea->type != ST_EV_CONNECTED)
		return vp;
	EXPECT_EQ(o.user_ctx, ea->user_ctx);
	VcInfo ia{};
	EXPECT_EQ(0, st_vc_info(eps_[a]->eng, va, &ia));
	EXPECT_EQ(ST_VC_OPEN, ia.state);
	uint16_t vb = ia.peer_port;
	bool b_connected = false;
	for (size_t i = b_first; i < B.events.size(); i++)
		if (B.events[i].type == ST_EV_CONNECTED && B.events[i].vc == vb)
			b_connected = true;
	EXPECT_TRUE(b_connected) << "no ST_EV_CONNECTED for port " << vb << " at " << EpName(b) << "\n"
				 << DumpEvents(b);
	VcInfo ib{};
	EXPECT_EQ(0, st_vc_info(B.eng, vb, &ib));
	EXPECT_EQ(ST_VC_OPEN, ib.state);
	EXPECT_EQ(va, ib.peer_port);
	if (!b_connected)
		return vp;
	vp.a = va;
	vp.b = vb;
	return vp;
}

bool Net::Disconnect(int a, uint16_t vc, int b, uint16_t peer_vc)
{
	size_t a_first = eps_[a]->events.size();
	size_t b_first = eps_[b]->events.size();
	int rc = st_disconnect(eng(a), vc);
	EXPECT_EQ(0, rc) << "st_disconnect";
	if (rc != 0)
		return false;
	auto closed = [&](int ep, size_t first, uint16_t port) {
		const auto &ev = eps_[ep]->events;
		for (size_t i = first; i < ev.size(); i++)
			if (ev[i].type == ST_EV_CLOSED && ev[i].vc == port)
				return true;
		return false;
	};
	bool ok = RunUntil([&] { return closed(a, a_first, vc) && closed(b, b_first, peer_vc); }, 30 * kSec);
	EXPECT_TRUE(ok) << "disconnect did not finish\n" << DumpEvents(a) << DumpEvents(b) << Trace();
	return ok;
}

VcInfo Net::Info(int ep, uint16_t vc)
{
	VcInfo i{};
	EXPECT_EQ(0, st_vc_info(eng(ep), vc, &i)) << "st_vc_info(" << EpName(ep) << ", " << vc << ")";
	return i;
}

st_counters Net::Counters(int ep, uint16_t vc)
{
	st_counters c{};
	EXPECT_EQ(0, st_get_counters(eng(ep), vc, &c)) << "st_get_counters(" << EpName(ep) << ", " << vc << ")";
	return c;
}

st_hdr Net::HdrTo(int ep, uint16_t vc, unsigned op, uint8_t src_ula[ST_ULA_LEN])
{
	VcInfo i = Info(ep, vc);
	st_hdr h{};
	h.op = (uint8_t)op;
	h.d_port = i.local_port;
	h.s_port = i.peer_port;
	h.d_key = i.local_key;
	if (src_ula)
		memcpy(src_ula, i.peer, ST_ULA_LEN);
	return h;
}

::testing::AssertionResult BytesEqual(const uint8_t *a, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (a[i] != b[i]) {
			size_t n = 0;
			for (size_t j = i; j < len; j++)
				n += a[j] != b[j];
			return ::testing::AssertionFailure()
			       << "bytes differ first at offset " << i << " (0x" << std::hex << (unsigned)a[i]
			       << " vs 0x" << (unsigned)b[i] << std::dec << "), " << n << " of " << len
			       << " bytes differ";
		}
	}
	return ::testing::AssertionSuccess();
}

::testing::AssertionResult BytesEqual(const std::vector<uint8_t> &a, const std::vector<uint8_t> &b)
{
	if (a.size() != b.size())
		return ::testing::AssertionFailure() << "sizes differ: " << a.size() << " vs " << b.size();
	return BytesEqual(a.data(), b.data(), a.size());
}

}  // namespace sttest
