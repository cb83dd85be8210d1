// ABI layout: the static_asserts in zus_api.h pin sizes at compile time; this
// test pins the encodings a server and a shim must agree on at run time.
#include <catch2/catch.hpp>

#include "zufs/zus_api.h"

TEST_CASE("iomap type/value encoding round-trips", "[abi]")
{
	__u64 e = 0;
	_zufs_iom_enc_type_val(&e, IOM_UNMAP, 0x123456789abcULL);
	CHECK(_zufs_iom_opt_type(&e) == IOM_UNMAP);
	CHECK(_zufs_iom_first_val(&e) == 0x123456789abcULL);
	CHECK(_zufs_iom_pop(&e));

	e = (__u64)200 << ZUFS_IOM_VAL_BITS; /* not a legal type */
	CHECK(_zufs_iom_opt_type(&e) == IOM_NONE);
	CHECK_FALSE(_zufs_iom_pop(&e));
}

TEST_CASE("zu_dpp_t packs block number and pool", "[abi]")
{
	zu_dpp_t t = zu_enc_dpp_t_bn(77, 0);
	CHECK(zu_dpp_t_bn(t) == 77);
	CHECK(zu_dpp_t_pool(t) == 0);
	CHECK(zu_dpp_t_pool(zu_enc_dpp_t(4096, 3)) == 3);
	CHECK(zu_dpp_t_val(zu_enc_dpp_t(4096, 3)) == 4096);
}

TEST_CASE("dir entry length is 8-byte aligned", "[abi]")
{
	CHECK(zufs_dir_entry_len(1) == 24);
	CHECK(zufs_dir_entry_len(7) == 24);
	CHECK(zufs_dir_entry_len(8) == 32);
	CHECK(zufs_dir_entry_len(255) == 272);
}
