// Netlink messages written out by hand, field by field, to compare the builders'
// bytes with: an independent encoding, not a second call into libmnl.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <linux/netlink.h>

namespace nltest {

struct Bytes {
	std::vector<uint8_t> b;

	Bytes &u8(uint8_t v)
	{
		b.push_back(v);
		return *this;
	}
	Bytes &u16(uint16_t v) { return raw(&v, 2); }
	Bytes &u32(uint32_t v) { return raw(&v, 4); }
	Bytes &u64(uint64_t v) { return raw(&v, 8); }
	Bytes &raw(const void *p, size_t n)
	{
		auto *c = static_cast<const uint8_t *>(p);
		b.insert(b.end(), c, c + n);
		return *this;
	}
	Bytes &pad()
	{
		while (b.size() % 4)
			b.push_back(0);
		return *this;
	}
	// One attribute with a payload, padded.
	Bytes &attr(uint16_t type, const Bytes &payload)
	{
		u16(static_cast<uint16_t>(4 + payload.b.size())).u16(type);
		raw(payload.b.data(), payload.b.size());
		return pad();
	}
	Bytes &attr_u8(uint16_t t, uint8_t v) { return attr(t, Bytes().u8(v)); }
	Bytes &attr_u16(uint16_t t, uint16_t v) { return attr(t, Bytes().u16(v)); }
	Bytes &attr_u32(uint16_t t, uint32_t v) { return attr(t, Bytes().u32(v)); }
	Bytes &attr_u64(uint16_t t, uint64_t v) { return attr(t, Bytes().u64(v)); }
	Bytes &attr_str(uint16_t t, const std::string &s)
	{
		return attr(t, Bytes().raw(s.c_str(), s.size() + 1));
	}
	Bytes &nest(uint16_t t, const Bytes &inner) { return attr(t | NLA_F_NESTED, inner); }
	size_t size() const { return b.size(); }
};

// A whole message: the header with its length filled in, then the body.
inline Bytes message(uint16_t type, uint16_t flags, uint32_t seq, const Bytes &body)
{
	Bytes m;
	m.u32(static_cast<uint32_t>(16 + body.size())).u16(type).u16(flags).u32(seq).u32(0);
	m.raw(body.b.data(), body.b.size());
	return m;
}

inline std::vector<uint8_t> view(const void *buf, size_t n)
{
	auto *c = static_cast<const uint8_t *>(buf);
	return {c, c + n};
}

} // namespace nltest
