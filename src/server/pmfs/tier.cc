// SPDX-License-Identifier: BSD-3-Clause
//
// tier.cc - out-of-band iomaps (ZU_IOC_IOMAP_EXEC) and their IOM_DONE.
#include "server/pmfs/tier.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <map>

#include "server/pmfs/bmap.h"
#include "server/pmfs/journal.h"
#include "server/pmfs/pmfs.h"

zus_iomap_build::zus_iomap_build(uint32_t max_entries)
    : msg((sizeof(zufs_ioc_iomap_exec) + size_t(max_entries) * 8 + 7) / 8)
{
	ioc()->ziom.iom_max = max_entries;
	ioc()->ziom.iomb = this;
}

namespace zus::pmfs {

namespace {

std::mutex g_create_mu; // creation of sbi.iom_jobs only

IomapJobs &jobs_of(zus_sb_info &sbi)
{
	std::lock_guard g(g_create_mu);
	if (!sbi.iom_jobs)
		sbi.iom_jobs = std::make_shared<IomapJobs>();
	return *sbi.iom_jobs;
}

void fill_header(zus_sb_info &sbi, IomapJob &job, bool wait)
{
	zufs_ioc_iomap_exec *ioc = job.ioc();
	ioc->hdr.in_len = job.msg.size() * 8 > UINT16_MAX ?
				  UINT16_MAX :
				  uint16_t(job.msg.size() * 8);
	ioc->hdr.out_max = ioc->hdr.in_len;
	ioc->hdr.err = 0;
	ioc->zus_sbi = &sbi;
	ioc->wait_for_done = wait;
	ioc->ziom.iomb = &job;
}

} // namespace

std::unique_ptr<IomapJob> make_iomap_job(uint32_t max_entries)
{
	return std::make_unique<IomapJob>(max_entries);
}

int exec_sync(zus_sb_info &sbi, IomapJob &job)
{
	if (!sbi.zuf)
		return -EOPNOTSUPP;
	fill_header(sbi, job, true);
	int err = sbi.zuf->iomap_exec(job.ioc());
	return err ? err : job.ioc()->hdr.err;
}

int IomapJobs::submit(zus_sb_info &sbi, std::unique_ptr<IomapJob> job,
		      std::function<void(int)> done)
{
	if (!sbi.zuf)
		return -EOPNOTSUPP;
	IomapJob *j = job.get();
	fill_header(sbi, *j, false);
	j->done = std::move(done);
	{
		// In the table before the shim sees it: IOM_DONE may come
		// back on another thread before iomap_exec returns.
		std::lock_guard g(mu_);
		jobs_.emplace(j, std::move(job));
	}
	int err = sbi.zuf->iomap_exec(j->ioc());
	if (err) {
		std::lock_guard g(mu_);
		jobs_.erase(j);
		cv_.notify_all();
	}
	return err;
}

int IomapJobs::complete(zus_iomap_build *iomb, int result)
{
	std::unique_ptr<IomapJob> job;
	{
		std::lock_guard g(mu_);
		auto it = jobs_.find(iomb);
		if (it == jobs_.end())
			return -EINVAL;
		job = std::move(it->second);
		jobs_.erase(it);
	}
	if (job->done)
		job->done(result);
	job.reset();
	std::lock_guard g(mu_);
	cv_.notify_all();
	return 0;
}

void IomapJobs::drain()
{
	std::unique_lock g(mu_);
	cv_.wait(g, [&] { return jobs_.empty(); });
}

size_t IomapJobs::in_flight()
{
	std::lock_guard g(mu_);
	return jobs_.size();
}

int exec_async(zus_sb_info &sbi, std::unique_ptr<IomapJob> job,
	       std::function<void(int)> done)
{
	return jobs_of(sbi).submit(sbi, std::move(job), std::move(done));
}

void drain_iomap_jobs(zus_sb_info &sbi)
{
	std::shared_ptr<IomapJobs> jobs;
	{
		std::lock_guard g(g_create_mu);
		jobs = sbi.iom_jobs;
	}
	if (jobs)
		jobs->drain();
}

int op_iom_done(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *d = reinterpret_cast<zufs_ioc_iomap_done *>(hdr);
	zus_sb_info *sbi = d->zus_sbi;
	// hdr.err is IN here (the iomap's result); the answer goes in it too.
	int result = d->hdr.err;
	if (!sbi || sbi->magic != zus_sb_info::kMagic) {
		d->hdr.err = -EINVAL;
		return -EINVAL;
	}
	std::shared_ptr<IomapJobs> jobs;
	{
		std::lock_guard g(g_create_mu);
		jobs = sbi->iom_jobs;
	}
	int err = jobs ? jobs->complete(d->iomb, result) : -EINVAL;
	d->hdr.err = err;
	return err;
}

} // namespace zus::pmfs

namespace zus::pmfs {

// ---- Where a block lives ---------------------------------------------------

struct TierState {
	std::mutex mu;
	std::vector<uint64_t> bits; // T2 allocation bitmap (DRAM)
	uint64_t cursor = 0;
	std::atomic<uint64_t> used{0};
	struct Promo {
		uint64_t t2, t1;
	};
	// (ino, file block) -> promotion whose ZUSMEM_READ was handed out.
	std::map<std::pair<uint64_t, uint64_t>, Promo> promos;
};

namespace {

// IOM_T2_ZUSMEM_READ/WRITE (zus_api.h's encoding, as iomap::Builder writes
// it; server_lib does not link iomap_lib). 0 or -ENOSPC (iomap full).
int zusmem_op(zufs_iomap &ziom, ZUFS_IOM_TYPE type, uint64_t t2,
	      const void *mem, uint64_t len)
{
	if (ziom.iom_n + 3 > ziom.iom_max)
		return -ENOSPC;
	__u64 *e = &ziom.iom_e[ziom.iom_n];
	_zufs_iom_enc_type_val(&e[0], type, t2);
	e[1] = reinterpret_cast<uintptr_t>(mem);
	e[2] = len;
	ziom.iom_n += 3;
	return 0;
}

TierState &tier_of(zus_sb_info &sbi)
{
	std::lock_guard g(g_create_mu);
	if (!sbi.tier) {
		sbi.tier = std::make_shared<TierState>();
		sbi.tier->bits.assign((sbi.t2_blocks + 63) / 64, 0);
	}
	return *sbi.tier;
}

// One free T2 block (never block 0: a leaf of kT2Leaf alone would look
// like a mapped nothing), 0 when full.
uint64_t t2_alloc(TierState &ts, uint64_t nblocks)
{
	std::lock_guard g(ts.mu);
	for (uint64_t k = 0; k < nblocks; ++k) {
		uint64_t b = (ts.cursor + k) % nblocks;
		if (b == 0 || (ts.bits[b / 64] >> (b % 64)) & 1)
			continue;
		ts.bits[b / 64] |= 1ULL << (b % 64);
		ts.cursor = b + 1;
		ts.used.fetch_add(1, std::memory_order_relaxed);
		return b;
	}
	return 0;
}

// Repoint leaf idx from T2 block t2 to pmem block t1 (allocated in DRAM,
// holding the data): the T1 bit and the leaf in one transaction, then the
// T2 block goes back. ii->rw held exclusively.
int commit_promotion(zus_inode_info *ii, uint64_t idx, uint64_t t2, uint64_t t1)
{
	zus_sb_info &sbi = *ii->sbi;
	zus_inode *zi = ii->zi;
	sbi.persist.flush(sbi.blk(t1), kBlockSize); // data before the pointer
	Tx tx(sbi);
	int err;
	if ((err = tx.bits(t1, 1, true))) {
		sbi.balloc.release(t1, 1);
		return err;
	}
	if ((err = tx.log(zi, sizeof(*zi))))
		return err;
	BmapTx bt(sbi, tx, zi);
	if ((err = bt.replace(idx, t1)))
		return err;
	bt.finish();
	if ((err = tx.ready()))
		return err;
	zi->i_on_disk.a[0] = bt.root;
	zi->i_on_disk.a[1] = bt.height;
	if ((err = tx.commit(ii)))
		return err;
	t2_free(sbi, t2);
	return 0;
}

} // namespace

bool t2_leaf_valid(const zus_sb_info &sbi, uint64_t v)
{
	if (!(v & kT2Leaf))
		return false;
	uint64_t b = v & ~kT2Leaf;
	return b && b < sbi.t2_blocks;
}

void t2_free(zus_sb_info &sbi, uint64_t t2)
{
	TierState &ts = tier_of(sbi);
	std::lock_guard g(ts.mu);
	if (t2 >= sbi.t2_blocks || !((ts.bits[t2 / 64] >> (t2 % 64)) & 1))
		return;
	ts.bits[t2 / 64] &= ~(1ULL << (t2 % 64));
	ts.used.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t t2_used(zus_sb_info &sbi)
{
	if (!sbi.t2_blocks)
		return 0;
	return tier_of(sbi).used.load(std::memory_order_relaxed);
}

int tier_prepare(zus_inode_info *ii, zufs_ioc_IO *io, uint32_t cap,
		 uint64_t first, uint64_t last)
{
	zus_sb_info &sbi = *ii->sbi;
	if (!sbi.t2_blocks)
		return 0;
	TierState &ts = tier_of(sbi);
	if (!ts.used.load(std::memory_order_relaxed))
		return 0;
	std::unique_lock lk(ii->rw);
	zus_inode *zi = ii->zi;
	io->ziom.iom_n = 0;
	io->ziom.iom_max = std::min(io->ziom.iom_max, cap);
	if (!io->ziom.iom_max) // a server-internal request (COPY): no iomap room
		return tier_promote_range_locked(ii, first, last);
	bool retry = false, full = false;
	int err;
	for (uint64_t idx = first; idx <= last; ++idx) {
		uint64_t v = bmap_leaf(sbi, zi, idx);
		if (!t2_leaf_valid(sbi, v))
			continue;
		uint64_t t2 = v & ~kT2Leaf;
		std::unique_lock g(ts.mu);
		auto it = ts.promos.find({ii->ino, idx});
		if (it != ts.promos.end()) {
			TierState::Promo p = it->second;
			ts.promos.erase(it);
			g.unlock();
			if (p.t2 == t2) { // the shim ran our ZUSMEM_READ
				if ((err = commit_promotion(ii, idx, t2, p.t1)))
					return err;
				continue;
			}
			sbi.balloc.release(p.t1, 1); // stale
		}
		g.unlock();
		if (full)
			continue; // committing only; the next round promotes
		// A run of blocks consecutive on T2 goes in one op, into
		// blocks consecutive on T1.
		uint64_t n = 1;
		while (idx + n <= last && n < ZUS_API_MAP_MAX_PAGES &&
		       bmap_leaf(sbi, zi, idx + n) == (kT2Leaf | (t2 + n)))
			++n;
		BlockAlloc::Run run;
		int nruns = 0;
		uint64_t got = sbi.balloc.alloc(n, &run, 1, &nruns);
		if (!got)
			return -ENOSPC;
		if (zusmem_op(io->ziom, IOM_T2_ZUSMEM_READ, t2, sbi.blk(run.bn),
			      got * kBlockSize)) {
			sbi.balloc.release(run.bn, got); // the iomap is full
			full = true;
			continue;
		}
		g.lock();
		for (uint64_t k = 0; k < got; ++k) {
			auto old = ts.promos.find({ii->ino, idx + k});
			if (old != ts.promos.end()) { // stale, from a failed round
				sbi.balloc.release(old->second.t1, 1);
				ts.promos.erase(old);
			}
			ts.promos[{ii->ino, idx + k}] = {t2 + k, run.bn + k};
		}
		g.unlock();
		idx += got - 1;
		retry = true;
	}
	if (retry)
		return -EZUFS_RETRY;
	if (full)
		return -EIO; // cannot happen: an empty iomap holds one op
	return 0;
}

int tier_promote_locked(zus_inode_info *ii, uint64_t idx)
{
	zus_sb_info &sbi = *ii->sbi;
	uint64_t v = bmap_leaf(sbi, ii->zi, idx);
	if (!t2_leaf_valid(sbi, v))
		return 0;
	uint64_t t2 = v & ~kT2Leaf;
	uint64_t t1 = sbi.balloc.alloc_one();
	if (!t1)
		return -ENOSPC;
	auto job = make_iomap_job(8);
	int err = zusmem_op(job->ziom(), IOM_T2_ZUSMEM_READ, t2, sbi.blk(t1),
			    kBlockSize);
	if (!err)
		err = exec_sync(sbi, *job);
	if (err) {
		sbi.balloc.release(t1, 1);
		return err;
	}
	return commit_promotion(ii, idx, t2, t1);
}

int tier_promote_range_locked(zus_inode_info *ii, uint64_t first, uint64_t last)
{
	zus_sb_info &sbi = *ii->sbi;
	if (!sbi.t2_blocks || !tier_of(sbi).used.load(std::memory_order_relaxed))
		return 0;
	for (uint64_t idx = bmap_seek(sbi, ii->zi, first, true);
	     idx != UINT64_MAX && idx <= last;
	     idx = bmap_seek(sbi, ii->zi, idx + 1, true)) {
		int err = tier_promote_locked(ii, idx);
		if (err)
			return err;
	}
	return 0;
}

int tier_evict_block(zus_inode_info *ii, uint64_t idx)
{
	zus_sb_info &sbi = *ii->sbi;
	if (!sbi.t2_blocks)
		return -EOPNOTSUPP;
	TierState &ts = tier_of(sbi);
	std::unique_lock lk(ii->rw);
	if (ii->pins.load(std::memory_order_acquire))
		return -EBUSY;
	zus_inode *zi = ii->zi;
	if (!S_ISREG(zi->i_mode)) // directories, symlinks stay on T1
		return -EINVAL;
	uint64_t t1 = bmap_leaf(sbi, zi, idx);
	if (!sbi.valid_data_bn(t1))
		return -EINVAL;
	uint64_t t2 = t2_alloc(ts, sbi.t2_blocks);
	if (!t2)
		return -ENOSPC;
	auto job = make_iomap_job(8);
	int err = zusmem_op(job->ziom(), IOM_T2_ZUSMEM_WRITE, t2, sbi.blk(t1),
			    kBlockSize);
	if (!err)
		err = exec_sync(sbi, *job);
	if (err) {
		t2_free(sbi, t2);
		return err;
	}
	// The T2 copy is durable once IOMAP_EXEC returns (the shim's T2 is
	// O_DIRECT); now the leaf and the T1 free, atomically.
	Tx tx(sbi);
	if ((err = tx.log(zi, sizeof(*zi))) || (err = tx.bits(t1, 1, false))) {
		t2_free(sbi, t2);
		return err;
	}
	BmapTx bt(sbi, tx, zi);
	if ((err = bt.replace(idx, kT2Leaf | t2)))
		return err;
	bt.finish();
	if ((err = tx.ready()))
		return err;
	zi->i_on_disk.a[0] = bt.root;
	zi->i_on_disk.a[1] = bt.height;
	return tx.commit(ii);
}

} // namespace zus::pmfs
