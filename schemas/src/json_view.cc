#include "khronika/schemas/json_view.h"

#include <limits>
#include <set>

namespace khronika {
namespace {

using nlohmann::json;

json HashArray(const std::vector<Hash>& hashes) {
  json a = json::array();
  for (const Hash& h : hashes) a.push_back(ToHex(h));
  return a;
}

Status OnlyKeys(const json& j, std::initializer_list<const char*> allowed, const char* what) {
  if (!j.is_object()) return Status::InvalidArgument(std::string(what) + " must be an object");
  std::set<std::string> ok(allowed.begin(), allowed.end());
  for (const auto& [k, v] : j.items()) {
    if (!ok.count(k)) return Status::InvalidArgument(std::string(what) + ": unknown field " + k);
  }
  return Status::Ok();
}

Result<std::string> GetString(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return Status::InvalidArgument(std::string("field ") + key + " must be a string");
  }
  return it->get<std::string>();
}

template <size_t N>
Result<std::array<uint8_t, N>> GetFixedHex(const json& j, const char* key) {
  KH_ASSIGN_OR_RETURN(std::string s, GetString(j, key));
  if (s.size() != 2 * N) {
    return Status::InvalidArgument(std::string("field ") + key + " must be " +
                                   std::to_string(2 * N) + " lowercase hex characters");
  }
  KH_ASSIGN_OR_RETURN(Bytes raw, FromHex(s));
  std::array<uint8_t, N> out;
  std::copy(raw.begin(), raw.end(), out.begin());
  return out;
}

Result<std::vector<Hash>> GetHashList(const json& j, const char* key, size_t max) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) {
    return Status::InvalidArgument(std::string("field ") + key + " must be an array");
  }
  if (it->size() > max) return Status::InvalidArgument(std::string("field ") + key + " too long");
  std::vector<Hash> out;
  for (const json& v : *it) {
    if (!v.is_string()) return Status::InvalidArgument(std::string(key) + ": ids are strings");
    KH_ASSIGN_OR_RETURN(Hash h, ParseHashHex(v.get<std::string>()));
    out.push_back(h);
  }
  return out;
}

Result<uint64_t> GetUnsigned(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) {
    return Status::InvalidArgument(std::string("field ") + key + " must be a non-negative integer");
  }
  return it->get<uint64_t>();
}

Result<int64_t> GetSigned(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) {
    return Status::InvalidArgument(std::string("field ") + key + " must be an integer");
  }
  // nlohmann keeps numbers above INT64_MAX as unsigned, and get<int64_t>() would wrap them.
  if (it->is_number_unsigned() &&
      it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Status::InvalidArgument(std::string("field ") + key + " is out of range");
  }
  return it->get<int64_t>();
}

}  // namespace

json ToJson(const FileDescriptor& d) {
  return {{"name", d.name},
          {"media_type", d.media_type},
          {"size", d.size},
          {"sha256", ToHex(d.content_sha256)}};
}

json ToJson(const SignedEntry& e) {
  json j = {{"case", e.case_id},
            {"author", ToHex(e.author)},
            {"created_at_ms", e.created_at_ms},
            {"kind", e.kind},
            {"files", HashArray(e.files)},
            {"metadata", e.metadata},
            {"signature", ToHex(e.signature)}};
  if (e.corrects) j["corrects"] = ToHex(*e.corrects);
  return j;
}

json ToJson(const Record& r) {
  return {{"origin", ToHex(r.origin)},
          {"index", r.index},
          {"prev_record", ToHex(r.prev_record)},
          {"object_id", ToHex(r.object_id)},
          {"received_at_ms", r.received_at_ms}};
}

Result<FileDescriptor> DescriptorFromJson(const json& j) {
  KH_RETURN_IF_ERROR(OnlyKeys(j, {"name", "media_type", "size", "sha256"}, "file descriptor"));
  FileDescriptor d;
  KH_ASSIGN_OR_RETURN(d.name, GetString(j, "name"));
  KH_ASSIGN_OR_RETURN(d.media_type, GetString(j, "media_type"));
  KH_ASSIGN_OR_RETURN(d.size, GetUnsigned(j, "size"));
  KH_ASSIGN_OR_RETURN(d.content_sha256, GetFixedHex<32>(j, "sha256"));
  KH_RETURN_IF_ERROR(ValidateDescriptor(d));
  return d;
}

Result<SignedEntry> SignedEntryFromJson(const json& j) {
  KH_RETURN_IF_ERROR(OnlyKeys(j,
                              {"case", "author", "created_at_ms", "kind", "files", "metadata",
                               "signature", "corrects"},
                              "entry"));
  SignedEntry e;
  KH_ASSIGN_OR_RETURN(e.case_id, GetString(j, "case"));
  KH_ASSIGN_OR_RETURN(e.author, GetFixedHex<32>(j, "author"));
  KH_ASSIGN_OR_RETURN(e.created_at_ms, GetSigned(j, "created_at_ms"));
  KH_ASSIGN_OR_RETURN(e.kind, GetString(j, "kind"));
  KH_ASSIGN_OR_RETURN(e.files, GetHashList(j, "files", kMaxFilesPerEntry));
  auto meta = j.find("metadata");
  if (meta != j.end()) {
    if (!meta->is_object() || meta->size() > kMaxMetadataPairs) {
      return Status::InvalidArgument("field metadata must be an object of at most 64 strings");
    }
    for (const auto& [k, v] : meta->items()) {
      if (!v.is_string()) return Status::InvalidArgument("metadata values must be strings");
      e.metadata[k] = v.get<std::string>();
    }
  }
  if (j.contains("corrects")) {
    KH_ASSIGN_OR_RETURN(Hash c, GetFixedHex<32>(j, "corrects"));
    e.corrects = c;
  }
  KH_ASSIGN_OR_RETURN(e.signature, GetFixedHex<64>(j, "signature"));
  KH_RETURN_IF_ERROR(ValidateSignedEntryFields(e));
  return e;
}

}  // namespace khronika
