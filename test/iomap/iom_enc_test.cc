// SPDX-License-Identifier: BSD-3-Clause
#include "zufs/iom_enc.h"

#include <catch2/catch.hpp>

#include "fixture.h"

using iomap_test::Iomap;

static unsigned type_of(uint64_t e) { return unsigned(e >> 56); }
static uint64_t val_of(uint64_t e) { return e & ZUFS_IOM_FIRST_VAL_MASK; }

TEST_CASE("builder encodes every op type as zus_api.h lays it out")
{
	Iomap m(64);
	auto b = m.b();
	char mem[1];

	REQUIRE(b.t1_write(zu_enc_dpp_t_bn(5, 0)) == 0);
	REQUIRE(b.t1_read(zu_enc_dpp_t_bn(6, 1)) == 0);
	REQUIRE(b.t2_write(7, zufs::iom_t1_pool(8192)) == 0);
	REQUIRE(b.t2_read(9, zufs::iom_t1_app_page(2)) == 0);
	REQUIRE(b.t2_write_len(10, zufs::iom_t1_pool(4096, 1), 3) == 0);
	REQUIRE(b.t2_read_len(11, zufs::iom_t1_app_page(1), 2) == 0);
	REQUIRE(b.t2_zusmem_write(12, mem, 100) == 0);
	REQUIRE(b.t2_zusmem_read(13, mem, 200) == 0);
	REQUIRE(b.unmap(14, 15, 16) == 0);
	REQUIRE(b.unmap(17, 0) == 0);
	REQUIRE(b.terminate() == 0);

	const __u64 *e = m.e();
	uint32_t i = 0;
	CHECK(type_of(e[i]) == IOM_T1_WRITE);
	CHECK(zu_dpp_t_bn(val_of(e[i])) == 5);
	CHECK(zu_dpp_t_pool(val_of(e[i])) == 0);
	i += 1;
	CHECK(type_of(e[i]) == IOM_T1_READ);
	CHECK(zu_dpp_t_bn(val_of(e[i])) == 6);
	CHECK(zu_dpp_t_pool(val_of(e[i])) == 1);
	i += 1;

	auto *t2 = reinterpret_cast<const zufs_iom_t2_io *>(&e[i]);
	CHECK(_zufs_iom_opt_type(&t2->t2_val) == IOM_T2_WRITE);
	CHECK(_zufs_iom_first_val(&t2->t2_val) == 7);
	CHECK(zu_dpp_t_val(t2->t1_val) == 8192);
	CHECK(zu_dpp_t_pool(t2->t1_val) == 0);
	i += 2;
	t2 = reinterpret_cast<const zufs_iom_t2_io *>(&e[i]);
	CHECK(_zufs_iom_opt_type(&t2->t2_val) == IOM_T2_READ);
	CHECK(_zufs_iom_first_val(&t2->t2_val) == 9);
	CHECK(zu_dpp_t_pool(t2->t1_val) == ZUFS_APP_POOL);
	CHECK(zu_dpp_t_bn(t2->t1_val) == 2);
	i += 2;

	zufs_iom_t2_io_len len;
	memcpy(&len, &e[i], sizeof(len));
	CHECK(type_of(len.iom.t2_val) == IOM_T2_WRITE_LEN);
	CHECK(val_of(len.iom.t2_val) == 10);
	CHECK(len.iom.t1_val == zufs::iom_t1_pool(4096, 1));
	CHECK(len.num_pages == 3);
	i += 3;
	memcpy(&len, &e[i], sizeof(len));
	CHECK(type_of(len.iom.t2_val) == IOM_T2_READ_LEN);
	CHECK(val_of(len.iom.t2_val) == 11);
	CHECK(len.iom.t1_val == zufs::iom_t1_app_page(1));
	CHECK(len.num_pages == 2);
	i += 3;

	auto *zm = reinterpret_cast<const zufs_iom_t2_zusmem_io *>(&e[i]);
	CHECK(_zufs_iom_opt_type(&zm->t2_val) == IOM_T2_ZUSMEM_WRITE);
	CHECK(_zufs_iom_first_val(&zm->t2_val) == 12);
	CHECK(zm->zus_mem_ptr == uint64_t(uintptr_t(mem)));
	CHECK(zm->len == 100);
	i += 3;
	zm = reinterpret_cast<const zufs_iom_t2_zusmem_io *>(&e[i]);
	CHECK(_zufs_iom_opt_type(&zm->t2_val) == IOM_T2_ZUSMEM_READ);
	CHECK(_zufs_iom_first_val(&zm->t2_val) == 13);
	CHECK(zm->len == 200);
	i += 3;

	zufs_iom_unmap um;
	memcpy(&um, &e[i], sizeof(um));
	CHECK(type_of(um.unmap_index) == IOM_UNMAP);
	CHECK(val_of(um.unmap_index) == 14);
	CHECK(um.unmap_n == 15);
	CHECK(um.ino == 16);
	i += 3;
	memcpy(&um, &e[i], sizeof(um));
	CHECK(val_of(um.unmap_index) == 17);
	CHECK(um.unmap_n == 0);
	CHECK(um.ino == 0);
	i += 3;

	CHECK(e[i] == 0);
	CHECK(!_zufs_iom_pop(&e[i]));
	i += 1;
	CHECK(m.n() == i);
	CHECK(b.size() == i);
}

TEST_CASE("builder op sizes match the ABI structs")
{
	CHECK(zufs::iom_op_size(IOM_NONE) == 1);
	CHECK(zufs::iom_op_size(IOM_T1_READ) == 1);
	CHECK(zufs::iom_op_size(IOM_T2_READ) == 2);
	CHECK(zufs::iom_op_size(IOM_T2_READ_LEN) == 3);
	CHECK(zufs::iom_op_size(IOM_T2_ZUSMEM_READ) == 3);
	CHECK(zufs::iom_op_size(IOM_UNMAP) == 3);
	CHECK(zufs::iom_op_size(IOM_NUM_LEGAL_OPT) == 0);
}

TEST_CASE("builder refuses to overflow iom_max and writes nothing")
{
	Iomap m(4);
	// Poison the slots so a partial write would show.
	for (int i = 0; i < 4; i++)
		m.e()[i] = 0xdeadbeefULL;
	auto b = m.b();
	REQUIRE(b.t2_write(1, zufs::iom_t1_pool(0)) == 0); // 2 used
	CHECK(b.room() == 2);
	CHECK(b.unmap(0, 1) == -ENOSPC);
	CHECK(b.t2_read_len(1, 0, 1) == -ENOSPC);
	CHECK(b.t2_zusmem_read(1, nullptr, 1) == -ENOSPC);
	CHECK(m.n() == 2);
	CHECK(m.e()[2] == 0xdeadbeefULL);
	CHECK(m.e()[3] == 0xdeadbeefULL);
	REQUIRE(b.t2_read(2, zufs::iom_t1_pool(0)) == 0); // full
	CHECK(b.room() == 0);
	CHECK(b.t1_read(0) == -ENOSPC);
	CHECK(b.terminate() == -ENOSPC);
	CHECK(m.n() == 4);
}

TEST_CASE("builder refuses 56-bit overflows")
{
	Iomap m(8);
	auto b = m.b();
	CHECK(b.t2_write(1ULL << 56, 0) == -EINVAL);
	CHECK(b.unmap(1ULL << 56, 1) == -EINVAL);
	CHECK(b.t1_read(zu_enc_dpp_t_bn(1ULL << 53, 0)) == -EINVAL);
	CHECK(m.n() == 0);
	CHECK(b.t2_write((1ULL << 56) - 1, 0) == 0);
}

TEST_CASE("builder fills the iomap of a zufs_ioc_IO answer")
{
	zufs_ioc_IO io{};
	io.ziom.iom_max = ZUFS_WRITE_OP_SPACE;
	zufs::IomBuilder b(io.ziom);
	REQUIRE(b.unmap(3, 1) == 0);
	REQUIRE(b.t2_read_len(5, zufs::iom_t1_app_page(0), 4) == 0);
	REQUIRE(b.t2_write(6, zufs::iom_t1_pool(4096)) == 0);
	REQUIRE(b.terminate() == 0);
	CHECK(io.ziom.iom_n == 9);
	CHECK(_zufs_iom_opt_type(&io.iom_e[0]) == IOM_UNMAP);
	CHECK(_zufs_iom_opt_type(&io.iom_e[3]) == IOM_T2_READ_LEN);
	CHECK(_zufs_iom_opt_type(&io.iom_e[6]) == IOM_T2_WRITE);
	CHECK(io.iom_e[8] == 0);
	// 13 - 9 = 4 left: a LEN op fits once more, then nothing.
	CHECK(b.t2_read_len(1, 0, 1) == 0);
	CHECK(b.t1_read(0) == 0);
	CHECK(b.t1_read(0) == -ENOSPC);
}
