#include "khronika/timestamp/timestamp_store.h"

#include <nlohmann/json.hpp>

namespace khronika {

Bytes TimestampKey(const Hash& origin, uint64_t size, const Hash& tsa_cert_sha256) {
  Bytes k(origin.begin(), origin.end());
  AppendBigEndian64(k, size);
  k.insert(k.end(), tsa_cert_sha256.begin(), tsa_cert_sha256.end());
  return k;
}

std::string EncodeStoredTimestamp(const StoredTimestamp& t) {
  nlohmann::json j = {{"url", t.tsa_url},
                      {"gen_time", t.token.gen_time},
                      {"gen_time_s", t.token.gen_time_s},
                      {"tsa_name", t.token.tsa_name},
                      {"tsa_cert_sha256", ToHex(t.token.tsa_cert_sha256)},
                      {"token", Base64Encode(t.token.token)},
                      {"chain", t.token.chain_pem}};
  return j.dump();
}

Result<StoredTimestamp> DecodeStoredTimestamp(ByteView key, ByteView value) {
  if (key.size() != 72) return Status::Corruption("a timestamp key is not 72 bytes");
  StoredTimestamp t;
  std::copy(key.begin(), key.begin() + 32, t.origin.begin());
  t.size = ReadBigEndian64(key.data() + 32);
  nlohmann::json j = nlohmann::json::parse(AsChars(value), nullptr, false);
  if (!j.is_object() || !j["url"].is_string() || !j["gen_time"].is_string() ||
      !j["gen_time_s"].is_number_integer() || !j["tsa_name"].is_string() ||
      !j["tsa_cert_sha256"].is_string() || !j["token"].is_string() || !j["chain"].is_string()) {
    return Status::Corruption("a stored timestamp is not the JSON of format.md section 12");
  }
  t.tsa_url = j["url"];
  t.token.gen_time = j["gen_time"];
  t.token.gen_time_s = j["gen_time_s"];
  t.token.tsa_name = j["tsa_name"];
  t.token.chain_pem = j["chain"];
  KH_ASSIGN_OR_RETURN(t.token.tsa_cert_sha256,
                      ParseHashHex(j["tsa_cert_sha256"].get<std::string>()));
  KH_ASSIGN_OR_RETURN(t.token.token, Base64Decode(j["token"].get<std::string>()));
  return t;
}

Status PutTimestamp(WriteTxn& txn, const StoredTimestamp& t) {
  return txn.Put(Table::kTimestamps, TimestampKey(t.origin, t.size, t.token.tsa_cert_sha256),
                 AsBytes(EncodeStoredTimestamp(t)));
}

Result<std::vector<StoredTimestamp>> TimestampsAt(const ReadTxn& txn, const Hash& origin,
                                                  uint64_t size) {
  Bytes prefix(origin.begin(), origin.end());
  AppendBigEndian64(prefix, size);
  std::vector<StoredTimestamp> out;
  KH_RETURN_IF_ERROR(txn.Scan(Table::kTimestamps, prefix,
                              [&](ByteView key, ByteView value) -> Result<bool> {
                                KH_ASSIGN_OR_RETURN(StoredTimestamp t,
                                                    DecodeStoredTimestamp(key, value));
                                out.push_back(std::move(t));
                                return true;
                              }));
  return out;
}

Result<std::optional<uint64_t>> SmallestTimestampedSize(const ReadTxn& txn, const Hash& origin,
                                                        uint64_t min_size) {
  Bytes prefix(origin.begin(), origin.end());
  Bytes start = prefix;
  AppendBigEndian64(start, min_size);
  std::optional<uint64_t> found;
  KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kTimestamps, prefix, [&](ByteView key) -> Result<bool> {
    if (key.size() != 72) return Status::Corruption("a timestamp key is not 72 bytes");
    uint64_t size = ReadBigEndian64(key.data() + 32);
    if (size < min_size) return true;
    found = size;
    return false;
  }));
  return found;
}

Result<std::optional<uint64_t>> LatestTimestampedSize(const ReadTxn& txn, const Hash& origin) {
  Bytes prefix(origin.begin(), origin.end());
  KH_ASSIGN_OR_RETURN(auto last, txn.Last(Table::kTimestamps, prefix));
  if (!last) return std::optional<uint64_t>();
  if (last->first.size() != 72) return Status::Corruption("a timestamp key is not 72 bytes");
  return std::optional<uint64_t>(ReadBigEndian64(last->first.data() + 32));
}

}  // namespace khronika
