// SPDX-License-Identifier: BSD-3-Clause
//
// tier_state.h - private to the tier files (tier.cc: promotion and cold
// reads; evict.cc: the evictor; t2_alloc.cc: the T2 allocator and T2
// leaves): the per-superblock tiering state and the ops they all encode.
#ifndef ZUS_PMFS_TIER_STATE_H
#define ZUS_PMFS_TIER_STATE_H

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/pmfs/pmfs.h"
#include "server/pmfs/t2_alloc.h"
#include "server/pmfs/tier.h"

namespace zus::pmfs {

// Per-inode heat (TierState::heat, indexed by ino): set on every READ,
// WRITE and GET_MULTY with relaxed atomics on the inode's own entry (no
// shared lock, no shared cache line per I/O), read by the evictor's clock.
struct Heat {
	std::atomic<uint8_t> ref{ 0 };	 // accessed since the clock last passed
	std::atomic<uint64_t> last{ 0 }; // first block of the last access
	uint64_t cursor = 0;		 // where eviction resumes (evict_mu)
};

// One block on its way to T2.
struct Move {
	uint64_t idx, t1, t2;
};

// An eviction of some blocks of one inode (a reference on ii is held).
// Async: the blocks are copied, under the inode's lock, into a bounce
// slot (the server's pool 1) and go to T2 from there; a block is switched
// only if its T1 content still equals what went to T2, so a write that
// raced the migration (whatever the interleaving) keeps it on T1.
struct Migration {
	zus_inode_info *ii = nullptr;
	uint64_t ino = 0;
	int slot = -1;		// bounce slot (async), -1: none
	char *bounce = nullptr; // its memory: moves[k] at k * 4096
	std::vector<Move> moves;
	int result = 0;
};
constexpr uint32_t kRecent = 4096;    // cold-read filter entries
constexpr uint64_t kEvictBatch = 256; // blocks per migration (1 MiB)

struct TierState {
	std::mutex mu; // alloc, promos
	T2Alloc alloc; // used()/nfree() without mu
	struct Promo {
		uint64_t t2, t1;
		// The token of the RETRY answer that handed it out
		// (zufs_iomap.iomb, zus_api.h): the shim sends it back only
		// with the re-dispatch that follows a successful iomap, so
		// only that request knows the ZUSMEM_READ into t1 has run.
		uint64_t token;
	};
	uint64_t next_token = 0; // the last token handed out (mu)
	// T1 blocks of promotions taken over from a request that had not come
	// back (token -> t1): reused only once that token comes back.
	std::multimap<uint64_t, uint64_t> quarantine;
	// (ino, file block) -> promotion whose ZUSMEM_READ was handed out.
	std::map<std::pair<uint64_t, uint64_t>, Promo> promos;
	std::condition_variable promo_cv; // a promotion was taken out of promos

	uint64_t nino = 0;
	std::unique_ptr<Heat[]> heat; // [0, nino]
	// T2 blocks served by a cold read lately (t2 + 1; direct mapped): a
	// second random read of one of them promotes it.
	std::unique_ptr<std::atomic<uint64_t>[]> recent;

	// Watermarks, in free T1 blocks; the hot-file window, in blocks.
	std::atomic<uint64_t> low{ 0 }, high{ 0 };
	uint64_t window = 1024;

	// Victim selection (the clock over inodes): the evictor thread and
	// tier_make_room. Never taken while an inode's rw is held.
	std::mutex evict_mu;
	uint64_t clock = 1;

	std::mutex super_mu; // s_t2_blocks

	// The evictor thread and its completions (IOM_DONE).
	std::mutex ev_mu;
	std::condition_variable ev_cv;
	bool stop = false;
	std::deque<std::shared_ptr<Migration>> done_q;
	int in_flight = 0;
	uint64_t in_flight_blocks = 0;
	std::thread thread;

	// Bounce slots of the async migrations (registered as pool 1).
	struct FreeMem {
		void operator()(char *p) const { free(p); }
	};
	std::unique_ptr<char, FreeMem> bounce;
	uint32_t slots_used = 0; // bit per slot (ev_mu)

	std::atomic<uint64_t> evicted{ 0 }, sync_evicted{ 0 }, promoted{ 0 },
		cold_reads{ 0 }, aborted{ 0 }, pre_read{ 0 },
		failed_promotions{ 0 }, passes{ 0 }, promo_waits{ 0 },
		room_waits{ 0 };
};

// The tier state of sbi, created on first use.
TierState &tier_of(zus_sb_info &sbi);

inline std::atomic<uint64_t> &recent_slot(TierState &ts, uint64_t t2)
{
	return ts.recent[(t2 * 0x9e3779b97f4a7c15ULL) >> 52];
}

} // namespace zus::pmfs

#endif // ZUS_PMFS_TIER_STATE_H
