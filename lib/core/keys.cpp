#include "keys.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "file_read.h"

namespace wgn {

void wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}
void wipe(std::string &s)
{
	if (!s.empty())
		OPENSSL_cleanse(s.data(), s.size());
	s.clear();
}

SecretKey::~SecretKey()
{
	wipe(key_.data(), key_.size());
}

bool SecretKey::operator==(const SecretKey &o) const
{
	return CRYPTO_memcmp(key_.data(), o.key_.data(), key_.size()) == 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const Key &k)
{
	std::string out;
	out.reserve(44);
	for (size_t i = 0; i < k.size(); i += 3) {
		uint32_t v = k[i] << 16;
		if (i + 1 < k.size())
			v |= k[i + 1] << 8;
		if (i + 2 < k.size())
			v |= k[i + 2];
		out += b64[(v >> 18) & 63];
		out += b64[(v >> 12) & 63];
		out += i + 1 < k.size() ? b64[(v >> 6) & 63] : '=';
		out += i + 2 < k.size() ? b64[v & 63] : '=';
	}
	return out;
}

static int b64_value(char c)
{
	const char *p = c ? std::strchr(b64, c) : nullptr;
	return p ? static_cast<int>(p - b64) : -1;
}

std::optional<Key> base64_decode(std::string_view s)
{
	// 32 bytes are 43 characters and one '='; the last character carries 4 bits only.
	if (s.size() != 44 || s[43] != '=')
		return std::nullopt;
	Key k{};
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < 43; ++i) {
		int v = b64_value(s[i]);
		if (v < 0)
			return std::nullopt;
		acc = (acc << 6) | static_cast<uint32_t>(v);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n < k.size())
				k[n++] = static_cast<uint8_t>(acc >> bits);
		}
	}
	if (n != k.size() || (acc & ((1u << bits) - 1)) != 0)
		return std::nullopt;
	return k;
}

static std::string hex_of(const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	std::string out;
	out.reserve(2 * n);
	for (size_t i = 0; i < n; ++i) {
		out += hex[p[i] >> 4];
		out += hex[p[i] & 15];
	}
	return out;
}

std::string sha256_hex(std::string_view data)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
	return hex_of(md, len);
}

std::string hex_encode(const Key &k)
{
	return hex_of(k.data(), k.size());
}

std::optional<Key> hex_decode(std::string_view s)
{
	if (s.size() != 64)
		return std::nullopt;
	Key k{};
	for (size_t i = 0; i < 32; ++i) {
		auto nib = [](char c) -> int {
			if (c >= '0' && c <= '9')
				return c - '0';
			if (c >= 'a' && c <= 'f')
				return c - 'a' + 10;
			if (c >= 'A' && c <= 'F')
				return c - 'A' + 10;
			return -1;
		};
		int hi = nib(s[2 * i]), lo = nib(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return std::nullopt;
		k[i] = static_cast<uint8_t>(hi << 4 | lo);
	}
	return k;
}

Key x25519(const Key &scalar, const Key &u)
{
	Key out{};
	EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, scalar.data(), 32);
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, u.data(), 32);
	EVP_PKEY_CTX *ctx = priv ? EVP_PKEY_CTX_new(priv, nullptr) : nullptr;
	size_t len = out.size();
	if (ctx && peer && EVP_PKEY_derive_init(ctx) == 1 &&
	    EVP_PKEY_derive_set_peer(ctx, peer) == 1)
		EVP_PKEY_derive(ctx, out.data(), &len);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(priv);
	return out;
}

Result<SecretKey> generate_private_key()
{
	Key k{};
	size_t got = 0;
	while (got < k.size()) {
		ssize_t n = getrandom(k.data() + got, k.size() - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return make_error(Errc::os,
			                  std::string("cannot generate a key: getrandom: ") +
			                          std::strerror(errno));
		got += static_cast<size_t>(n);
	}
	k[0] &= 248;
	k[31] = static_cast<uint8_t>((k[31] & 127) | 64);
	SecretKey secret(k);
	wipe(k.data(), k.size());
	return secret;
}

Key public_key_of(const SecretKey &priv)
{
	Key out{};
	EVP_PKEY *pkey =
	        EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.bytes().data(), 32);
	size_t len = out.size();
	if (pkey)
		EVP_PKEY_get_raw_public_key(pkey, out.data(), &len);
	EVP_PKEY_free(pkey);
	return out;
}

Result<SecretKey> read_key_file(const std::filesystem::path &path, std::string_view what,
                                bool must_be_private)
{
	const std::string noun = std::string(what) + " file";
	// Opened once: the file whose mode is checked is the file read.
	struct stat st {};
	auto text =
	        read_bounded_file(path, noun, kMaxKeyFileBytes, Errc::config, Errc::config, &st);
	if (!text) {
		if (text.error().code == Errc::no_input)
			return make_error(Errc::config, "cannot read " + noun + " " +
			                                        path.string() + ": " +
			                                        std::strerror(ENOENT));
		return text.error();
	}
	if (must_be_private && (st.st_mode & 077)) {
		wipe(*text);
		char mode[8];
		snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
		return make_error(Errc::config,
		                  noun + " " + path.string() + " has mode " + mode +
		                          " and is readable by others; run chmod 600 " +
		                          path.string());
	}
	while (!text->empty() &&
	       (text->back() == '\n' || text->back() == '\r' || text->back() == ' '))
		text->pop_back();
	auto key = base64_decode(*text);
	wipe(*text);
	if (!key)
		return make_error(Errc::config,
		                  noun + " " + path.string() +
		                          " does not hold a key (32 bytes of base64)");
	SecretKey secret(*key);
	wipe(key->data(), key->size());
	return secret;
}

} // namespace wgn
