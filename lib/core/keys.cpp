#include "keys.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>

#include <dlfcn.h>
#include <mutex>

// Declarations only: libcrypto is not linked but loaded on first use (below).
#include <openssl/evp.h>

#include "file_read.h"
#include "log.h"

namespace wgn {

namespace {

// libcrypto, loaded when a key is derived or a digest taken instead of when wgn starts:
// its 21,000 relocations were most of what the dynamic loader did for every run of
// `wgn health` and `wgn --version`, which use neither (issue 14). The few functions
// wgn calls are looked up once; a libcrypto that cannot be loaded is an installation
// fault that ends the process with one line (71), as a missing shared library would
// have before main.
struct Crypto {
	decltype(&::EVP_Digest) digest;
	decltype(&::EVP_sha256) sha256;
	decltype(&::EVP_PKEY_new_raw_private_key) new_raw_private_key;
	decltype(&::EVP_PKEY_new_raw_public_key) new_raw_public_key;
	decltype(&::EVP_PKEY_get_raw_public_key) get_raw_public_key;
	decltype(&::EVP_PKEY_free) pkey_free;
	decltype(&::EVP_PKEY_CTX_new) ctx_new;
	decltype(&::EVP_PKEY_CTX_free) ctx_free;
	decltype(&::EVP_PKEY_derive_init) derive_init;
	decltype(&::EVP_PKEY_derive_set_peer) derive_set_peer;
	decltype(&::EVP_PKEY_derive) derive;
};

const Crypto &crypto()
{
	static Crypto c;
	static std::once_flag once;
	std::call_once(once, [] {
		void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
		auto need = [h](auto &fn, const char *name) {
			void *p = h ? dlsym(h, name) : nullptr;
			if (!p) {
				const char *why = dlerror();
				complain(std::string("cannot load ") + name +
				         " from libcrypto.so.3" +
				         (why ? std::string(": ") + why : std::string()));
				std::exit(71);
			}
			fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
		};
		need(c.digest, "EVP_Digest");
		need(c.sha256, "EVP_sha256");
		need(c.new_raw_private_key, "EVP_PKEY_new_raw_private_key");
		need(c.new_raw_public_key, "EVP_PKEY_new_raw_public_key");
		need(c.get_raw_public_key, "EVP_PKEY_get_raw_public_key");
		need(c.pkey_free, "EVP_PKEY_free");
		need(c.ctx_new, "EVP_PKEY_CTX_new");
		need(c.ctx_free, "EVP_PKEY_CTX_free");
		need(c.derive_init, "EVP_PKEY_derive_init");
		need(c.derive_set_peer, "EVP_PKEY_derive_set_peer");
		need(c.derive, "EVP_PKEY_derive");
	});
	return c;
}

} // namespace

// explicit_bzero: glibc's wipe that the compiler may not drop (OPENSSL_cleanse's job,
// without loading libcrypto for it). Nothing to wipe may come as a null pointer (an
// empty vector's data()), which explicit_bzero must not be given.
void wipe(void *p, size_t n)
{
	if (p != nullptr && n > 0)
		explicit_bzero(p, n);
}
void wipe(std::string &s)
{
	if (!s.empty())
		explicit_bzero(s.data(), s.size());
	s.clear();
}

SecretKey::~SecretKey()
{
	wipe(key_.data(), key_.size());
}

// In constant time, as CRYPTO_memcmp: every byte is looked at whatever differs first.
bool SecretKey::operator==(const SecretKey &o) const
{
	volatile uint8_t diff = 0;
	for (size_t i = 0; i < key_.size(); ++i)
		diff = diff | (key_[i] ^ o.key_[i]);
	return diff == 0;
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
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
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
	const Crypto &c = crypto();
	c.digest(data.data(), data.size(), md, &len, c.sha256(), nullptr);
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
	const Crypto &c = crypto();
	Key out{};
	EVP_PKEY *priv = c.new_raw_private_key(EVP_PKEY_X25519, nullptr, scalar.data(), 32);
	EVP_PKEY *peer = c.new_raw_public_key(EVP_PKEY_X25519, nullptr, u.data(), 32);
	EVP_PKEY_CTX *ctx = priv ? c.ctx_new(priv, nullptr) : nullptr;
	size_t len = out.size();
	if (ctx && peer && c.derive_init(ctx) == 1 && c.derive_set_peer(ctx, peer) == 1)
		c.derive(ctx, out.data(), &len);
	c.ctx_free(ctx);
	c.pkey_free(peer);
	c.pkey_free(priv);
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
	const Crypto &c = crypto();
	Key out{};
	EVP_PKEY *pkey = c.new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.bytes().data(), 32);
	size_t len = out.size();
	if (pkey)
		c.get_raw_public_key(pkey, out.data(), &len);
	c.pkey_free(pkey);
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
