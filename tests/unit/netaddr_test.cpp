#include <catch2/catch.hpp>

#include "netaddr.h"

using namespace wgn;

TEST_CASE("prefixes parse, print and normalise") {
	auto p = parse_prefix("10.0.0.10/24");
	REQUIRE(p);
	CHECK(p->str() == "10.0.0.10/24");
	CHECK(p->network().str() == "10.0.0.0/24");
	CHECK(parse_prefix("fd00::10/64")->network().str() == "fd00::/64");
	CHECK(parse_prefix("10.0.0.1")->str() == "10.0.0.1/32");
	CHECK(parse_prefix("fd00::1")->str() == "fd00::1/128");
	CHECK(parse_prefix("10.1.2.3/13")->network().str() == "10.0.0.0/13");
	CHECK(parse_prefix("0.0.0.0/0")->is_default());
	CHECK(parse_prefix("::/0")->is_default());

	CHECK_FALSE(parse_prefix("10.0.0.1/33"));
	CHECK_FALSE(parse_prefix("fd00::/129"));
	CHECK_FALSE(parse_prefix("10.0.0.256/24"));
	CHECK_FALSE(parse_prefix("10.0.0.1/"));
	CHECK_FALSE(parse_prefix("10.0.0.1/2a"));
	CHECK_FALSE(parse_prefix("hub/24"));
}

TEST_CASE("prefix containment") {
	auto net = *parse_prefix("10.0.0.0/24");
	CHECK(net.contains(*parse_ip("10.0.0.77")));
	CHECK_FALSE(net.contains(*parse_ip("10.0.1.1")));
	CHECK_FALSE(net.contains(*parse_ip("fd00::1")));
}

TEST_CASE("endpoints: host:port and [v6]:port") {
	std::string why;
	auto e = parse_endpoint("hub.example.com:51820", &why);
	REQUIRE(e);
	CHECK(e->host == "hub.example.com");
	CHECK(e->port == 51820);
	e = parse_endpoint("[2001:db8::1]:51820", &why);
	REQUIRE(e);
	CHECK(e->host == "2001:db8::1");
	CHECK(e->str() == "[2001:db8::1]:51820");
	CHECK(parse_endpoint("192.0.2.1:1", &why)->port == 1);
	CHECK(parse_endpoint("192.0.2.1:65535", &why)->port == 65535);

	CHECK_FALSE(parse_endpoint("hub.example.com", &why));
	CHECK(why == "expected host:port");
	CHECK_FALSE(parse_endpoint("hub:0", &why));
	CHECK(why == "the port must be a number from 1 to 65535");
	CHECK_FALSE(parse_endpoint("hub:65536", &why));
	CHECK_FALSE(parse_endpoint("hub:", &why));
	CHECK_FALSE(parse_endpoint("2001:db8::1:51820", &why));
	CHECK(why == "an IPv6 address needs brackets: [address]:port");
	CHECK_FALSE(parse_endpoint("[hub]:51820", &why));
	CHECK_FALSE(parse_endpoint("[2001:db8::1]51820", &why));
	CHECK_FALSE(parse_endpoint("hub one:51820", &why));
}

TEST_CASE("numeric socket addresses") {
	auto a = parse_sockaddr("192.0.2.1:51820");
	REQUIRE(a);
	CHECK(a->family() == AF_INET);
	CHECK(a->str() == "192.0.2.1:51820");
	auto b = parse_sockaddr("[2001:db8::1]:51820");
	REQUIRE(b);
	CHECK(b->str() == "[2001:db8::1]:51820");
	CHECK_FALSE(a == *b);
	CHECK_FALSE(parse_sockaddr("hub.example.com:51820"));
}

TEST_CASE("loopback addresses") {
	CHECK(is_loopback(*parse_ip("127.0.0.1")));
	CHECK(is_loopback(*parse_ip("127.8.9.10")));
	CHECK(is_loopback(*parse_ip("::1")));
	CHECK_FALSE(is_loopback(*parse_ip("10.0.0.1")));
	CHECK_FALSE(is_loopback(*parse_ip("::2")));
}
