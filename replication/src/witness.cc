#include "khronika/replication/witness.h"

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/roster.h"
#include "khronika/schemas/merkle.h"
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

// On its first cosignature this node counts among the witnesses whose cosignatures it
// verifies and serves.
Status RegisterOwnWitnessKey(WriteTxn& txn, const Witness& witness) {
  KH_ASSIGN_OR_RETURN(auto local, txn.Get(Table::kMeta, AsBytes(keys::kMetaLocalOrigin)));
  if (!local || local->size() != 32) return Status::Ok();
  Bytes member_key(kMemberPrefix.begin(), kMemberPrefix.end());
  member_key.insert(member_key.end(), local->begin(), local->end());
  KH_ASSIGN_OR_RETURN(auto meta, txn.Get(Table::kMeta, member_key));
  if (meta) return Status::Ok();
  nlohmann::json j = {
      {"vkey", ""},
      {"cosigner_vkey", FormatCosignerVerifierKey(witness.name, witness.key->public_key())}};
  return txn.Put(Table::kMeta, member_key, AsBytes(j.dump()));
}

constexpr std::string_view kOriginPrefix = "khronika/";

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
    // add-checkpoint (WitnessAddCheckpoint) may have cosigned a larger one meanwhile: the
    // latest cosigned size only grows.
    KH_ASSIGN_OR_RETURN(uint64_t latest,
                        LatestCosignedSize(txn, Table::kCosignatures, origin, witness.name));
    if (latest > size) return Status::Ok();
    KH_ASSIGN_OR_RETURN(auto stored, txn.Get(Table::kCheckpoints, keys::Checkpoint(origin, size)));
    if (!stored) return Status::Ok();
    KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(AsChars(*stored)));
    NoteSignatureLine line = CosignCheckpoint(note.text, witness.name, *witness.key, now_seconds);
    made = true;
    KH_RETURN_IF_ERROR(txn.Put(Table::kCosignatures, key, AsBytes(LineText(line))));
    return RegisterOwnWitnessKey(txn, witness);
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

Result<uint64_t> LatestCosignedSize(const ReadTxn& txn, Table table, const Hash& origin,
                                    std::string_view name) {
  uint64_t latest = 0;
  KH_RETURN_IF_ERROR(txn.ScanKeys(table, origin, [&](ByteView key) -> Result<bool> {
    auto at = keys::DecodeCosignature(key);
    if (at.ok() && key.size() > 40 && std::string_view(AsChars(key.subspan(40))) == name) {
      latest = std::max(latest, at->index);
    }
    return true;
  }));
  return latest;
}

Result<AddCheckpointAnswer> WitnessAddCheckpoint(Store& store, const Hash& self,
                                                 const Witness& witness,
                                                 const AddCheckpointRequest& request,
                                                 uint64_t now_seconds) {
  auto answer = [](int status, std::string body) {
    return AddCheckpointAnswer{status, std::move(body)};
  };
  auto note = ParseSignedNote(request.note);
  if (!note.ok()) {
    return answer(400, "the checkpoint is not a signed note: " + note.status().message());
  }
  auto cp = ParseCheckpointBody(note->text);
  if (!cp.ok()) return answer(400, "the note is not a checkpoint: " + cp.status().message());
  std::optional<Hash> origin;
  if (cp->origin.substr(0, kOriginPrefix.size()) == kOriginPrefix) {
    auto h = ParseHashHex(std::string_view(cp->origin).substr(kOriginPrefix.size()));
    if (h.ok()) origin = *h;
  }
  const std::string unknown = "this node witnesses only the logs of its roster members, and " +
                              cp->origin + " is not one";
  if (!origin) return answer(404, unknown);
  if (*origin == self) return answer(404, "this node does not witness its own log");

  AddCheckpointAnswer out;
  bool checked = false;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(std::optional<PublicKey> key, MemberKey(txn, *origin));
    if (!key) {
      out = answer(404, unknown);
      return Status::Ok();
    }
    NoteVerifier verifier{cp->origin, NoteKeyId(cp->origin, *key), *key};
    if (!NoteSignedBy(*note, verifier)) {
      out = answer(403, "the checkpoint carries no valid signature by the roster key of " +
                            cp->origin);
      return Status::Ok();
    }
    if (request.old_size > cp->size) {
      out = answer(400, "the old size " + std::to_string(request.old_size) +
                            " is larger than the checkpoint's size " + std::to_string(cp->size));
      return Status::Ok();
    }
    KH_ASSIGN_OR_RETURN(uint64_t last,
                        LatestCosignedSize(txn, Table::kCosignatures, *origin, witness.name));
    if (request.old_size != last) {
      out = answer(409, std::to_string(last) + "\n");
      return Status::Ok();
    }
    if (cp->size == 0) {
      // Khronika never cosigns an empty log (nothing is held to vouch for).
      out = answer(422, cp->root == MerkleEmptyRoot()
                            ? "this witness cosigns no checkpoint of size 0"
                            : "a checkpoint of size 0 must have the root of the empty tree");
      return Status::Ok();
    }
    if (request.old_size == 0) {
      if (!request.proof.empty()) {
        out = answer(422, "from old size 0 the consistency proof must be empty");
        return Status::Ok();
      }
    } else {
      KH_ASSIGN_OR_RETURN(auto held_old, HeldCheckpointBody(txn, *origin, last));
      if (!held_old) {
        return Status::Corruption("the checkpoint of " + cp->origin +
                                  " this node cosigned at size " + std::to_string(last) +
                                  " is not held");
      }
      KH_ASSIGN_OR_RETURN(Checkpoint old_cp, ParseCheckpointBody(*held_old));
      bool consistent = request.old_size == cp->size
                            ? old_cp.root == cp->root
                            : VerifyConsistency(request.old_size, cp->size, old_cp.root, cp->root,
                                                request.proof);
      if (!consistent) {
        out = answer(422, request.old_size == cp->size
                              ? "the root differs from the checkpoint cosigned at that size"
                              : "the consistency proof from size " +
                                    std::to_string(request.old_size) + " does not verify");
        return Status::Ok();
      }
    }
    // A partner's cosignature means "verified and fully held": only what sync brought here.
    KH_ASSIGN_OR_RETURN(auto held, HeldCheckpointBody(txn, *origin, cp->size));
    if (!held) {
      out = answer(503, "this node does not hold that checkpoint yet; it cosigns only what it "
                        "holds whole, once it has pulled the log from its peers");
      return Status::Ok();
    }
    if (*held != note->text) {
      out = answer(422, "the checkpoint contradicts the one held here at size " +
                            std::to_string(cp->size));
      return Status::Ok();
    }
    Status whole = CheckFullyHeld(txn, *origin, last, cp->size);
    if (!whole.ok()) {
      out = answer(503, "not cosigned: " + whole.message());
      return Status::Ok();
    }
    checked = true;
    return Status::Ok();
  }));
  if (!checked) return out;
  // The check above read chunks without holding the writer; what it relied on is checked again
  // here, where the writer is held: the last cosigned size, so that two requests with the same
  // old size cannot both cosign.
  KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t last,
                        LatestCosignedSize(txn, Table::kCosignatures, *origin, witness.name));
    if (last != request.old_size) {
      out = answer(409, std::to_string(last) + "\n");
      return Status::Ok();
    }
    Bytes key = keys::Cosignature(*origin, cp->size, witness.name);
    KH_ASSIGN_OR_RETURN(auto existing, txn.Get(Table::kCosignatures, key));
    if (existing) {  // the same checkpoint again (old size == size): the same answer
      out = answer(200, std::string(AsChars(*existing)));
      return Status::Ok();
    }
    NoteSignatureLine line = CosignCheckpoint(note->text, witness.name, *witness.key, now_seconds);
    out = answer(200, LineText(line));
    KH_RETURN_IF_ERROR(txn.Put(Table::kCosignatures, key, AsBytes(out.body)));
    return RegisterOwnWitnessKey(txn, witness);
  }));
  return out;
}

Result<ExternalWitness> ParseExternalWitness(std::string_view line) {
  std::istringstream words{std::string(line)};
  ExternalWitness w;
  std::string extra;
  words >> w.url >> w.vkey >> w.ca_file >> extra;
  if (w.url.rfind("https://", 0) != 0 || w.url.size() <= 8 || w.vkey.empty() || !extra.empty()) {
    return Status::InvalidArgument("witness must be 'https://HOST[:PORT][/PREFIX] VKEY [CA_FILE]'");
  }
  while (!w.url.empty() && w.url.back() == '/') w.url.pop_back();
  auto v = ParseCosignerVerifierKey(w.vkey);
  if (!v.ok()) {
    return Status::InvalidArgument("witness key '" + w.vkey + "' is not a C2SP cosignature/v1 " +
                                   "verifier key (type 0x04): " + v.status().message());
  }
  w.verifier = *v;
  return w;
}

Result<size_t> StoreExternalCosignatures(Store& store, const Hash& origin, uint64_t size,
                                         const std::vector<NoteSignatureLine>& lines,
                                         const ExternalWitness& witness) {
  size_t added = 0;
  KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto held, HeldCheckpointBody(txn, origin, size));
    if (!held) return Status::NotFound("no checkpoint at size " + std::to_string(size));
    for (const NoteSignatureLine& line : lines) {
      if (!VerifyCosignature(*held, line, witness.verifier)) continue;  // others are ignored
      Bytes key = keys::Cosignature(origin, size, line.name);
      KH_ASSIGN_OR_RETURN(bool have, txn.Contains(Table::kExternalCosignatures, key));
      if (have) continue;
      nlohmann::json j = {{"line", LineText(line)}, {"vkey", witness.vkey}};
      KH_RETURN_IF_ERROR(txn.Put(Table::kExternalCosignatures, key, AsBytes(j.dump())));
      ++added;
    }
    return Status::Ok();
  }));
  return added;
}

Result<std::vector<ExternalCosignature>> VerifiedExternalCosignatures(const ReadTxn& txn,
                                                                      const Hash& origin,
                                                                      uint64_t size) {
  std::vector<ExternalCosignature> out;
  KH_ASSIGN_OR_RETURN(auto held, HeldCheckpointBody(txn, origin, size));
  if (!held) return out;
  KH_RETURN_IF_ERROR(txn.Scan(
      Table::kExternalCosignatures, keys::Checkpoint(origin, size),
      [&](ByteView, ByteView value) -> Result<bool> {
        auto j = nlohmann::json::parse(AsChars(value), nullptr, false);
        if (!j.is_object()) return true;
        auto verifier = ParseCosignerVerifierKey(j.value("vkey", ""));
        auto line = ParseStoredCosignature(AsBytes(j.value("line", "")));
        if (!verifier.ok() || !line.ok()) return true;
        auto ts = VerifyCosignature(*held, *line, *verifier);
        if (ts) out.push_back({line->name, j.value("vkey", ""), *ts, *line});
        return true;
      }));
  return out;
}

Result<std::vector<uint64_t>> ExternallyCosignedSizes(const ReadTxn& txn, const Hash& origin) {
  std::vector<uint64_t> sizes;
  KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kExternalCosignatures, origin,
                                  [&](ByteView key) -> Result<bool> {
                                    KH_ASSIGN_OR_RETURN(keys::Position at,
                                                        keys::DecodeCosignature(key));
                                    if (sizes.empty() || sizes.back() != at.index) {
                                      sizes.push_back(at.index);
                                    }
                                    return true;
                                  }));
  return sizes;
}

}  // namespace khronika
