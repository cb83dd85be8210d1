// SPDX-License-Identifier: BSD-3-Clause
//
// t2_exec.cc - the shim's tier 2: the T2 store's lifetime (opened before
// MOUNT, closed before UMOUNT) and ZU_IOC_IOMAP_EXEC, synchronous and
// asynchronous (zuf-core.c: zuf_iom_execute_sync; the seed's "Async IOM NOT
// supported Yet" is supported here: completion is a ZUFS_OP_IOM_DONE
// dispatch carrying the server's iomb cookie and the result in hdr.err).
#include <cerrno>
#include <cstring>

#include "kernel_shim/log.h"
#include "kernel_shim/vfs.h"

namespace zuf {

int Vfs::t2_open(std::string *errmsg)
{
	std::unique_lock lock(t2_mu_);
	if (opts_.t2_path.empty() || t2_)
		return 0;
	std::string msg;
	int err =
		iomap::T2Device::open(opts_.t2_path, opts_.t2_size, &t2_, &msg);
	if (err) {
		*errmsg = msg.empty() ? "t2 " + opts_.t2_path + ": " +
						std::strerror(-err) :
					msg;
		t2_.reset();
	}
	return err;
}

void Vfs::t2_close()
{
	std::unique_ptr<iomap::T2Device> t2;
	{
		std::unique_lock lock(t2_mu_);
		exec_ok_.store(false); // from now on IOMAP_EXEC is -EINVAL
		t2 = std::move(t2_);
	}
	// The destructor waits for the batches in flight and runs their done
	// (each sends its IOM_DONE): the server hears of every iomap. Not
	// under t2_mu_: a server may answer an IOM_DONE with a new
	// IOMAP_EXEC (refused now), which must not wait for us.
	t2.reset();
}

void Vfs::iom_done(zus_iomap_build *iomb, int result)
{
	zufs_ioc_iomap_done done = {};
	done.hdr.operation = ZUFS_OP_IOM_DONE;
	done.hdr.err = result;
	done.hdr.in_len = sizeof(done);
	done.hdr.out_max = sizeof(done);
	done.zus_sbi = sbi_;
	done.iomb = iomb;
	// hdr.err is IN here (the result); the server's answer is ignored.
	channel_.dispatch(&done.hdr, {});
}

int Vfs::iomap_exec(zufs_ioc_iomap_exec *ioc)
{
	// Checks on a shim-owned copy of the header.
	zufs_ioc_iomap_exec c;
	std::memcpy(&c, ioc, sizeof(c));

	std::shared_lock lock(t2_mu_);
	int err = 0;
	if (!exec_ok_.load() || c.zus_sbi != sbi_) {
		err = -EINVAL;
	} else if (c.ziom.iom_n > c.ziom.iom_max ||
		   c.ziom.iom_n > iomap::kMaxIomEntries) {
		zuf_err("illegal iomap: iom_max=%u iom_n=%u", c.ziom.iom_max,
			c.ziom.iom_n);
		err = -EINVAL;
	} else {
		iomap::ExecEnv env;
		env.pools = pools_.all();
		env.unmapper = this;
		env.t2 = t2_.get();
		if (c.wait_for_done) {
			if (c.ziom.iom_n)
				err = iomap::execute(ioc->ziom.iom_e,
						     c.ziom.iom_n, env);
		} else if (!t2_) {
			err = -EOPNOTSUPP;
		} else {
			zus_iomap_build *iomb = c.ziom.iomb;
			err = iomap::execute_async(ioc->ziom.iom_e,
						   c.ziom.iom_n, env,
						   [this, iomb](int result) {
				iom_done(iomb, result);
			});
			// Submitted: IOM_DONE may already have freed the
			// server's job (and ioc) on the completion thread.
			if (!err)
				return 0;
		}
	}
	ioc->hdr.err = err;
	return err;
}

} // namespace zuf
