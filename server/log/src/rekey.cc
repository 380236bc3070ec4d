#include "khronika/log/rekey.h"

#include <map>
#include <set>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/objects.h"

namespace khronika {

Result<Store::KeyRenames> PlanBlindedKeys(const ReadTxn& txn,
                                          const std::function<Bytes(ByteView name)>& blind_next,
                                          const std::vector<std::string>& uploaders) {
  Store::KeyRenames renames;
  auto& case_index = renames[Table::kCaseIndex];
  auto& case_content = renames[Table::kCaseContent];
  auto& authors = renames[Table::kAuthors];
  auto& uploads = renames[Table::kUploads];
  std::set<PublicKey> entry_authors;
  std::map<Hash, std::vector<Hash>> chunks_of;  // manifest id -> its chunks, read once

  // Every record of every log held: its case (case_index) and its files' chunks (case_content).
  std::vector<keys::Position> records;
  KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kRecords, {}, [&](ByteView key) -> Result<bool> {
    KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodePosition(key));
    records.push_back(at);
    return true;
  }));
  for (const keys::Position& at : records) {
    KH_ASSIGN_OR_RETURN(LoggedEntry logged, ReadLoggedEntry(txn, at.origin, at.index));
    const Entry& entry = logged.entry;
    entry_authors.insert(entry.author);
    Bytes fresh = blind_next(AsBytes(entry.case_id));
    fresh.push_back(0);
    fresh.insert(fresh.end(), at.origin.begin(), at.origin.end());
    case_index[keys::CaseRecord(txn, entry.case_id, at.origin, at.index)] =
        keys::CaseRecord(std::move(fresh), at.index);
    for (const Hash& manifest_id : entry.manifests) {
      auto known = chunks_of.find(manifest_id);
      if (known == chunks_of.end()) {
        KH_ASSIGN_OR_RETURN(auto bytes, txn.Get(Table::kObjects, manifest_id));
        if (!bytes) return Status::Corruption("manifest " + ToHex(manifest_id) + " is missing");
        KH_ASSIGN_OR_RETURN(FileManifest m, DecodeManifest(*bytes));
        known = chunks_of.emplace(manifest_id, std::move(m.chunks)).first;
      }
      for (const Hash& chunk : known->second) {
        Bytes name = keys::CaseContentName(at.origin, entry.case_id, chunk);
        case_content[txn.Blind(name)] = blind_next(name);
      }
    }
  }

  // Authors: the key is in the record, or (an older khronika's record) among the entries' authors.
  std::map<Bytes, PublicKey> by_blind;
  for (const PublicKey& k : entry_authors) by_blind.emplace(txn.Blind(k), k);
  KH_RETURN_IF_ERROR(
      txn.Scan(Table::kAuthors, {}, [&](ByteView key, ByteView value) -> Result<bool> {
        KH_ASSIGN_OR_RETURN(RegisteredAuthor a, DecodeAuthorValue(value, std::nullopt));
        Bytes old(key.begin(), key.end());
        if (a.key_known) {
          if (txn.Blind(a.key) != old) {
            return Status::Corruption("the authors record of " + ToHex(a.key) +
                                      " is under another key");
          }
          authors[old] = blind_next(a.key);
          return true;
        }
        auto found = by_blind.find(old);
        if (found == by_blind.end()) {
          return Status::InvalidArgument(
              "the author '" + a.name +
              "' was registered by an older khronika, which kept only a blinded form of its "
              "public key, and no entry held here names it, so its record cannot be moved to "
              "the new data key: register it again with `khronika author add --name NAME "
              "--pubkey FILE` (its public key), then rotate; nothing was changed");
        }
        authors[old] = blind_next(found->second);
        return true;
      }));

  // Uploads not yet named by an entry: (token id, chunk id) pairs, tried until all are found.
  std::set<Bytes> pending;
  KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kUploads, {}, [&](ByteView key) -> Result<bool> {
    pending.emplace(key.begin(), key.end());
    return true;
  }));
  if (!pending.empty()) {
    KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kChunks, {}, [&](ByteView chunk) -> Result<bool> {
      for (const std::string& uploader : uploaders) {
        Bytes name = keys::UploadName(uploader, chunk);
        auto hit = pending.find(txn.Blind(name));
        if (hit == pending.end()) continue;
        uploads[*hit] = blind_next(name);
        pending.erase(hit);
      }
      return !pending.empty();
    }));
    for (const Bytes& lost : pending) uploads[lost] = std::nullopt;
  }
  return renames;
}

}  // namespace khronika
