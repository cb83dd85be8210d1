// SPDX-License-Identifier: BSD-3-Clause
#include "server/crc32c.h"

#include <array>

namespace zus {

namespace {

constexpr std::array<uint32_t, 256> make_table()
{
	std::array<uint32_t, 256> t{};
	for (uint32_t i = 0; i < 256; ++i) {
		uint32_t c = i;
		for (int k = 0; k < 8; ++k)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		t[i] = c;
	}
	return t;
}

constexpr auto kTable = make_table();

uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = kTable[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
// The SSE4.2 crc32 instruction computes exactly CRC-32C.
__attribute__((target("sse4.2"))) uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;
		__builtin_memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	crc = static_cast<uint32_t>(c);
	for (; len; --len)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}

bool have_hw()
{
	__builtin_cpu_init(); // we may run before libgcc's own initializer
	return __builtin_cpu_supports("sse4.2");
}

// Zero (the table path, also correct) until initialized.
const bool kHaveHw = have_hw();
#endif

} // namespace

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	const auto *p = static_cast<const uint8_t *>(data);
#if defined(__x86_64__)
	if (kHaveHw)
		return ~crc32c_hw(~crc, p, len);
#endif
	return ~crc32c_sw(~crc, p, len);
}

uint32_t crc32c_software(uint32_t crc, const void *data, size_t len)
{
	return ~crc32c_sw(~crc, static_cast<const uint8_t *>(data), len);
}

} // namespace zus
