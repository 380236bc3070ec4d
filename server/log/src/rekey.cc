#include "khronika/log/rekey.h"

#include <algorithm>
#include <map>
#include <set>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

Hash HashOf32(ByteView b) {
  Hash h{};
  std::copy(b.begin(), b.begin() + h.size(), h.begin());
  return h;
}

}  // namespace

Result<Store::KeyRenames> PlanBlindedKeys(const ReadTxn& txn,
                                          const std::function<Bytes(ByteView name)>& blind_next,
                                          const std::vector<std::string>& uploaders,
                                          const SymmetricKey& archive_key) {
  Store::KeyRenames renames;
  auto& case_index = renames[Table::kCaseIndex];
  auto& signed_entries = renames[Table::kSignedEntries];
  auto& authors = renames[Table::kAuthors];
  auto& upload_chunks = renames[Table::kUploadChunks];
  std::set<PublicKey> entry_authors;

  // The entries of the logs this node opens with its archive key (its own, and any it adopted
  // after a recovery), each opened: its case (case_index) and the signed entry it seals
  // (signed_entries). Other origins' entries are sealed under keys this node does not hold and
  // have no blinded keys here.
  KH_ASSIGN_OR_RETURN(std::vector<Hash> openable, OpenableOrigins(txn));
  const std::set<Hash> ours(openable.begin(), openable.end());
  std::vector<std::pair<Hash, Hash>> own_entries;  // (origin, sealed entry id)
  KH_RETURN_IF_ERROR(
      txn.Scan(Table::kEntryIndex, {}, [&](ByteView key, ByteView value) -> Result<bool> {
        KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodePosition(value));
        if (ours.count(at.origin) && key.size() == 32) {
          own_entries.emplace_back(at.origin, HashOf32(key));
        }
        return true;
      }));
  const EntryKey with_archive_key = EntryKey::Archive(archive_key);
  for (const auto& [origin, entry_id] : own_entries) {
    auto opened = OpenEntry(txn, origin, with_archive_key, entry_id);
    if (!opened.ok()) {
      return opened.status().Annotate("cannot re-encrypt the store (repair it first: `khronika "
                                      "verify` names what is wrong); nothing was changed");
    }
    entry_authors.insert(opened->entry.author);
    const uint64_t index = opened->record.index;
    Bytes fresh = blind_next(AsBytes(opened->case_id));
    fresh.push_back(0);
    fresh.insert(fresh.end(), origin.begin(), origin.end());
    case_index[keys::CaseRecord(txn, opened->case_id, origin, index)] =
        keys::CaseRecord(std::move(fresh), index);
    const Bytes signed_name = keys::SignedEntryName(ObjectId(opened->signed_entry_bytes));
    signed_entries[txn.Blind(signed_name)] = blind_next(signed_name);
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

  // Upload chunks not yet sealed: the chunk id is the hash of the value; the uploader is one of
  // the tokens, or the operator's own `add` (no uploader).
  std::vector<std::string> candidates = uploaders;
  candidates.emplace_back();
  KH_RETURN_IF_ERROR(
      txn.Scan(Table::kUploadChunks, {}, [&](ByteView key, ByteView value) -> Result<bool> {
        const Hash id = ChunkId(value);
        Bytes old(key.begin(), key.end());
        for (const std::string& uploader : candidates) {
          Bytes name = keys::UploadChunkName(uploader, id);
          if (txn.Blind(name) == old) {
            upload_chunks[old] = blind_next(name);
            return true;
          }
        }
        upload_chunks[old] = std::nullopt;
        return true;
      }));
  return renames;
}

}  // namespace khronika
