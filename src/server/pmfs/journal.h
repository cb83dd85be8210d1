// SPDX-License-Identifier: BSD-3-Clause
//
// journal.h - crash atomicity for pmfs metadata: an undo log in independent
// lanes.
//
// Protocol of one transaction (Tx), on the lane of the calling thread:
//   1. log(): snapshot every range about to change, bits(): record block
//      allocations/frees, defer_store(): queue an 8-byte store into an
//      existing structure. Nothing on media that is reachable changes yet;
//      new blocks (not yet linked anywhere) may be written freely.
//   2. ready(): one drain makes the records (and every new block and data
//      the thread flushed) durable; then the queued stores and bitmap bits
//      are applied. The caller now modifies the logged ranges in place.
//   3. commit(): flush the logged ranges, drain, clear the lane head, drain.
// A crash anywhere before the lane head is cleared is rolled back at mount
// by Journal::recover(), newest record first. Bitmap changes are logged
// logically (which bits), so two lanes may touch one bitmap word.
//
// Rule that makes undo safe with several lanes: a physical range (log()) may
// only be logged by a transaction that holds, until commit, the lock that
// owns that range (the inode's rwlock for its zus_inode and radix nodes, the
// namespace lock for directory blocks).
//
// Thread safety: a Tx belongs to one thread. Lanes are picked per thread
// (round robin on first use), each with its own mutex, so transactions of
// different threads run in parallel. The hot paths allocate nothing: a lane
// holds fixed-size arrays for its running transaction.
#ifndef ZUS_PMFS_JOURNAL_H
#define ZUS_PMFS_JOURNAL_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>

#include "server/pmfs/layout.h"

struct zus_sb_info;
struct zus_inode_info;

namespace zus::pmfs {

// Points where a test can simulate a crash (set_tx_fault_hook). The hook
// returns true to "crash": the transaction stops there, its lane stays live
// and the file system refuses every further request with -EIO until umount.
enum class TxPoint {
	kLogged,   // records durable, nothing modified yet
	kModified, // all modifications done and flushed, not committed
};
using TxFaultHook = bool (*)(TxPoint point);
void set_tx_fault_hook(TxFaultHook hook);

struct BitsRun {
	uint64_t bn, n;
	bool set;
};

struct Lane {
	static constexpr int kMaxRanges = 1024;
	static constexpr int kMaxBits = 1024;
	static constexpr int kMaxStores = 1024;

	std::mutex mu;
	pmfs_lane_head *head = nullptr;
	char *area = nullptr; // records start here
	size_t cap = 0;
	uint32_t counter = 0;
	// Transactions committed on this lane (written under mu, read by
	// Journal::commits() without it).
	std::atomic<uint64_t> commits{ 0 };

	// The running transaction (valid while mu is held).
	size_t used = 0;
	pmfs_log_rec *last_rec = nullptr;
	uint32_t last_payload_crc = 0;
	struct Range {
		const char *p;
		size_t n;
	} ranges[kMaxRanges];
	int nranges = 0;
	BitsRun bits[kMaxBits];
	int nbits = 0;
	struct Store {
		uint64_t *addr;
		uint64_t val;
	} stores[kMaxStores];
	int nstores = 0;
	// Orphan-table entries this transaction fills or clears: their DRAM
	// state settles when it commits or aborts (OrphanTable, inode.h).
	static constexpr int kMaxOrphanOps = 8;
	struct OrphanOp {
		uint32_t idx;
		bool add;
	} orphan_ops[kMaxOrphanOps];
	int norphan_ops = 0;
	// T2 blocks whose leaves this transaction drops: back to the T2
	// allocator only when it commits (tier.h).
	static constexpr int kMaxT2Frees = 1024;
	uint64_t t2_frees[kMaxT2Frees];
	int nt2_frees = 0;
};

class Journal {
  public:
	void init(zus_sb_info *sbi);
	// Undo every lane that holds an uncommitted transaction. Returns the
	// number of transactions rolled back.
	int recover();
	Lane &lane_for_this_thread();
	// Transactions committed since mount, all lanes (zufusectl stats).
	uint64_t commits() const;

  private:
	zus_sb_info *sbi_ = nullptr;
	std::unique_ptr<Lane[]> lanes_;
	uint32_t nlanes_ = 0;
};

class Tx {
  public:
	explicit Tx(zus_sb_info &sbi);
	~Tx();
	Tx(const Tx &) = delete;
	Tx &operator=(const Tx &) = delete;

	// Phase 1 (before ready). All return 0 or -ENOSPC (lane full).
	int log(const void *p, size_t n);
	int bits(uint64_t bn, uint64_t n, bool set);
	int defer_store(uint64_t *addr, uint64_t val);
	// The value queued for addr by defer_store, or *addr.
	uint64_t peek(const uint64_t *addr) const;
	// Number of blocks this transaction marks used so far.
	uint64_t blocks_set() const;
	// Orphan-table entry idx is filled (add) or cleared by this
	// transaction (OrphanTable only): -ENOSPC when too many.
	int note_orphan(uint32_t idx, bool add);
	// T2 block t2 is free once this transaction commits (an abort keeps
	// it: the leaf naming it stays). -ENOSPC when too many.
	int free_t2(uint64_t t2);

	// Phase 2: 0, or -EIO after a simulated crash.
	int ready();
	// Phase 3: blocks freed by this transaction go back to the allocator
	// (deferred while owner has pinned blocks).
	int commit(zus_inode_info *owner = nullptr);

	bool is_ready() const { return state_ == State::kReady; }

  private:
	enum class State { kOpen, kReady, kDone };
	int append(uint16_t type, uint64_t off, const void *payload,
		   uint32_t len);
	void apply_bits(const BitsRun &b, bool undo);
	void settle_orphans(bool committed);

	zus_sb_info &sbi_;
	Lane &lane_;
	std::unique_lock<std::mutex> lock_;
	uint64_t seq_;
	pmfs_log_rec *last_bits_ = nullptr;
	State state_ = State::kOpen;
};

} // namespace zus::pmfs

#endif // ZUS_PMFS_JOURNAL_H
