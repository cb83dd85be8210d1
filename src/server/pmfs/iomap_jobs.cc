// SPDX-License-Identifier: BSD-3-Clause
//
// iomap_jobs.cc - out-of-band iomaps (ZU_IOC_IOMAP_EXEC), synchronous and
// asynchronous, and their completion (ZUFS_OP_IOM_DONE); tier.h's contract.
#include "server/pmfs/tier.h"

#include <cerrno>

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
