// WireGuard keys: 32 bytes, base64 in configs, hex on the UAPI socket.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "error.h"

namespace wgn {

using Key = std::array<uint8_t, 32>;

// For hash maps of public keys: every byte counts (peers choose their keys).
struct KeyHash {
	size_t operator()(const Key &k) const noexcept
	{
		return std::hash<std::string_view>{}(
		        std::string_view(reinterpret_cast<const char *>(k.data()), k.size()));
	}
};

// A private or preshared key. It wipes itself when destroyed and has no way to be
// printed: code that needs the bytes asks for them by name.
class SecretKey {
public:
	SecretKey() = default;
	explicit SecretKey(const Key &k) : key_(k) {}
	SecretKey(const SecretKey &) = default;
	SecretKey &operator=(const SecretKey &) = default;
	~SecretKey();

	const Key &bytes() const { return key_; }
	bool operator==(const SecretKey &o) const;

private:
	Key key_{};
};

std::string base64_encode(const Key &k);
std::optional<Key> base64_decode(std::string_view s); // exactly 32 bytes, canonical padding
std::string hex_encode(const Key &k);
std::optional<Key> hex_decode(std::string_view s);

// A new private key from the kernel's CSPRNG (getrandom), clamped as `wg genkey`
// clamps it (RFC 7748). Errors: os (71) when no randomness can be had.
Result<SecretKey> generate_private_key();

// X25519 public key of a private key (RFC 7748), computed in-process with libcrypto.
Key public_key_of(const SecretKey &priv);
// Raw X25519(scalar, u) for the RFC 7748 test vectors.
Key x25519(const Key &scalar, const Key &u);

// Reads a base64 key file. what = "private key" / "preshared key" for the messages.
// must_be_private: refuse a file readable by group or others (as OpenSSH does).
Result<SecretKey> read_key_file(const std::filesystem::path &path, std::string_view what,
                                bool must_be_private);

// Lower-case hex of the SHA-256 of `data` (idempotency keys, config fingerprints).
std::string sha256_hex(std::string_view data);

// Overwrites memory that held a secret so the compiler cannot elide it.
void wipe(void *p, size_t n);
void wipe(std::string &s);

} // namespace wgn
