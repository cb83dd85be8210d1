// SPDX-License-Identifier: BSD-3-Clause
#include "server/pmfs/journal.h"
#include "server/pmfs/tier.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "server/crc32c.h"
#include "server/pmfs/inode.h"
#include "server/pmfs/pmfs.h"

namespace zus::pmfs {

namespace {

std::atomic<TxFaultHook> g_fault{ nullptr };

// In 64 bits: a corrupt len near 2^32 must not wrap to a small size (found
// by the image fuzzer: recovery then checksummed 4 GiB past the lane).
inline size_t rec_size(uint32_t len)
{
	return sizeof(pmfs_log_rec) + ((uint64_t(len) + 7) & ~uint64_t(7));
}

// Only range records carry a payload; a bits record's len is a block count.
inline uint32_t payload_len(const pmfs_log_rec &r)
{
	return r.type == kLogRange ? r.len : 0;
}

uint32_t rec_crc(const pmfs_log_rec &r, uint32_t payload_crc)
{
	pmfs_log_rec h = r;
	h.crc = 0;
	return crc32c(payload_crc, &h, sizeof(h));
}

bool fault(zus_sb_info &sbi, TxPoint p)
{
	TxFaultHook h = g_fault.load(std::memory_order_relaxed);
	if (h && h(p)) [[unlikely]] {
		sbi.crashed = true;
		return true;
	}
	return false;
}

} // namespace

void set_tx_fault_hook(TxFaultHook hook) { g_fault.store(hook); }

void Journal::init(zus_sb_info *sbi)
{
	sbi_ = sbi;
	nlanes_ = sbi->sb->s_lanes;
	lanes_ = std::make_unique<Lane[]>(nlanes_);
	for (uint32_t i = 0; i < nlanes_; ++i) {
		char *p = sbi->blk(sbi->sb->s_journal_blk +
				   uint64_t(i) * sbi->sb->s_lane_blocks);
		lanes_[i].head = reinterpret_cast<pmfs_lane_head *>(p);
		lanes_[i].area = p + sizeof(pmfs_lane_head);
		lanes_[i].cap = uint64_t(sbi->sb->s_lane_blocks) * kBlockSize -
				sizeof(pmfs_lane_head);
	}
	// The file back-end's commits copy the image out only while no
	// transaction is running (every lane held): a consistent image, as a
	// crash on pmem between transactions. A lane holder never waits for
	// another lane, so taking them in order cannot deadlock.
	sbi->persist.set_commit_barrier([this](bool enter) {
		for (uint32_t i = 0; i < nlanes_; ++i)
			enter ? lanes_[i].mu.lock() :
				lanes_[nlanes_ - 1 - i].mu.unlock();
	});
}

Lane &Journal::lane_for_this_thread()
{
	static std::atomic<uint32_t> next{ 0 };
	thread_local uint32_t mine = next.fetch_add(1);
	return lanes_[mine % nlanes_];
}

uint64_t Journal::commits() const
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < nlanes_; ++i)
		n += lanes_[i].commits.load(std::memory_order_relaxed);
	return n;
}

// Roll one live lane back: collect its valid records, undo newest first.
int Journal::recover()
{
	int rolled = 0;
	for (uint32_t i = 0; i < nlanes_; ++i) {
		Lane &l = lanes_[i];
		uint64_t seq = l.head->active_seq;
		if (!seq)
			continue;

		// Forward scan to find where the valid records end.
		std::vector<pmfs_log_rec *> recs;
		size_t off = 0;
		while (off + sizeof(pmfs_log_rec) <= l.cap) {
			auto *r =
				reinterpret_cast<pmfs_log_rec *>(l.area + off);
			if (r->seq != seq ||
			    off + rec_size(payload_len(*r)) > l.cap)
				break;
			uint32_t pc = crc32c(0, r + 1, payload_len(*r));
			if (rec_crc(*r, pc) != r->crc)
				break;
			recs.push_back(r);
			off += rec_size(payload_len(*r));
		}
		for (auto it = recs.rbegin(); it != recs.rend(); ++it) {
			pmfs_log_rec *r = *it;
			switch (r->type) {
			case kLogRange:
				// Never let a record write outside the metadata +
				// data area (the superblock and the journal itself
				// are not logged).
				if (r->off < sbi_->sb->s_bitmap_blk *
						     kBlockSize ||
				    r->off + r->len > sbi_->map_len)
					break;
				sbi_->persist.memcpy_nodrain(
					sbi_->base + r->off, r + 1, r->len);
				break;
			case kLogBitsSet:
			case kLogBitsClear:
				if (r->off >= sbi_->nblocks() ||
				    r->len > sbi_->nblocks() - r->off)
					break;
				sbi_->balloc.persist_bits(
					r->off, r->len,
					r->type == kLogBitsClear);
				break;
			default:
				break;
			}
		}
		sbi_->persist.drain();
		l.head->active_seq = 0;
		sbi_->persist.persist(l.head, sizeof(*l.head));
		++rolled;
	}
	return rolled;
}

Tx::Tx(zus_sb_info &sbi)
    : sbi_(sbi), lane_(sbi.journal.lane_for_this_thread()), lock_(lane_.mu)
{
	seq_ = (sbi.sb->s_mount_gen << 32) | ++lane_.counter;
	if (!(seq_ & 0xffffffffULL)) // counter wrapped: never use 0
		seq_ = (sbi.sb->s_mount_gen << 32) | ++lane_.counter;
	lane_.used = 0;
	lane_.last_rec = nullptr;
	lane_.nranges = lane_.nbits = lane_.nstores = lane_.norphan_ops = 0;
	lane_.nt2_frees = 0;
	lane_.head->active_seq = seq_;
	sbi_.persist.flush(lane_.head, sizeof(*lane_.head));
}

Tx::~Tx()
{
	if (state_ != State::kOpen)
		return; // committed, or stopped by a simulated crash
	// Abort before anything was modified: give back reserved blocks and
	// retire the lane.
	for (int i = 0; i < lane_.nbits; ++i)
		if (lane_.bits[i].set)
			sbi_.balloc.release(lane_.bits[i].bn, lane_.bits[i].n);
	settle_orphans(false);
	lane_.head->active_seq = 0;
	sbi_.persist.persist(lane_.head, sizeof(*lane_.head));
}

int Tx::append(uint16_t type, uint64_t off, const void *payload, uint32_t len)
{
	if (lane_.used + rec_size(len) > lane_.cap) [[unlikely]]
		return -ENOSPC;
	auto *r = reinterpret_cast<pmfs_log_rec *>(lane_.area + lane_.used);
	r->seq = seq_;
	r->off = off;
	r->len = len;
	r->type = type;
	r->pad = 0;
	r->pad2 = 0;
	uint32_t pc = 0;
	if (len) {
		memcpy(r + 1, payload, len);
		pc = crc32c(0, payload, len);
	}
	r->crc = rec_crc(*r, pc);
	sbi_.persist.flush(r, rec_size(len));
	lane_.last_rec = r;
	lane_.last_payload_crc = pc;
	lane_.used += rec_size(len);
	return 0;
}

int Tx::log(const void *p, size_t n)
{
	const char *c = static_cast<const char *>(p);
	// Already snapshotted: the first snapshot holds the original bytes.
	for (int i = lane_.nranges - 1; i >= 0; --i) {
		const auto &r = lane_.ranges[i];
		if (c >= r.p && c + n <= r.p + r.n)
			return 0;
	}
	if (lane_.nranges == Lane::kMaxRanges) [[unlikely]]
		return -ENOSPC;

	// Contiguous with the last record: grow it instead of adding one
	// (consecutive radix slots, dentry slots).
	pmfs_log_rec *last = lane_.last_rec;
	if (last && last->type == kLogRange && lane_.nranges &&
	    sbi_.base + last->off + last->len == c &&
	    lane_.used + n + 8 <= lane_.cap) {
		auto &lr = lane_.ranges[lane_.nranges - 1];
		char *payload = reinterpret_cast<char *>(last + 1);
		memcpy(payload + last->len, c, n);
		lr.n += n;
		lane_.last_payload_crc = crc32c(lane_.last_payload_crc, c, n);
		last->len += n;
		last->crc = rec_crc(*last, lane_.last_payload_crc);
		lane_.used = reinterpret_cast<char *>(last) - lane_.area +
			     rec_size(last->len);
		sbi_.persist.flush(last, rec_size(last->len));
		return 0;
	}
	int err = append(kLogRange, sbi_.off_of(c), c, n);
	if (err)
		return err;
	lane_.ranges[lane_.nranges++] = { c, n };
	return 0;
}

int Tx::bits(uint64_t bn, uint64_t n, bool set)
{
	// Adjacent to the previous run and still the last record: grow it.
	if (lane_.nbits && last_bits_ &&
	    reinterpret_cast<char *>(last_bits_ + 1) ==
		    lane_.area + lane_.used) {
		BitsRun &b = lane_.bits[lane_.nbits - 1];
		if (b.set == set && b.bn + b.n == bn &&
		    b.n + n < (1ULL << 31)) {
			b.n += n;
			last_bits_->len = static_cast<uint32_t>(b.n);
			last_bits_->crc = rec_crc(*last_bits_, 0);
			sbi_.persist.flush(last_bits_, sizeof(*last_bits_));
			return 0;
		}
	}
	if (lane_.nbits == Lane::kMaxBits) [[unlikely]]
		return -ENOSPC;
	int err = append(set ? kLogBitsSet : kLogBitsClear, bn, nullptr, 0);
	if (err)
		return err;
	// A bits record has no payload: its len is the block count.
	auto *r = lane_.last_rec;
	r->len = static_cast<uint32_t>(n);
	r->crc = rec_crc(*r, 0);
	// append() flushed the record with len 0: flush the final header too
	// (found by the crash-state explorer: without it a crash could keep
	// the bitmap change and lose the record that undoes it).
	sbi_.persist.flush(r, sizeof(*r));
	lane_.last_rec = nullptr; // never grown by log()
	last_bits_ = r;
	lane_.bits[lane_.nbits++] = { bn, n, set };
	return 0;
}

int Tx::defer_store(uint64_t *addr, uint64_t val)
{
	if (lane_.nstores == Lane::kMaxStores) [[unlikely]]
		return -ENOSPC;
	int err = log(addr, sizeof(*addr));
	if (err)
		return err;
	lane_.stores[lane_.nstores++] = { addr, val };
	return 0;
}

uint64_t Tx::peek(const uint64_t *addr) const
{
	for (int i = lane_.nstores - 1; i >= 0; --i)
		if (lane_.stores[i].addr == addr)
			return lane_.stores[i].val;
	return *addr;
}

uint64_t Tx::blocks_set() const
{
	uint64_t n = 0;
	for (int i = 0; i < lane_.nbits; ++i)
		if (lane_.bits[i].set)
			n += lane_.bits[i].n;
	return n;
}

int Tx::note_orphan(uint32_t idx, bool add)
{
	if (lane_.norphan_ops == Lane::kMaxOrphanOps) [[unlikely]]
		return -ENOSPC;
	lane_.orphan_ops[lane_.norphan_ops++] = { idx, add };
	return 0;
}

int Tx::free_t2(uint64_t t2)
{
	if (lane_.nt2_frees == Lane::kMaxT2Frees) [[unlikely]]
		return -ENOSPC;
	lane_.t2_frees[lane_.nt2_frees++] = t2;
	return 0;
}

void Tx::settle_orphans(bool committed)
{
	for (int i = 0; i < lane_.norphan_ops; ++i)
		sbi_.icache->orphans().settle(lane_.orphan_ops[i].idx,
					      lane_.orphan_ops[i].add,
					      committed);
	lane_.norphan_ops = 0;
}

int Tx::ready()
{
	sbi_.persist.drain();
	if (fault(sbi_, TxPoint::kLogged)) {
		state_ = State::kReady;
		return -EIO;
	}
	state_ = State::kReady;
	for (int i = 0; i < lane_.nstores; ++i)
		*lane_.stores[i].addr = lane_.stores[i].val;
	for (int i = 0; i < lane_.nbits; ++i)
		sbi_.balloc.persist_bits(lane_.bits[i].bn, lane_.bits[i].n,
					 lane_.bits[i].set);
	return 0;
}

int Tx::commit(zus_inode_info *owner)
{
	for (int i = 0; i < lane_.nranges; ++i)
		sbi_.persist.flush(lane_.ranges[i].p, lane_.ranges[i].n);
	sbi_.persist.drain();
	if (fault(sbi_, TxPoint::kModified)) {
		state_ = State::kDone;
		return -EIO;
	}
	lane_.head->active_seq = 0;
	sbi_.persist.persist(lane_.head, sizeof(*lane_.head));
	state_ = State::kDone;
	lane_.commits.store(lane_.commits.load(std::memory_order_relaxed) + 1,
			    std::memory_order_relaxed); // we hold lane_.mu
	settle_orphans(true);
	// Read while the lane is held: the file back-end's next commit, which
	// takes every lane first, holds this transaction.
	if (owner)
		owner->meta_epoch.store(sbi_.persist.epoch(),
					std::memory_order_release);
	for (int i = 0; i < lane_.nbits; ++i)
		if (!lane_.bits[i].set)
			sbi_.release_blocks(owner, lane_.bits[i].bn,
					    lane_.bits[i].n);
	// Not before: a T2 block reused while the leaf naming it could still
	// be rolled back (an abort, a crash) would be owned twice.
	for (int i = 0; i < lane_.nt2_frees; ++i)
		t2_free(sbi_, lane_.t2_frees[i]);
	lane_.nt2_frees = 0;
	return 0;
}

} // namespace zus::pmfs
