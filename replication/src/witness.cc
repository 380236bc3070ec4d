#include "khronika/replication/witness.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/custody.h"
#include "khronika/schemas/recovery_objects.h"
#include "khronika/schemas/sealed_objects.h"

namespace khronika {
namespace {

constexpr std::string_view kMemberPrefix = "member/";

std::string LineText(const NoteSignatureLine& line) {
  SignedNote only{"x\n", {line}};
  std::string formatted = FormatSignedNote(only);
  return formatted.substr(3);  // drop "x\n\n"
}

Result<std::optional<std::string>> HeldCheckpointBody(const ReadTxn& txn, const Hash& origin,
                                                      uint64_t size) {
  KH_ASSIGN_OR_RETURN(auto note, txn.Get(Table::kCheckpoints, keys::Checkpoint(origin, size)));
  if (!note) return std::optional<std::string>();
  KH_ASSIGN_OR_RETURN(SignedNote n, ParseSignedNote(AsChars(*note)));
  return std::optional<std::string>(n.text);
}

}  // namespace

Status CheckFullyHeld(const ReadTxn& txn, const Hash& origin, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to; ++i) {
    const std::string where = "record " + std::to_string(i) + " of " + OriginName(origin);
    auto logged = ReadLoggedObject(txn, origin, i);
    if (!logged.ok()) return Status::Corruption(where + ": " + logged.status().message());
    const Hash& id = logged->record.object_id;
    if (ObjectId(logged->object_bytes) != id) {
      return Status::Corruption(where + ": object " + ToHex(id) + " is damaged");
    }
    auto type = PeekObjectType(logged->object_bytes);
    if (!type.ok()) return Status::Corruption(where + ": " + type.status().message());
    if (*type == kTypeSealedEntry) {
      auto sealed = DecodeSealedEntry(logged->object_bytes);
      if (!sealed.ok()) return Status::Corruption(where + ": " + sealed.status().message());
      Status chunks = CheckSealedChunks(txn, *sealed);
      if (!chunks.ok()) return Status::Corruption(where + ": " + chunks.message());
    } else if (*type == kTypeCustodyRecord) {
      auto custody = DecodeCustodyRecord(logged->object_bytes);
      if (!custody.ok()) return Status::Corruption(where + ": " + custody.status().message());
    } else if (*type != kTypeRecoverySet && *type != kTypeShareRelease) {
      return Status::Corruption(where + ": logs an object of an unknown type");
    }
  }
  return Status::Ok();
}

Result<bool> CosignLatest(Store& store, const Hash& origin, const Witness& witness,
                          uint64_t now_seconds, std::string* withheld) {
  // The check reads every new sealed chunk: in a read transaction, so the writer is not held.
  uint64_t size = 0;
  Status held = Status::Ok();
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto last, LatestHeldCheckpoint(txn, origin));
    if (!last || last->size == 0) return Status::Ok();  // nothing to vouch for
    KH_ASSIGN_OR_RETURN(bool have, txn.Contains(Table::kCosignatures,
                                                keys::Cosignature(origin, last->size, witness.name)));
    if (have) return Status::Ok();
    // Where this witness vouched last: the prefix up to there was held whole then.
    uint64_t from = 0;
    KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kCosignatures, origin, [&](ByteView key) -> Result<bool> {
      auto at = keys::DecodeCosignature(key);
      if (at.ok() && at->index <= last->size &&
          std::string_view(AsChars(key.subspan(40))) == witness.name) {
        from = std::max(from, at->index);
      }
      return true;
    }));
    held = CheckFullyHeld(txn, origin, from, last->size);
    size = last->size;
    return Status::Ok();
  }));
  if (size == 0) return false;
  if (!held.ok()) {
    if (withheld) *withheld = "not cosigned: " + held.message();
    return false;
  }
  bool made = false;
  KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) -> Status {
    Bytes key = keys::Cosignature(origin, size, witness.name);
    KH_ASSIGN_OR_RETURN(bool have, txn.Contains(Table::kCosignatures, key));
    if (have) return Status::Ok();
    KH_ASSIGN_OR_RETURN(auto stored, txn.Get(Table::kCheckpoints, keys::Checkpoint(origin, size)));
    if (!stored) return Status::Ok();
    KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(AsChars(*stored)));
    NoteSignatureLine line = CosignCheckpoint(note.text, witness.name, *witness.key, now_seconds);
    made = true;
    KH_RETURN_IF_ERROR(txn.Put(Table::kCosignatures, key, AsBytes(LineText(line))));
    // This node counts among the witnesses whose cosignatures it verifies and serves.
    KH_ASSIGN_OR_RETURN(auto local, txn.Get(Table::kMeta, AsBytes(keys::kMetaLocalOrigin)));
    if (!local || local->size() != 32) return Status::Ok();
    Bytes member_key(kMemberPrefix.begin(), kMemberPrefix.end());
    member_key.insert(member_key.end(), local->begin(), local->end());
    KH_ASSIGN_OR_RETURN(auto meta, txn.Get(Table::kMeta, member_key));
    if (meta) return Status::Ok();
    nlohmann::json j = {{"vkey", ""},
                        {"cosigner_vkey", FormatCosignerVerifierKey(witness.name, witness.key->public_key())}};
    return txn.Put(Table::kMeta, member_key, AsBytes(j.dump()));
  }));
  return made;
}

Result<std::string> CheckpointWithCosignatures(const ReadTxn& txn, const Hash& origin,
                                               uint64_t size) {
  KH_ASSIGN_OR_RETURN(auto stored, txn.Get(Table::kCheckpoints, keys::Checkpoint(origin, size)));
  if (!stored) return Status::NotFound("no checkpoint at size " + std::to_string(size));
  KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(AsChars(*stored)));
  KH_RETURN_IF_ERROR(txn.Scan(Table::kCosignatures, keys::Checkpoint(origin, size),
                              [&](ByteView, ByteView value) -> Result<bool> {
                                KH_ASSIGN_OR_RETURN(NoteSignatureLine line, ParseStoredCosignature(value));
                                if (note.signatures.size() < kMaxNoteSignatures) {
                                  note.signatures.push_back(std::move(line));
                                }
                                return true;
                              }));
  return FormatSignedNote(note);
}

Result<size_t> IngestCosignatures(Store& store, const Hash& origin, std::string_view text) {
  KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(text));
  KH_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpointBody(note.text));
  size_t added = 0;
  KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto held, HeldCheckpointBody(txn, origin, cp.size));
    if (!held || *held != note.text) return Status::Ok();  // only for checkpoints held here
    KH_ASSIGN_OR_RETURN(auto witnesses, MemberWitnessKeys(txn));
    for (const NoteSignatureLine& line : note.signatures) {
      for (const auto& [member, verifier] : witnesses) {
        if (line.name != verifier.name) continue;
        if (!VerifyCosignature(note.text, line, verifier)) continue;
        Bytes key = keys::Cosignature(origin, cp.size, line.name);
        KH_ASSIGN_OR_RETURN(bool have, txn.Contains(Table::kCosignatures, key));
        if (have) continue;
        KH_RETURN_IF_ERROR(txn.Put(Table::kCosignatures, key, AsBytes(LineText(line))));
        ++added;
      }
    }
    return Status::Ok();
  }));
  return added;
}

Result<std::vector<VerifiedCosignature>> VerifiedCosignatures(const ReadTxn& txn,
                                                              const Hash& origin, uint64_t size) {
  std::vector<VerifiedCosignature> out;
  KH_ASSIGN_OR_RETURN(auto held, HeldCheckpointBody(txn, origin, size));
  if (!held) return out;
  KH_ASSIGN_OR_RETURN(auto witnesses, MemberWitnessKeys(txn));
  KH_RETURN_IF_ERROR(txn.Scan(Table::kCosignatures, keys::Checkpoint(origin, size),
                              [&](ByteView, ByteView value) -> Result<bool> {
                                KH_ASSIGN_OR_RETURN(NoteSignatureLine line, ParseStoredCosignature(value));
                                for (const auto& [member, verifier] : witnesses) {
                                  auto ts = VerifyCosignature(*held, line, verifier);
                                  if (!ts) continue;
                                  out.push_back({line.name,
                                                 FormatCosignerVerifierKey(verifier.name, verifier.key),
                                                 *ts, member});
                                }
                                return true;
                              }));
  return out;
}

Result<NoteSignatureLine> ParseStoredCosignature(ByteView stored) {
  KH_ASSIGN_OR_RETURN(SignedNote n, ParseSignedNote("x\n\n" + std::string(AsChars(stored))));
  if (n.signatures.size() != 1) return Status::Corruption("stored cosignature is malformed");
  return n.signatures[0];
}

Result<std::vector<std::pair<Hash, NoteVerifier>>> MemberWitnessKeys(const ReadTxn& txn) {
  std::vector<std::pair<Hash, NoteVerifier>> out;
  Bytes prefix(kMemberPrefix.begin(), kMemberPrefix.end());
  KH_RETURN_IF_ERROR(txn.Scan(Table::kMeta, prefix, [&](ByteView key, ByteView value) -> Result<bool> {
    auto j = nlohmann::json::parse(AsChars(value), nullptr, false);
    if (!j.is_object() || key.size() != prefix.size() + 32) return true;
    std::string vkey = j.value("cosigner_vkey", "");
    if (vkey.empty()) return true;
    auto v = ParseCosignerVerifierKey(vkey);
    if (!v.ok()) return true;
    Hash member;
    std::copy(key.begin() + static_cast<long>(prefix.size()), key.end(), member.begin());
    out.emplace_back(member, *v);
    return true;
  }));
  return out;
}

}  // namespace khronika
