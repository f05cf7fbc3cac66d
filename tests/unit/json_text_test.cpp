// json_text: every writer's way to text; bytes that are not UTF-8 must not abort.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "json_text.h"

TEST_CASE("json_text replaces bytes that are not UTF-8 instead of throwing")
{
	nlohmann::json j = {{"path", std::string("/etc/\xff\xfe/wg0.toml")},
	                    {"msg", std::string("cut \xc3")}};
	REQUIRE_THROWS(j.dump());
	std::string text;
	REQUIRE_NOTHROW(text = wgn::json_text(j));
	auto back = nlohmann::json::parse(text);
	CHECK(back["path"] == "/etc/\xef\xbf\xbd\xef\xbf\xbd/wg0.toml");
	CHECK(back["msg"] == "cut \xef\xbf\xbd");
}

TEST_CASE("json_text indents when asked and keeps valid UTF-8 as it is")
{
	nlohmann::json j = {{"name", "w\xc3\xa4g"}};
	CHECK(wgn::json_text(j) == "{\"name\":\"w\xc3\xa4g\"}");
	CHECK(wgn::json_text(j, 2) == "{\n  \"name\": \"w\xc3\xa4g\"\n}");
}
