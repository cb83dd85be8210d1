// SPDX-License-Identifier: BSD-3-Clause
//
// builder.h - the server side of the iomap engine: appends encoded
// operations (zus_api.h, ZUFS_IOM_TYPE) to a zufs_iomap the caller owns.
//
// Contract:
//  - The Builder writes at ziom.iom_e[ziom.iom_n] and bumps iom_n; it never
//    writes past ziom.iom_max u64s. The caller's buffer must hold iom_max
//    u64s after the zufs_iomap header (for zufs_ioc_IO: io.ziom.iom_max =
//    ZUFS_WRITE_OP_SPACE, the entries land in io.iom_e).
//  - Every append is all-or-nothing: 0 on success; -ENOSPC if the op does
//    not fit (nothing written); -EINVAL if a 56-bit value overflows.
//  - No allocation, no locks; one Builder per iomap, not shared by threads.
//
// Addressing (what the shim's executor accepts, see executor.h):
//  - T2 block numbers are in 4 KiB blocks of the T2 device.
//  - t1 (zu_dpp_t) of IOM_T2_READ/WRITE[_LEN]: pool 0..6 = a byte offset
//    (page aligned) in a pool the server registered (0 = pmem), built with
//    t1_pool(); pool 7 = pages of the request, built with t1_app_page(i).
//  - IOM_T1_READ/WRITE: t1_val = zu_enc_dpp_t_bn(bn, pool); the k-th T1 op
//    of an iomap addresses page k of the request.
//  - ZUSMEM pointers are addresses in this process, page aligned, inside a
//    registered pool.
#ifndef ZUFS_IOMAP_BUILDER_H
#define ZUFS_IOMAP_BUILDER_H

#include <cstdint>

#include "zufs/zus_api.h"

namespace iomap {

// zu_dpp_t pool number that means "the pages of the current request".
inline constexpr unsigned kAppPool = 7;

// t1 of a T2 op: byte offset (page aligned) in pool 0..6.
inline zu_dpp_t t1_pool(uint64_t byte_offset, unsigned pool = 0)
{
	return zu_enc_dpp_t(byte_offset, pool);
}

// t1 of a T2 op: page `index` of the request's page array.
inline zu_dpp_t t1_app_page(uint64_t index)
{
	return zu_enc_dpp_t_bn(index, kAppPool);
}

// Size in u64s of an encoded op (IOM_NONE counts 1), 0 for an unknown type.
uint32_t op_size(unsigned type);

class Builder {
  public:
	explicit Builder(zufs_iomap &ziom) : ziom_(ziom) {}

	// IOM_T1_WRITE / IOM_T1_READ: t1 = zu_enc_dpp_t_bn(bn, pool).
	int t1_write(zu_dpp_t t1) { return t1_op(IOM_T1_WRITE, t1); }
	int t1_read(zu_dpp_t t1) { return t1_op(IOM_T1_READ, t1); }

	// IOM_T2_WRITE (t1 -> T2 block) / IOM_T2_READ (T2 block -> t1).
	int t2_write(uint64_t t2_bn, zu_dpp_t t1)
	{
		return t2_op(IOM_T2_WRITE, t2_bn, t1);
	}
	int t2_read(uint64_t t2_bn, zu_dpp_t t1)
	{
		return t2_op(IOM_T2_READ, t2_bn, t1);
	}

	// The _LEN forms move n_pages consecutive pages.
	int t2_write_len(uint64_t t2_bn, zu_dpp_t t1, uint64_t n_pages)
	{
		return t2_len_op(IOM_T2_WRITE_LEN, t2_bn, t1, n_pages);
	}
	int t2_read_len(uint64_t t2_bn, zu_dpp_t t1, uint64_t n_pages)
	{
		return t2_len_op(IOM_T2_READ_LEN, t2_bn, t1, n_pages);
	}

	// IOM_T2_ZUSMEM_WRITE (mem -> T2) / IOM_T2_ZUSMEM_READ (T2 -> mem);
	// len in bytes (rounded up to pages by the executor).
	int t2_zusmem_write(uint64_t t2_bn, const void *mem, uint64_t len)
	{
		return zusmem_op(IOM_T2_ZUSMEM_WRITE, t2_bn, mem, len);
	}
	int t2_zusmem_read(uint64_t t2_bn, void *mem, uint64_t len)
	{
		return zusmem_op(IOM_T2_ZUSMEM_READ, t2_bn, mem, len);
	}

	// IOM_UNMAP: pages [page_index, page_index + n_pages) of inode ino
	// (0: the request's inode); n_pages 0 means to EOF.
	int unmap(uint64_t page_index, uint64_t n_pages, uint64_t ino = 0);

	// IOM_NONE terminator (counted in iom_n). Optional when iom_n is exact.
	int terminate();

	uint32_t size() const { return ziom_.iom_n; }
	uint32_t room() const
	{
		return ziom_.iom_max > ziom_.iom_n ?
			       ziom_.iom_max - ziom_.iom_n :
			       0;
	}

  private:
	int t1_op(ZUFS_IOM_TYPE type, zu_dpp_t t1);
	int t2_op(ZUFS_IOM_TYPE type, uint64_t t2_bn, zu_dpp_t t1);
	int t2_len_op(ZUFS_IOM_TYPE type, uint64_t t2_bn, zu_dpp_t t1,
		      uint64_t n_pages);
	int zusmem_op(ZUFS_IOM_TYPE type, uint64_t t2_bn, const void *mem,
		      uint64_t len);
	// Room for n u64s? Returns the slot or nullptr.
	__u64 *reserve(uint32_t n);

	zufs_iomap &ziom_;
};

} // namespace iomap

#endif // ZUFS_IOMAP_BUILDER_H
