#include "khronika/schemas/text.h"

#include <ctime>
#include <set>

namespace khronika {
namespace {

constexpr size_t kMaxLocalName = 255;  // bytes: ext4, XFS, btrfs, and what ValidateFileName allows

struct Decoded {
  uint32_t cp = 0;
  size_t len = 1;
  bool valid = false;
};

// The code point at s[i], or one invalid byte. Valid means shortest form, not a surrogate and
// not above U+10FFFF, as IsValidUtf8 in objects.cc.
Decoded DecodeAt(std::string_view s, size_t i) {
  uint8_t c = static_cast<uint8_t>(s[i]);
  if (c < 0x80) return {c, 1, true};
  size_t extra;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0) {
    extra = 1, cp = c & 0x1fu;
  } else if ((c & 0xf0) == 0xe0) {
    extra = 2, cp = c & 0x0fu;
  } else if ((c & 0xf8) == 0xf0) {
    extra = 3, cp = c & 0x07u;
  } else {
    return {};
  }
  if (i + extra >= s.size()) return {};
  for (size_t k = 1; k <= extra; ++k) {
    uint8_t cc = static_cast<uint8_t>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return {};
    cp = cp << 6 | (cc & 0x3fu);
  }
  static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return {};
  return {cp, extra + 1, true};
}

std::string FoldAsciiCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The longest prefix of `s` of at most n bytes that does not end inside a UTF-8 sequence.
std::string_view TruncateUtf8(std::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<uint8_t>(s[n]) & 0xc0) == 0x80) --n;
  return s.substr(0, n);
}

// `name` with `suffix` before its extension (from the last '.', if not the first byte), the
// part before shortened so that the whole fits kMaxLocalName bytes.
std::string WithSuffixBeforeExtension(std::string_view name, std::string_view suffix) {
  size_t dot = name.rfind('.');
  std::string_view stem = name, ext;
  if (dot != std::string_view::npos && dot != 0 &&
      name.size() - dot + suffix.size() < kMaxLocalName) {
    stem = name.substr(0, dot);
    ext = name.substr(dot);
  }
  std::string out(TruncateUtf8(stem, kMaxLocalName - suffix.size() - ext.size()));
  out += suffix;
  out += ext;
  return out;
}

bool IsWindowsDeviceName(std::string_view name) {
  std::string stem = FoldAsciiCase(name.substr(0, name.find('.')));
  while (!stem.empty() && stem.back() == ' ') stem.pop_back();
  if (stem == "con" || stem == "prn" || stem == "aux" || stem == "nul") return true;
  return stem.size() == 4 && (stem.compare(0, 3, "com") == 0 || stem.compare(0, 3, "lpt") == 0) &&
         stem[3] >= '0' && stem[3] <= '9';
}

}  // namespace

bool IsInvisibleCodePoint(uint32_t cp) {
  for (const CodePointRange& r : kInvisibleCodePoints) {
    if (cp >= r.first && cp <= r.last) return true;
  }
  return false;
}

std::optional<uint32_t> FirstInvisibleCodePoint(std::string_view utf8) {
  for (size_t i = 0; i < utf8.size();) {
    Decoded d = DecodeAt(utf8, i);
    if (d.valid && IsInvisibleCodePoint(d.cp)) return d.cp;
    i += d.len;
  }
  return std::nullopt;
}

std::string CodePointLabel(uint32_t cp) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string digits;
  for (uint32_t v = cp; v != 0 || digits.size() < 4; v >>= 4)
    digits.insert(digits.begin(), kHex[v & 0xf]);
  return "U+" + digits;
}

std::string ShowInvisible(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size();) {
    Decoded d = DecodeAt(utf8, i);
    if (!d.valid) {
      out += "\xEF\xBF\xBD";  // U+FFFD
    } else if (IsInvisibleCodePoint(d.cp)) {
      out += "<" + CodePointLabel(d.cp) + ">";
    } else {
      out.append(utf8.substr(i, d.len));
    }
    i += d.len;
  }
  return out;
}

std::string SafeLocalFileName(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size();) {
    Decoded d = DecodeAt(name, i);
    bool unsafe = !d.valid || d.cp < 0x20 || d.cp == 0x7f || IsInvisibleCodePoint(d.cp) ||
                  (d.cp < 0x80 && std::string_view("/\\<>:\"|?*").find(static_cast<char>(d.cp)) !=
                                      std::string_view::npos);
    if (unsafe) {
      out += '_';
    } else {
      out.append(name.substr(i, d.len));
    }
    i += d.len;
  }
  out = std::string(TruncateUtf8(out, kMaxLocalName));
  if (out.empty()) return "_";
  if (out[0] == '.' || out[0] == '-' || out[0] == '~') out[0] = '_';
  for (size_t i = out.size(); i > 0 && (out[i - 1] == '.' || out[i - 1] == ' '); --i)
    out[i - 1] = '_';
  if (IsWindowsDeviceName(out)) {
    if (out.size() < kMaxLocalName) {
      out.insert(out.begin(), '_');
    } else {
      out[0] = '_';  // "CON.…" of 255 bytes: "_ON.…" is no device name either
    }
  }
  return out;
}

std::vector<LocalFileNames> PlanLocalFileNames(const std::vector<std::string>& names) {
  std::vector<LocalFileNames> out(names.size());
  std::set<std::string> taken;  // names and parts, ASCII case folded
  std::vector<bool> placed(names.size(), false);
  for (size_t i = 0; i < names.size(); ++i) {
    if (SafeLocalFileName(names[i]) == names[i] && taken.insert(FoldAsciiCase(names[i])).second) {
      out[i].name = names[i];
      placed[i] = true;
    }
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (placed[i]) continue;
    std::string base = SafeLocalFileName(names[i]), candidate = base;
    for (uint64_t k = 2; !taken.insert(FoldAsciiCase(candidate)).second; ++k) {
      candidate = WithSuffixBeforeExtension(base, "-" + std::to_string(k));
    }
    out[i].name = candidate;
  }
  for (LocalFileNames& f : out) {
    for (uint64_t k = 0;; ++k) {
      std::string suffix = k == 0 ? ".part" : "." + std::to_string(k) + ".part";
      std::string candidate =
          std::string(TruncateUtf8(f.name, kMaxLocalName - suffix.size())) + suffix;
      if (taken.insert(FoldAsciiCase(candidate)).second) {
        f.part = candidate;
        break;
      }
    }
  }
  return out;
}

std::string UtcTime(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  if (!gmtime_r(&secs, &tm)) return std::to_string(ms) + " ms since 1970";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace khronika
