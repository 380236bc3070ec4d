#include "khronika/bundle/bundle_paths.h"

#include <cstdio>
#include <vector>

#include "khronika/schemas/crypto.h"

namespace khronika::bundle_paths {
namespace {

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsIndex20(std::string_view s) {
  if (s.size() != 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  // Twenty digits can say more than a u64 holds; such a folder is no record's.
  return s <= "18446744073709551615";
}

// A position: "0" or 1 to `max_digits` digits without a leading zero.
bool IsPosition(std::string_view s, size_t max_digits) {
  if (s.empty() || s.size() > max_digits || (s.size() > 1 && s[0] == '0')) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool IsExtension(std::string_view s) {
  if (s.size() < 2 || s.size() > 9 || s[0] != '.') return false;
  for (char c : s.substr(1)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

bool StripSuffix(std::string_view& s, std::string_view suffix) {
  if (s.size() < suffix.size() || s.substr(s.size() - suffix.size()) != suffix) return false;
  s.remove_suffix(suffix.size());
  return true;
}

bool StripPrefix(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// p = records, origin, index, ...
bool IsRecordFile(const std::vector<std::string_view>& p) {
  if (p.size() == 4) {
    for (std::string_view n : {"record.bin", "record.json", "sealed_entry.bin", "proof.json",
                               "link.key", "entry.key", "entry.bin", "entry.json"}) {
      if (p[3] == n) return true;
    }
    return false;
  }
  if (p[3] != "files" || p.size() < 6 || !IsPosition(p[4], 3)) return false;
  std::string_view name = p[5];
  if (p.size() == 6) {
    if (name == "file.key" || name == "salt.hex" || name == "descriptor.bin" ||
        name == "descriptor.json") {
      return true;
    }
    return StripPrefix(name, "content") && IsExtension(name);
  }
  if (p.size() == 7 && name == "sealed") {
    std::string_view chunk = p[6];
    return StripSuffix(chunk, ".bin") && IsPosition(chunk, 7);
  }
  return false;
}

// p = custody, origin, index, ...: a custody record holding events of the case (section 17.7).
bool IsCustodyFile(const std::vector<std::string_view>& p) {
  if (p.size() == 4) {
    return p[3] == "record.bin" || p[3] == "custody_record.bin" || p[3] == "proof.json";
  }
  if (p.size() != 5 || p[3] != "events") return false;
  std::string_view name = p[4];
  if (!StripSuffix(name, ".key") && !StripSuffix(name, ".json")) return false;
  return IsPosition(name, 3);
}

}  // namespace

std::string AuthorKey(const PublicKey& author) { return "keys/authors/" + ToHex(author) + ".pem"; }
std::string OriginKey(const Hash& origin) { return "keys/origins/" + ToHex(origin) + ".vkey"; }
std::string CosignerKey(const Hash& member) { return "keys/cosigners/" + ToHex(member) + ".vkey"; }
std::string ExternalWitnessKey(std::string_view vkey) {
  return "keys/witnesses/" + ToHex(Sha256(vkey)) + ".vkey";
}
std::string Checkpoint(const Hash& origin) { return "logs/" + ToHex(origin) + "/checkpoint.note"; }

// RFC 3161 timestamps (#16, format.md section 17.6).
std::string TimestampedCheckpoint(const Hash& origin) {
  return "logs/" + ToHex(origin) + "/timestamped.note";
}
std::string TimestampConsistency(const Hash& origin) {
  return "logs/" + ToHex(origin) + "/timestamped.consistency.json";
}
std::string TimestampToken(const Hash& origin, const Hash& tsa_cert) {
  return "logs/" + ToHex(origin) + "/timestamps/" + ToHex(tsa_cert) + ".tst";
}
std::string TsaCa(const Hash& tsa_cert) { return "keys/tsa/" + ToHex(tsa_cert) + ".pem"; }

std::string RecordDir(const Hash& origin, uint64_t index) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(index));
  return "records/" + ToHex(origin) + "/" + digits;
}
std::string CustodyDir(const Hash& origin, uint64_t index) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(index));
  return "custody/" + ToHex(origin) + "/" + digits;
}
std::string CustodyEventKey(uint32_t slot) { return "events/" + std::to_string(slot) + ".key"; }
std::string CustodyEventJson(uint32_t slot) { return "events/" + std::to_string(slot) + ".json"; }
std::string FileDir(size_t n) { return "files/" + std::to_string(n); }
std::string Content(size_t n, std::string_view media_type) {
  return FileDir(n) + "/content" + std::string(FileExtensionFor(media_type));
}
std::string SealedChunk(size_t n, uint64_t k) {
  return FileDir(n) + "/sealed/" + std::to_string(k) + ".bin";
}

bool IsBundleFile(std::string_view path) {
  if (path == kReport || path == kManifest || path == kIndex) return true;
  std::vector<std::string_view> p = Split(path);
  if (p.size() == 3 && p[0] == "keys") {
    std::string_view name = p[2];
    if (p[1] == "authors") return StripSuffix(name, ".pem") && IsHex64(name);
    if (p[1] == "origins" || p[1] == "cosigners" || p[1] == "witnesses") {
      return StripSuffix(name, ".vkey") && IsHex64(name);
    }
    if (p[1] == "tsa") return StripSuffix(name, ".pem") && IsHex64(name);
    return false;
  }
  if (p.size() == 3 && p[0] == "logs") {
    return IsHex64(p[1]) && (p[2] == "checkpoint.note" || p[2] == "timestamped.note" ||
                             p[2] == "timestamped.consistency.json");
  }
  if (p.size() == 4 && p[0] == "logs" && p[2] == "timestamps") {
    std::string_view name = p[3];
    return IsHex64(p[1]) && StripSuffix(name, ".tst") && IsHex64(name);
  }
  if (p.size() >= 4 && p[0] == "records") return IsHex64(p[1]) && IsIndex20(p[2]) && IsRecordFile(p);
  if (p.size() >= 4 && p[0] == "custody") {
    return IsHex64(p[1]) && IsIndex20(p[2]) && IsCustodyFile(p);
  }
  return false;
}

bool IsBundleFolder(std::string_view path) {
  std::vector<std::string_view> p = Split(path);
  if (p[0] == "keys") {
    return p.size() == 1 ||
           (p.size() == 2 && (p[1] == "authors" || p[1] == "origins" || p[1] == "cosigners" ||
                              p[1] == "witnesses" || p[1] == "tsa"));
  }
  if (p[0] == "logs") {
    return p.size() == 1 || (p.size() >= 2 && p.size() <= 3 && IsHex64(p[1]) &&
                             (p.size() == 2 || p[2] == "timestamps"));
  }
  if (p[0] == "custody") {
    if (p.size() == 1) return true;
    if (!IsHex64(p[1])) return false;
    if (p.size() == 2) return true;
    if (!IsIndex20(p[2])) return false;
    return p.size() == 3 || (p.size() == 4 && p[3] == "events");
  }
  if (p[0] != "records") return false;
  if (p.size() == 1) return true;
  if (!IsHex64(p[1])) return false;
  if (p.size() == 2) return true;
  if (!IsIndex20(p[2])) return false;
  if (p.size() == 3) return true;
  if (p[3] != "files") return false;
  if (p.size() == 4) return true;
  if (!IsPosition(p[4], 3)) return false;
  return p.size() == 5 || (p.size() == 6 && p[5] == "sealed");
}

}  // namespace khronika::bundle_paths
