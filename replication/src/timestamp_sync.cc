// RFC 3161 tokens travel between partners like the logs they are over (docs/replication.md,
// "Timestamps"): the origin's tokens survive a raid on the origin, and any partner can hand them
// to an auditor or to the organisation rebuilt after a recovery.
#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/protocol.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/timestamp/rfc3161.h"
#include "khronika/timestamp/timestamp_store.h"

namespace khronika {
namespace {

using nlohmann::json;

// A TSA URL as the origin noted it: shown, never fetched, so only kept printable and short.
bool PlausibleUrl(const std::string& url) {
  if (url.size() > 2048) return false;
  for (unsigned char c : url) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

Result<std::string> BuildTimestampsAnswer(const ReadTxn& txn, const Hash& origin, uint64_t size) {
  KH_ASSIGN_OR_RETURN(std::vector<StoredTimestamp> tokens, TimestampsAt(txn, origin, size));
  KH_ASSIGN_OR_RETURN(std::optional<Bytes> note,
                      txn.Get(Table::kCheckpoints, keys::Checkpoint(origin, size)));
  if (tokens.empty() || !note) {
    return Status::NotFound("no timestamp of " + ToHex(origin) + " at size " +
                            std::to_string(size) + " is held here");
  }
  json list = json::array();
  size_t bytes = note->size();
  for (const StoredTimestamp& t : tokens) {
    if (list.size() == kMaxTimestampsPerCheckpoint) break;
    json item = {{"url", t.tsa_url},
                 {"token", Base64Encode(t.token.token)},
                 {"chain", t.token.chain_pem}};
    bytes += item.dump().size();
    if (bytes > kMaxTimestampsAnswerBytes - 4096) break;
    list.push_back(std::move(item));
  }
  return json{{"checkpoint", std::string(AsChars(*note))}, {"timestamps", list}}.dump();
}

Result<size_t> PullTimestamps(Store& store, PeerTransport& peer, const Hash& origin,
                              uint64_t size) {
  std::optional<PublicKey> key;
  Hash held_root{};
  bool already = false;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(std::vector<StoredTimestamp> held, TimestampsAt(txn, origin, size));
    already = !held.empty();
    KH_ASSIGN_OR_RETURN(key, MemberKey(txn, origin));
    KH_ASSIGN_OR_RETURN(uint64_t log_size, LogSize(txn, origin));
    if (already || !key || log_size < size) return Status::Ok();
    KH_ASSIGN_OR_RETURN(held_root, MerkleRoot(size, StoredSubtrees(txn, origin)));
    return Status::Ok();
  }));
  if (already) return size_t{0};
  if (!key) return Status::PermissionDenied("origin " + ToHex(origin) + " is not a roster member");
  if (held_root == Hash{}) {
    return Status::NotFound("the log held here is shorter than " + std::to_string(size));
  }

  KH_ASSIGN_OR_RETURN(std::string text, peer.Timestamps(origin, size));
  if (text.size() > kMaxTimestampsAnswerBytes) return Status::Corruption("answer too large");
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("checkpoint") || !j["checkpoint"].is_string() ||
      !j.contains("timestamps") || !j["timestamps"].is_array() || j["timestamps"].empty() ||
      j["timestamps"].size() > kMaxTimestampsPerCheckpoint) {
    return Status::Corruption("not a timestamps answer");
  }
  // The checkpoint: signed by the origin, of this log and size, with the root held here.
  const std::string note_text = j["checkpoint"].get<std::string>();
  KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(note_text));
  KH_ASSIGN_OR_RETURN(NoteVerifier verifier,
                      ParseVerifierKey(FormatVerifierKey(OriginName(origin), *key)));
  if (!NoteSignedBy(note, verifier)) {
    return Status::Corruption("the timestamped checkpoint is not signed by the origin's key");
  }
  KH_ASSIGN_OR_RETURN(Checkpoint checkpoint, ParseCheckpointBody(note.text));
  if (checkpoint.origin != OriginName(origin) || checkpoint.size != size) {
    return Status::Corruption("the timestamped checkpoint names another log or size");
  }
  if (checkpoint.root != held_root) {
    return Status::Corruption("the timestamped checkpoint's root is not that of the log held here");
  }
  // Each token: over that body, intact, signed under the chain it carries.
  std::vector<StoredTimestamp> stored;
  for (const json& item : j["timestamps"]) {
    if (!item.is_object() || !item.contains("url") || !item["url"].is_string() ||
        !item.contains("token") || !item["token"].is_string() || !item.contains("chain") ||
        !item["chain"].is_string() || item["chain"].get<std::string>().size() > kMaxTsaCaFileBytes) {
      return Status::Corruption("a malformed timestamp");
    }
    const std::string url = item["url"].get<std::string>();
    if (!PlausibleUrl(url)) return Status::Corruption("a timestamp's TSA URL is not printable");
    KH_ASSIGN_OR_RETURN(Bytes der, Base64Decode(item["token"].get<std::string>()));
    if (der.size() > kMaxTimestampBytes) return Status::Corruption("a timestamp token too large");
    const std::string ca = TsaCaCertificates(item["chain"].get<std::string>());
    auto token = VerifyTimestampToken(der, note.text, ca);
    if (!token.ok()) return token.status().Annotate("the token from " + url);
    stored.push_back({origin, size, url, std::move(*token)});
  }
  const std::string origin_note = OriginSignedNote(note, verifier);
  KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) -> Status {
    const Bytes at = keys::Checkpoint(origin, size);
    KH_ASSIGN_OR_RETURN(std::optional<Bytes> held, txn.Get(Table::kCheckpoints, at));
    if (!held) KH_RETURN_IF_ERROR(txn.Put(Table::kCheckpoints, at, AsBytes(origin_note)));
    for (const StoredTimestamp& t : stored) KH_RETURN_IF_ERROR(PutTimestamp(txn, t));
    return Status::Ok();
  }));
  return stored.size();
}

}  // namespace khronika
