// ExportMirror: the store's logs, record by record, onto the mirror's branches (docs/format.md
// §16): records, logged objects and sealed files, all ciphertext or ids of ciphertext. What is exported is read back from the store and checked against the hash that names it
// first (LMDB keeps no checksums).
#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "git_handles.h"
#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/git_mirror.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/witness.h"
#include "khronika/schemas/chain_checker.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/custody.h"
#include "khronika/schemas/recovery_objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "mirror_layout.h"

namespace khronika {
namespace {

using git::Repo;
using git::TreeItem;
using namespace mirror;

bool SameLine(const NoteSignatureLine& a, const NoteSignatureLine& b) {
  return a.name == b.name && a.key_id == b.key_id && a.signature == b.signature;
}

// The store's note, with any signature line of `theirs` (the mirror's note at the same size)
// that it lacks, when both sign the same body.
std::string MergeNote(const std::string& ours, const std::string& theirs) {
  auto a = ParseSignedNote(ours);
  auto b = ParseSignedNote(theirs);
  if (!a.ok() || !b.ok() || a->text != b->text) return ours;
  bool added = false;
  for (const NoteSignatureLine& line : b->signatures) {
    if (a->signatures.size() >= kMaxNoteSignatures) break;
    bool have = std::any_of(a->signatures.begin(), a->signatures.end(),
                            [&](const NoteSignatureLine& l) { return SameLine(l, line); });
    if (!have) {
      a->signatures.push_back(line);
      added = true;
    }
  }
  return added ? FormatSignedNote(*a) : ours;
}

// The regular files of directory `dir` of `tree` whose names `accept` takes, by name.
template <typename Accept>
Result<std::map<std::string, git_oid>> FilesIn(const Repo& repo, const git_tree* tree,
                                               std::string_view dir, Accept accept) {
  std::map<std::string, git_oid> out;
  KH_ASSIGN_OR_RETURN(git::TreePtr sub, repo.SubTree(tree, std::string(dir)));
  for (size_t i = 0; sub && i < git_tree_entrycount(sub.get()); ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(sub.get(), i);
    if (git::IsBlobEntry(e) && accept(git_tree_entry_name(e))) {
      out.emplace(git_tree_entry_name(e), *git_tree_entry_id(e));
    }
  }
  return out;
}

class LogExporter {
 public:
  LogExporter(Store& store, const Repo& repo, const std::map<Hash, Member>& members,
              MirrorLogExport& result)
      : store_(store), repo_(repo), members_(members), result_(result),
        origin_(result.origin) {}

  // Whether the store or the mirror holds anything of this log.
  bool present() const { return present_; }

  Status Run() {
    uint64_t size = 0;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(size, LogSize(txn, origin_));
      return Status::Ok();
    }));
    const std::string ref = LogsRef(origin_);
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> tip, repo_.RefTarget(ref));
    present_ = size > 0 || tip.has_value();
    if (!present_) return Status::Ok();

    uint64_t have = 0;
    Hash prev{};
    if (tip) {
      auto tip_record = ReadRecordOfCommit(repo_, *tip);
      if (!tip_record.ok()) return Different(tip_record.status().message());
      if (!tip_record->record.ok()) {
        return Different("its tip's record.bin does not decode: " +
                         tip_record->record.status().message());
      }
      const Record& rec = *tip_record->record;
      if (rec.origin != origin_) return Different("its tip's record names another origin");
      if (rec.index == UINT64_MAX) return Different("its tip's record index is out of range");
      have = rec.index + 1;
      result_.from = result_.to = have;
      if (rec.index < size) {
        KH_RETURN_IF_ERROR(CompareWithStore(rec.index, tip_record->bytes));
      } else if (size > 0) {
        // The mirror is ahead of this node: check that it continues what is held here.
        git_oid cur = *tip;
        for (uint64_t i = rec.index; i > size - 1; --i) {
          auto c = repo_.Commit(cur);
          if (!c.ok() || git_commit_parentcount(c->get()) == 0) {
            return Different("record " + std::to_string(size - 1) + " cannot be read");
          }
          cur = *git_commit_parent_id(c->get(), 0);
        }
        auto older = ReadRecordOfCommit(repo_, cur);
        if (!older.ok()) return Different(older.status().message());
        KH_RETURN_IF_ERROR(CompareWithStore(size - 1, older->bytes));
      }
      prev = RecordHash(tip_record->bytes);
    }

    // The records exported from here on continue the chain the mirror ends with; its Merkle
    // tree is not needed (and not known) here.
    MerkleFrontier exported;
    KH_RETURN_IF_ERROR(exported.Skip(have));
    ChainChecker chain = ChainChecker::Resume(origin_, std::move(exported), prev, nullptr);
    std::optional<git_oid> head = tip;
    uint64_t written = 0;
    Status status;
    for (uint64_t i = have; i < size; ++i) {
      auto commit = WriteRecord(i, chain, head);
      if (!commit.ok()) {
        // The branch still moves to the last record written: what verified is mirrored.
        status = commit.status().Annotate("record " + std::to_string(i));
        break;
      }
      head = *commit;
      ++written;
    }
    if (written > 0) {
      KH_RETURN_IF_ERROR(repo_.UpdateRef(ref, *head, tip));
      result_.to = have + written;
    }
    if (!head) return status;
    Status checkpoints = ExportCheckpoints(*head);
    return status.ok() ? checkpoints : status;
  }

 private:
  Status Different(const std::string& why) const {
    return Status::Corruption("the mirror's branch logs/" + ToHex(origin_) +
                              " holds a different log than this node (" + why + ")");
  }

  Status CompareWithStore(uint64_t index, const Bytes& mirror_bytes) const {
    std::optional<Bytes> held;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(held, txn.Get(Table::kRecords, keys::Record(origin_, index)));
      return Status::Ok();
    }));
    if (!held || *held != mirror_bytes) {
      return Different("record " + std::to_string(index) + " differs");
    }
    return Status::Ok();
  }

  // Reads record `index` with the object it logs from the store, checking each against the
  // hash that names it (LMDB keeps no checksums: what is exported is verified here), and writes
  // its commit. Ciphertext only: the record, the object, and each sealed file of a sealed entry.
  Result<git_oid> WriteRecord(uint64_t index, ChainChecker& chain, const std::optional<git_oid>& parent) {
    Bytes record_bytes, object_bytes;
    Record rec;
    std::optional<SealedEntry> sealed;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto r, txn.Get(Table::kRecords, keys::Record(origin_, index)));
      if (!r) return Status::Corruption("missing from the store");
      record_bytes = std::move(*r);
      KH_ASSIGN_OR_RETURN(CheckedRecord checked, chain.Append(record_bytes, nullptr));
      if (!checked.ok()) return Status::Corruption("the stored record: " + checked.problems.front().what);
      rec = *checked.record;
      KH_ASSIGN_OR_RETURN(auto o, txn.Get(Table::kObjects, keys::Object(origin_, index)));
      if (!o || ObjectId(*o) != rec.object_id) {
        return Status::Corruption("object " + ToHex(rec.object_id) + " is missing or damaged");
      }
      object_bytes = std::move(*o);
      KH_ASSIGN_OR_RETURN(uint8_t type, PeekObjectType(object_bytes));
      if (type == kTypeSealedEntry) {
        KH_ASSIGN_OR_RETURN(SealedEntry e, DecodeSealedEntry(object_bytes));
        sealed = std::move(e);
      } else if (type == kTypeRecoverySet) {
        KH_RETURN_IF_ERROR(DecodeRecoverySet(object_bytes).status());
      } else if (type == kTypeShareRelease) {
        KH_RETURN_IF_ERROR(DecodeShareRelease(object_bytes).status());
      } else if (type == kTypeCustodyRecord) {
        KH_RETURN_IF_ERROR(DecodeCustodyRecord(object_bytes).status());
      } else {
        return Status::Corruption("object " + ToHex(rec.object_id) + " is of an unknown type");
      }
      return Status::Ok();
    }));

    std::vector<TreeItem> root;
    KH_ASSIGN_OR_RETURN(git_oid record_blob, repo_.WriteBlob(record_bytes));
    root.push_back({std::string(kRecordFile), record_blob, GIT_FILEMODE_BLOB});
    KH_ASSIGN_OR_RETURN(git_oid object_blob, repo_.WriteBlob(object_bytes));
    root.push_back({std::string(kObjectFile), object_blob, GIT_FILEMODE_BLOB});
    if (sealed && !sealed->files.empty()) {
      std::vector<TreeItem> file_items;
      for (size_t n = 0; n < sealed->files.size(); ++n) {
        KH_ASSIGN_OR_RETURN(git_oid fb, WriteSealedFile(sealed->files[n], n));
        file_items.push_back({SealedFileName(n), fb, GIT_FILEMODE_BLOB});
      }
      KH_ASSIGN_OR_RETURN(git_oid ft, repo_.WriteTree(file_items));
      root.push_back({std::string(kFilesDir), ft, GIT_FILEMODE_TREE});
    }
    KH_ASSIGN_OR_RETURN(git_oid tree, repo_.WriteTree(root));
    RecordCommitMeta meta = ExpectedMeta(rec, record_bytes);
    KH_ASSIGN_OR_RETURN(git_oid commit,
                        repo_.WriteCommit(tree, parent, meta.author, meta.committer, meta.message));
    return commit;
  }

  // Streams a sealed file from the store's sealed chunks (a small file's from its sealed entry)
  // into one blob, one chunk in memory at a time, each re-hashed against its id and of the
  // length its sealed size gives.
  Result<git_oid> WriteSealedFile(const SealedFile& f, size_t n) {
    KH_ASSIGN_OR_RETURN(git::OdbStreamPtr stream, repo_.BlobStream(f.sealed_size));
    for (size_t j = 0; j < f.chunks.size(); ++j) {
      auto chunk = ReadFileChunk(store_, f, j);  // a small file's: from its sealed entry
      if (!chunk.ok() || chunk->size() != SealedChunkLength(f.sealed_size, j)) {
        return Status::Corruption("sealed chunk " + std::to_string(j) + " of file " +
                                  std::to_string(n) + " (" + ToHex(f.chunks[j]) +
                                  ") is missing or damaged in the store");
      }
      KH_RETURN_IF_ERROR(git::Check(git_odb_stream_write(stream.get(),
                                                         reinterpret_cast<const char*>(chunk->data()),
                                                         chunk->size()),
                                    "writing sealed file " + std::to_string(n)));
    }
    git_oid oid;
    KH_RETURN_IF_ERROR(git::Check(git_odb_stream_finalize_write(&oid, stream.get()),
                                  "writing sealed file " + std::to_string(n)));
    return oid;
  }

  // The checkpoints branch: the store's notes for this origin merged with the branch's tip.
  Status ExportCheckpoints(const git_oid& log_tip) {
    auto member = members_.find(origin_);
    if (member == members_.end()) return Status::Ok();  // no key to publish
    std::map<uint64_t, std::string> notes;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      std::vector<uint64_t> sizes;
      KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kCheckpoints, origin_, [&](ByteView key) -> Result<bool> {
        KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodePosition(key));
        sizes.push_back(at.index);
        return true;
      }));
      for (uint64_t s : sizes) {
        KH_ASSIGN_OR_RETURN(notes[s], CheckpointWithCosignatures(txn, origin_, s));
      }
      return Status::Ok();
    }));

    const std::string ref = CheckpointsRef(origin_);
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> old_tip, repo_.RefTarget(ref));
    std::map<std::string, git_oid> note_items, cosigner_items;
    std::optional<git_oid> old_tree;
    if (old_tip) {
      KH_ASSIGN_OR_RETURN(git::CommitPtr c, repo_.Commit(*old_tip));
      old_tree = *git_commit_tree_id(c.get());
      KH_ASSIGN_OR_RETURN(git::TreePtr tree, repo_.Tree(*old_tree));
      KH_ASSIGN_OR_RETURN(note_items, FilesIn(repo_, tree.get(), kNotesDir, [](std::string_view n) {
                            return ParseNoteFileName(n).has_value();
                          }));
      KH_ASSIGN_OR_RETURN(cosigner_items,
                          FilesIn(repo_, tree.get(), kCosignersDir, [](std::string_view n) {
                            return ParseCosignerFileName(n).has_value();
                          }));
    }
    for (const auto& [size, text] : notes) {
      std::string name = NoteFileName(size);
      std::string merged = text;
      auto old = note_items.find(name);
      git_oid same;
      if (old != note_items.end() &&
          git_odb_hash(&same, text.data(), text.size(), GIT_OBJECT_BLOB) == 0 &&
          git_oid_equal(&same, &old->second)) {
        continue;  // the branch already holds exactly this note: neither read nor written
      }
      if (old != note_items.end()) {
        auto old_text = repo_.SmallBlob(old->second, kMaxNoteBytes);
        if (old_text.ok()) merged = MergeNote(text, std::string(AsChars(*old_text)));
      }
      KH_ASSIGN_OR_RETURN(note_items[name], repo_.WriteBlob(AsBytes(merged)));
    }
    for (const auto& [id, m] : members_) {
      if (id == origin_ || m.cosigner_vkey.empty()) continue;
      KH_ASSIGN_OR_RETURN(cosigner_items[ToHex(id) + ".vkey"],
                          repo_.WriteBlob(AsBytes(m.cosigner_vkey + "\n")));
    }
    std::vector<TreeItem> root;
    KH_ASSIGN_OR_RETURN(git_oid vkey, repo_.WriteBlob(AsBytes(member->second.vkey + "\n")));
    root.push_back({"origin.vkey", vkey, GIT_FILEMODE_BLOB});
    for (auto* dir : {&cosigner_items, &note_items}) {
      if (dir->empty()) continue;
      std::vector<TreeItem> items;
      for (const auto& [name, oid] : *dir) items.push_back({name, oid, GIT_FILEMODE_BLOB});
      KH_ASSIGN_OR_RETURN(git_oid sub, repo_.WriteTree(items));
      root.push_back({std::string(dir == &note_items ? kNotesDir : kCosignersDir), sub,
                      GIT_FILEMODE_TREE});
    }
    KH_ASSIGN_OR_RETURN(git_oid tree, repo_.WriteTree(root));
    if (old_tree && git_oid_equal(&tree, &*old_tree)) return Status::Ok();
    KH_ASSIGN_OR_RETURN(git::CommitPtr log_commit, repo_.Commit(log_tip));
    const git::Repo::Person signer = CheckpointsSigner(git_commit_committer(log_commit.get())->when.time);
    KH_ASSIGN_OR_RETURN(git_oid commit,
                        repo_.WriteCommit(tree, old_tip, signer, signer,
                                          "khronika checkpoints of " + ToHex(origin_) + "\n"));
    KH_RETURN_IF_ERROR(repo_.UpdateRef(ref, commit, old_tip));
    result_.checkpoints_updated = true;
    return Status::Ok();
  }

  Store& store_;
  const Repo& repo_;
  const std::map<Hash, Member>& members_;
  MirrorLogExport& result_;
  const Hash origin_;
  bool present_ = false;
};

}  // namespace

Result<MirrorExport> ExportMirror(Store& store, const std::filesystem::path& git_dir) {
  KH_ASSIGN_OR_RETURN(PrivateRepo opened, OpenPrivateRepo(git_dir));
  const Repo& repo = opened.repo;
  KH_ASSIGN_OR_RETURN(std::vector<Member> roster, ListMembers(store));
  std::map<Hash, Member> members;
  for (Member& m : roster) members.emplace(m.node_id, std::move(m));
  std::optional<Bytes> local;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(local, txn.Get(Table::kMeta, AsBytes(keys::kMetaLocalOrigin)));
    return Status::Ok();
  }));
  MirrorExport out;
  out.loosened_mode = opened.loosened_mode;
  std::vector<MirrorLogExport>& results = out.logs;
  for (const auto& [origin, member] : members) {
    MirrorLogExport result;
    result.origin = origin;
    LogExporter exporter(store, repo, members, result);
    result.status = exporter.Run();
    if (exporter.present() || !result.status.ok()) results.push_back(std::move(result));
  }
  // So that `git clone` checks out something: HEAD names this node's own log once it exists.
  if (local && local->size() == 32 && git_repository_head_unborn(repo.get()) == 1) {
    Hash own;
    std::copy(local->begin(), local->end(), own.begin());
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> tip, repo.RefTarget(LogsRef(own)));
    if (tip) {
      KH_RETURN_IF_ERROR(git::Check(git_repository_set_head(repo.get(), LogsRef(own).c_str()),
                                    "pointing HEAD at this node's log"));
    }
  }
  return out;
}

}  // namespace khronika
