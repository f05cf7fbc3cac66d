// What several unit tests share: fixed keys and a prefix parser that trusts its (literal)
// input.
#pragma once

#include "keys.h"
#include "netaddr.h"

namespace wgn::test {

// RFC 7748's Alice: the public key of kPriv is kPub. kHub: another valid public key.
inline const char *const kPriv = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
inline const char *const kPub = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
inline const char *const kHub = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=";

// A private key of bytes B, clamped as X25519 keys are.
inline SecretKey secret_of(uint8_t b)
{
	Key k{};
	k.fill(b);
	k[0] &= 248;
	k[31] = static_cast<uint8_t>((k[31] & 127) | 64);
	return SecretKey(k);
}

inline IpPrefix pfx(const char *s)
{
	return *parse_prefix(s);
}

} // namespace wgn::test
