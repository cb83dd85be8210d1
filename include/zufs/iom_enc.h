// SPDX-License-Identifier: BSD-3-Clause
//
// iom_enc.h - the iomap encoding (zus_api.h: ZUFS_IOM_TYPE and the
// zufs_iom_* layouts) written once, header-only, for both sides: the server
// builds every iomap with IomBuilder; the shim's executor (src/iomap)
// decodes and checks them with iom_op_size(). As zus's iom_enc.h is for
// zus; the plugin SDK keeps that one (include/zus/iom_enc.h).
//
// Contract:
//  - An IomBuilder writes at ziom.iom_e[ziom.iom_n] and bumps iom_n; it never
//    writes past ziom.iom_max u64s. The caller's buffer must hold iom_max
//    u64s after the zufs_iomap header (for zufs_ioc_IO: io.ziom.iom_max =
//    ZUFS_WRITE_OP_SPACE, the entries land in io.iom_e).
//  - Every append is all-or-nothing: 0 on success; -ENOSPC if the op does
//    not fit (nothing written); -EINVAL if a 56-bit value overflows.
//  - No allocation, no locks; one IomBuilder per iomap, not shared.
//
// Addressing (what the shim's executor accepts, see src/iomap/executor.h):
//  - T2 block numbers are in 4 KiB blocks of the T2 device.
//  - t1 (zu_dpp_t) of IOM_T2_READ/WRITE[_LEN]: pool 0..6 = a byte offset
//    (page aligned) in a pool the server registered (0 = pmem), built with
//    iom_t1_pool(); ZUFS_APP_POOL = pages of the request, built with
//    iom_t1_app_page(i).
//  - IOM_T1_READ/WRITE: t1_val = zu_enc_dpp_t_bn(bn, pool); the k-th T1 op
//    of an iomap addresses page k of the request.
//  - ZUSMEM pointers are addresses in this process, page aligned, inside a
//    registered pool.
#ifndef ZUFS_IOM_ENC_H
#define ZUFS_IOM_ENC_H

#include <cerrno>
#include <cstdint>

#include "zufs/zus_api.h"

namespace zufs {

// t1 of a T2 op: byte offset (page aligned) in pool 0..6.
inline zu_dpp_t iom_t1_pool(uint64_t byte_offset, unsigned pool = 0)
{
	return zu_enc_dpp_t(byte_offset, pool);
}

// t1 of a T2 op: page `index` of the request's page array.
inline zu_dpp_t iom_t1_app_page(uint64_t index)
{
	return zu_enc_dpp_t_bn(index, ZUFS_APP_POOL);
}

// Size in u64s of an encoded op (IOM_NONE counts 1), 0 for an unknown type.
constexpr uint32_t iom_op_size(unsigned type)
{
	switch (type) {
	case IOM_NONE:
	case IOM_T1_WRITE:
	case IOM_T1_READ:
		return sizeof(zufs_iom_t1_io) / sizeof(uint64_t);
	case IOM_T2_WRITE:
	case IOM_T2_READ:
		return sizeof(zufs_iom_t2_io) / sizeof(uint64_t);
	case IOM_T2_WRITE_LEN:
	case IOM_T2_READ_LEN:
		return sizeof(zufs_iom_t2_io_len) / sizeof(uint64_t);
	case IOM_T2_ZUSMEM_WRITE:
	case IOM_T2_ZUSMEM_READ:
		return sizeof(zufs_iom_t2_zusmem_io) / sizeof(uint64_t);
	case IOM_UNMAP:
		return sizeof(zufs_iom_unmap) / sizeof(uint64_t);
	default:
		return 0;
	}
}

class IomBuilder {
  public:
	explicit IomBuilder(zufs_iomap &ziom) : ziom_(ziom) {}

	// IOM_T1_WRITE / IOM_T1_READ: t1 = zu_enc_dpp_t_bn(bn, pool).
	int t1_write(zu_dpp_t t1) { return put(IOM_T1_WRITE, t1, {}); }
	int t1_read(zu_dpp_t t1) { return put(IOM_T1_READ, t1, {}); }

	// IOM_T2_WRITE (t1 -> T2 block) / IOM_T2_READ (T2 block -> t1).
	int t2_write(uint64_t t2_bn, zu_dpp_t t1)
	{
		return put(IOM_T2_WRITE, t2_bn, { t1 });
	}
	int t2_read(uint64_t t2_bn, zu_dpp_t t1)
	{
		return put(IOM_T2_READ, t2_bn, { t1 });
	}

	// The _LEN forms move n_pages consecutive pages.
	int t2_write_len(uint64_t t2_bn, zu_dpp_t t1, uint64_t n_pages)
	{
		return put(IOM_T2_WRITE_LEN, t2_bn, { t1, n_pages });
	}
	int t2_read_len(uint64_t t2_bn, zu_dpp_t t1, uint64_t n_pages)
	{
		return put(IOM_T2_READ_LEN, t2_bn, { t1, n_pages });
	}

	// IOM_T2_ZUSMEM_WRITE (mem -> T2) / IOM_T2_ZUSMEM_READ (T2 -> mem);
	// len in bytes (rounded up to pages by the executor).
	int t2_zusmem_write(uint64_t t2_bn, const void *mem, uint64_t len)
	{
		return put(IOM_T2_ZUSMEM_WRITE, t2_bn,
			   { reinterpret_cast<uintptr_t>(mem), len });
	}
	int t2_zusmem_read(uint64_t t2_bn, void *mem, uint64_t len)
	{
		return put(IOM_T2_ZUSMEM_READ, t2_bn,
			   { reinterpret_cast<uintptr_t>(mem), len });
	}

	// IOM_UNMAP: pages [page_index, page_index + n_pages) of inode ino
	// (0: the request's inode); n_pages 0 means to EOF.
	int unmap(uint64_t page_index, uint64_t n_pages, uint64_t ino = 0)
	{
		return put(IOM_UNMAP, page_index, { n_pages, ino });
	}

	// IOM_NONE terminator (counted in iom_n). Optional when iom_n is exact.
	int terminate() { return put(IOM_NONE, 0, {}); }

	uint32_t size() const { return ziom_.iom_n; }
	uint32_t room() const
	{
		return ziom_.iom_max > ziom_.iom_n ?
			       ziom_.iom_max - ziom_.iom_n :
			       0;
	}

  private:
	struct Rest {
		uint64_t v[2];
	};

	// One op: the typed first u64, then the rest of its layout.
	int put(ZUFS_IOM_TYPE type, uint64_t first, Rest rest)
	{
		const uint32_t n = iom_op_size(type);
		if (first & ~ZUFS_IOM_FIRST_VAL_MASK)
			return -EINVAL;
		if (room() < n)
			return -ENOSPC;
		// iom_e is the ABI's flexible array: the caller sized the buffer.
		__u64 *e = ziom_.iom_e + ziom_.iom_n;
		_zufs_iom_enc_type_val(&e[0], type, first);
		for (uint32_t i = 1; i < n; ++i)
			e[i] = rest.v[i - 1];
		ziom_.iom_n += n;
		return 0;
	}

	zufs_iomap &ziom_;
};

} // namespace zufs

#endif // ZUFS_IOM_ENC_H
