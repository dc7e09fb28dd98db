// JSON output of the tools' --json (pmemfs-devinfo, pmemfs-fsck), in the manner of ndctl and
// daxctl: one object per run, keys in a fixed order, numbers as plain integers. A JsonObject is
// written key by key; nested objects and arrays are added already encoded (Raw).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace pmemfs::tools {

// `s` as a JSON string literal (quotes, backslashes and control characters escaped).
inline std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Already encoded JSON values as an array.
inline std::string JsonArray(const std::vector<std::string>& encoded) {
  std::string out = "[";
  for (size_t i = 0; i < encoded.size(); i++) out += (i ? "," : "") + encoded[i];
  return out + "]";
}

class JsonObject {
 public:
  JsonObject& Str(std::string_view key, std::string_view value) {
    return Raw(key, JsonQuote(value));
  }
  JsonObject& Num(std::string_view key, uint64_t value) { return Raw(key, std::to_string(value)); }
  JsonObject& Int(std::string_view key, int64_t value) { return Raw(key, std::to_string(value)); }
  JsonObject& Bool(std::string_view key, bool value) { return Raw(key, value ? "true" : "false"); }
  JsonObject& Raw(std::string_view key, std::string_view encoded) {
    if (!body_.empty()) body_ += ',';
    body_ += JsonQuote(key);
    body_ += ':';
    body_ += encoded;
    return *this;
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

}  // namespace pmemfs::tools
