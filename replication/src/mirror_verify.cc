// VerifyMirror: every log of a mirror re-verified from the repository alone, without any key
// (docs/format.md §16.4): the hash chain, each logged object against its id and its decoding
// rules, every sealed chunk of every sealed file against its id, commit metadata, and every
// signed checkpoint and cosignature against the records.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "git_handles.h"
#include "khronika/log/log.h"
#include "khronika/replication/git_mirror.h"
#include "khronika/replication/protocol.h"
#include "khronika/replication/witness.h"
#include "khronika/schemas/chain_checker.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/custody.h"
#include "khronika/schemas/recovery_objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "mirror_layout.h"

namespace khronika {
namespace {

using git::EntryNamed;
using git::IsBlobEntry;
using git::Repo;
using git::ShortOid;
using git::TreePtr;
using namespace mirror;

class LogVerifier {
 public:
  LogVerifier(const Repo& repo, const Hash& origin, const git_oid& tip,
              const std::optional<git_oid>& checkpoints_tip, const MirrorTrust* trust,
              MirrorVerifyReport& report)
      : repo_(repo),
        origin_(origin),
        tip_(tip),
        checkpoints_tip_(checkpoints_tip),
        trust_(trust),
        report_(report),
        branch_(ShortBranch("logs", origin)),
        cp_branch_(ShortBranch("checkpoints", origin)),
        chain_(origin) {
    log_.origin = origin;
  }

  void Run() {
    LoadCheckpointTree();
    auto chain = FirstParentChain(repo_, tip_);
    if (!chain.ok()) {
      report_.problems.push_back(branch_ + ": the branch cannot be read back to its first commit: " +
                                 chain.status().message());
    } else {
      log_.records = chain->size();
      verified_ = chain->size();
      for (uint64_t i = 0; i < chain->size(); ++i) {
        if (!CheckRecord(i, (*chain)[i])) {
          verified_ = i;
          break;
        }
      }
    }
    CheckCheckpoints();
    if (trust_) CheckTrust();
    report_.logs.push_back(log_);
  }

 private:
  void Problem(const ChainLink& link, uint64_t index, const std::string& what) {
    report_.problems.push_back(branch_ + ": commit " + ShortOid(link.commit) + " (record " +
                               std::to_string(index) + "): " + what);
  }
  void CheckpointProblem(const std::string& what) {
    report_.problems.push_back(cp_branch_ + ": commit " +
                               (checkpoints_tip_ ? ShortOid(*checkpoints_tip_) : std::string("?")) +
                               ": " + what);
  }

  // Reads the names of the notes first, so that the roots they need are kept while the records
  // are walked.
  void LoadCheckpointTree() {
    if (!checkpoints_tip_) return;
    auto commit = repo_.Commit(*checkpoints_tip_);
    if (!commit.ok()) {
      CheckpointProblem("cannot be read: " + commit.status().message());
      return;
    }
    auto tree = repo_.Tree(*git_commit_tree_id(commit->get()));
    if (!tree.ok()) {
      CheckpointProblem("its tree cannot be read: " + tree.status().message());
      return;
    }
    cp_tree_ = std::move(*tree);
    auto notes = repo_.SubTree(cp_tree_.get(), std::string(kNotesDir));
    if (!notes.ok()) {
      CheckpointProblem("notes/ cannot be read: " + notes.status().message());
      return;
    }
    notes_tree_ = std::move(*notes);
    for (size_t i = 0; notes_tree_ && i < git_tree_entrycount(notes_tree_.get()); ++i) {
      auto size = ParseNoteFileName(git_tree_entry_name(git_tree_entry_byindex(notes_tree_.get(), i)));
      if (size) wanted_roots_[*size] = Hash{};
    }
  }

  // Reads the regular file `name` of `tree` (`path` from the commit's root), or names the
  // problem and returns false.
  bool ReadFile(const ChainLink& link, uint64_t index, const git_tree* tree,
                const std::string& name, const std::string& path, size_t max_bytes, Bytes& out) {
    auto bytes = TreeFile(repo_, tree, name, path, max_bytes);
    if (!bytes.ok()) {
      Problem(link, index, bytes.status().message());
      return false;
    }
    out = std::move(*bytes);
    return true;
  }

  // Checks one record's commit. Returns false where the record does not decode or breaks the
  // hash chain: nothing after it can be tied to the records before. A mirror holds no key, so
  // no case chain is checked (format 2: the case link is inside the sealed entry).
  bool CheckRecord(uint64_t i, const ChainLink& link) {
    if (link.parents > 1) {
      Problem(link, i, "the commit has " + std::to_string(link.parents) +
                           " parents; a log branch is one line of commits");
    }
    auto tree_result = repo_.Tree(link.tree);
    if (!tree_result.ok()) {
      Problem(link, i, "the commit's tree cannot be read: " + tree_result.status().message());
      return false;
    }
    TreePtr tree = std::move(*tree_result);

    Bytes record_bytes;
    const std::string record_file(kRecordFile);
    if (!ReadFile(link, i, tree.get(), record_file, record_file, kMaxRecordFrame, record_bytes)) {
      return false;
    }
    auto checked = chain_.Append(record_bytes, nullptr);
    if (!checked.ok()) {  // no case is asked for: nothing here fails
      Problem(link, i, checked.status().message());
      return false;
    }
    for (const ChainProblem& p : checked->problems) Problem(link, i, record_file + ": " + p.what);
    if (checked->BreaksChain()) return false;
    auto wanted = wanted_roots_.find(i + 1);
    if (wanted != wanted_roots_.end()) wanted->second = chain_.Root().value();  // nothing skipped

    std::set<std::string> expected = {record_file, std::string(kObjectFile)};
    if (checked->record) {
      CheckCommitMeta(i, link, *checked->record, record_bytes, checked->record_hash);
      CheckObject(i, link, tree.get(), *checked->record, expected);
    }
    for (size_t k = 0; k < git_tree_entrycount(tree.get()); ++k) {
      std::string name = git_tree_entry_name(git_tree_entry_byindex(tree.get(), k));
      if (!expected.count(name)) Problem(link, i, "unexpected tree entry '" + name + "'");
    }
    return true;
  }

  // object.bin: the object the record names, decoding as its type says; for a sealed entry,
  // its sealed files.
  void CheckObject(uint64_t i, const ChainLink& link, const git_tree* tree, const Record& rec,
                   std::set<std::string>& expected) {
    const std::string object_file(kObjectFile);
    Bytes object;
    if (!ReadFile(link, i, tree, object_file, object_file, kMaxObjectFrame, object)) return;
    if (ObjectId(object) != rec.object_id) {
      Problem(link, i, object_file + " does not match the record's object_id (its SHA-256 differs)");
      return;
    }
    if (!object_ids_.insert(rec.object_id).second) {
      Problem(link, i, object_file + ": this object is already logged at an earlier index of the log");
    }
    auto type = PeekObjectType(object);
    if (!type.ok()) {
      Problem(link, i, object_file + " does not decode: " + type.status().message());
      return;
    }
    Status decoded;
    std::optional<SealedEntry> sealed;
    if (*type == kTypeSealedEntry) {
      auto e = DecodeSealedEntry(object);
      if (e.ok()) sealed = std::move(*e);
      decoded = e.status();
    } else if (*type == kTypeRecoverySet) {
      decoded = DecodeRecoverySet(object).status();
    } else if (*type == kTypeShareRelease) {
      decoded = DecodeShareRelease(object).status();
    } else if (*type == kTypeCustodyRecord) {
      decoded = DecodeCustodyRecord(object).status();
    } else {
      decoded = Status::Corruption("an object of an unknown type");
    }
    if (!decoded.ok()) {
      Problem(link, i, object_file + " does not decode: " + decoded.message());
      return;
    }
    if (sealed && !sealed->files.empty()) {
      expected.insert(std::string(kFilesDir));
      CheckSealedFiles(i, link, tree, *sealed);
    }
  }

  void CheckCommitMeta(uint64_t i, const ChainLink& link, const Record& rec,
                       const Bytes& record_bytes, const Hash& record_hash) {
    auto commit = repo_.Commit(link.commit);
    if (!commit.ok()) return;  // read once already by the walk
    RecordCommitMeta want = ExpectedMeta(rec, record_bytes);
    const git_signature* author = git_commit_author(commit->get());
    const git_signature* committer = git_commit_committer(commit->get());
    auto same = [](const git_signature* s, const Repo::Person& p) {
      return s && p.name == s->name && p.email == s->email && s->when.time == p.time &&
             s->when.offset == 0;
    };
    if (!same(author, want.author) || !same(committer, want.committer)) {
      Problem(link, i, "the commit's author or committer is not the origin and receipt time "
                       "(record.bin)");
    }
    const char* message = git_commit_message_raw(commit->get());
    if (!message || want.message != message) {
      std::string m = message ? message : "";
      if (m.find("record-hash: " + ToHex(record_hash) + "\n") == std::string::npos) {
        Problem(link, i, "record.bin does not match the record-hash in the commit message");
      } else {
        Problem(link, i, "the commit message is not the one the layout gives this record");
      }
    }
  }

  void CheckSealedFiles(uint64_t i, const ChainLink& link, const git_tree* tree,
                        const SealedEntry& sealed) {
    auto files = repo_.SubTree(tree, std::string(kFilesDir));
    if (!files.ok() || !*files) {
      Problem(link, i, "files/ is missing or is not a directory");
      return;
    }
    std::set<std::string> names;
    for (size_t n = 0; n < sealed.files.size(); ++n) {
      std::string fname = SealedFileName(n);
      names.insert(fname);
      std::string fpath = "files/" + fname;
      const git_tree_entry* fe = EntryNamed(files->get(), fname);
      if (!fe) {
        Problem(link, i, fpath + " is missing");
        continue;
      }
      if (!IsBlobEntry(fe)) {
        Problem(link, i, fpath + " is not a regular file (mode 100644)");
        continue;
      }
      CheckSealedFile(i, link, *git_tree_entry_id(fe), sealed.files[n], fpath);
    }
    for (size_t k = 0; k < git_tree_entrycount(files->get()); ++k) {
      std::string name = git_tree_entry_name(git_tree_entry_byindex(files->get(), k));
      if (!names.count(name)) Problem(link, i, "unexpected tree entry 'files/" + name + "'");
    }
  }

  // The whole sealed file is read into memory (libgit2 reads blobs whole); its size is checked
  // first, then every sealed chunk against its id.
  void CheckSealedFile(uint64_t i, const ChainLink& link, const git_oid& blob_oid,
                       const SealedFile& f, const std::string& path) {
    auto size = repo_.BlobSize(blob_oid);
    if (!size.ok()) {
      Problem(link, i, path + " cannot be read: " + size.status().message());
      return;
    }
    if (*size != f.sealed_size) {
      Problem(link, i, path + " has " + std::to_string(*size) + " bytes but its sealed entry says " +
                           std::to_string(f.sealed_size));
      return;
    }
    auto blob = repo_.Blob(blob_oid);
    if (!blob.ok()) {
      Problem(link, i, path + " cannot be read: " + blob.status().message());
      return;
    }
    ByteView data(static_cast<const uint8_t*>(git_blob_rawcontent(blob->get())),
                  static_cast<size_t>(git_blob_rawsize(blob->get())));
    for (uint64_t j = 0; j < f.chunks.size(); ++j) {
      ByteView slice = data.subspan(j * kSealedChunkSize, SealedChunkLength(f.sealed_size, j));
      if (ChunkId(slice) != f.chunks[j]) {
        Problem(link, i, path + ": sealed chunk " + std::to_string(j) +
                             " does not match its id in the sealed entry");
        return;
      }
    }
  }

  void CheckCheckpoints() {
    if (!checkpoints_tip_) {
      report_.warnings.push_back(cp_branch_ + ": missing: no signed checkpoint vouches for the " +
                                 std::to_string(log_.records) + " records of " + branch_);
      return;
    }
    if (!cp_tree_) return;  // reported by LoadCheckpointTree
    std::set<std::string> expected = {"origin.vkey", "notes", "cosigners"};
    for (size_t k = 0; k < git_tree_entrycount(cp_tree_.get()); ++k) {
      std::string name = git_tree_entry_name(git_tree_entry_byindex(cp_tree_.get(), k));
      if (!expected.count(name)) CheckpointProblem("unexpected tree entry '" + name + "'");
    }
    auto origin_key = ReadOriginKey();
    if (!origin_key) return;
    std::vector<std::pair<Hash, NoteVerifier>> cosigners = ReadCosigners();

    std::vector<uint64_t> not_checked;
    std::set<Hash> witnesses;
    for (size_t k = 0; notes_tree_ && k < git_tree_entrycount(notes_tree_.get()); ++k) {
      const git_tree_entry* e = git_tree_entry_byindex(notes_tree_.get(), k);
      std::string name = git_tree_entry_name(e);
      std::string path = "notes/" + name;
      auto size = ParseNoteFileName(name);
      if (!size || !IsBlobEntry(e)) {
        CheckpointProblem("unexpected tree entry '" + path + "'");
        continue;
      }
      auto text = repo_.SmallBlob(*git_tree_entry_id(e), kMaxNoteBytes);
      if (!text.ok()) {
        CheckpointProblem(path + " cannot be read: " + text.status().message());
        continue;
      }
      auto note = ParseSignedNote(AsChars(*text));
      if (!note.ok()) {
        CheckpointProblem(path + " is not a signed note: " + note.status().message());
        continue;
      }
      if (!NoteSignedBy(*note, *origin_key)) {
        CheckpointProblem(path + " is not signed by the origin's key (origin.vkey)");
        continue;
      }
      auto cp = ParseCheckpointBody(note->text);
      if (!cp.ok()) {
        CheckpointProblem(path + " is not a checkpoint: " + cp.status().message());
        continue;
      }
      if (cp->origin != OriginName(origin_)) {
        CheckpointProblem(path + " is a checkpoint of another log (" + cp->origin + ")");
        continue;
      }
      if (cp->size != *size) {
        CheckpointProblem(path + " holds a checkpoint at size " + std::to_string(cp->size));
        continue;
      }
      if (*size > log_.records) {
        report_.warnings.push_back(cp_branch_ + ": " + path + ": checkpoint at size " +
                                   std::to_string(*size) + " is ahead of the mirror's records (" +
                                   std::to_string(log_.records) + ")");
        continue;
      }
      if (*size > verified_) {
        not_checked.push_back(*size);
        continue;
      }
      Hash root = *size == 0 ? MerkleEmptyRoot() : wanted_roots_[*size];
      bool root_ok = cp->root == root;
      if (!root_ok) {
        CheckpointProblem(path + ": the signed root is not the Merkle root of the first " +
                          std::to_string(*size) + " records of " + branch_);
      } else {
        log_.checkpoints += 1;
        log_.largest_verified = std::max(log_.largest_verified, *size);
      }
      for (const NoteSignatureLine& line : note->signatures) {
        for (const auto& [member, verifier] : cosigners) {
          if (line.name != verifier.name) continue;
          if (!VerifyCosignature(note->text, line, verifier)) {
            CheckpointProblem(path + ": the cosignature of " + line.name + " does not verify "
                              "under cosigners/" + ToHex(member) + ".vkey");
          } else if (root_ok) {
            witnesses.insert(member);
          }
        }
      }
    }
    log_.cosigners = witnesses.size();
    if (!not_checked.empty()) {
      report_.warnings.push_back(cp_branch_ + ": " + std::to_string(not_checked.size()) +
                                 " notes not checked: the records stop verifying at record " +
                                 std::to_string(verified_));
    }
    if (log_.checkpoints == 0 || (log_.largest_verified == 0 && log_.records > 0)) {
      report_.warnings.push_back(cp_branch_ + ": no signed checkpoint that verifies covers the " +
                                 std::to_string(log_.records) + " records of " + branch_);
    } else if (log_.largest_verified < log_.records) {
      report_.warnings.push_back(branch_ + ": records " + std::to_string(log_.largest_verified) +
                                 " to " + std::to_string(log_.records - 1) +
                                 " are not yet covered by a signed checkpoint");
    }
  }

  // The rules of VerifyMirror's `trust`; a witness key not trusted was reported by ReadCosigners.
  void CheckTrust() {
    bool origin_trusted = false;
    for (const auto& [name, key] : trust_->origins) {
      if (name == OriginName(origin_) && NodeIdFromPublicKey(key) == origin_) origin_trusted = true;
    }
    if (!origin_trusted) {
      report_.problems.push_back(branch_ + ": the origin's verifier key (khronika/" +
                                 ToHex(origin_) + ") is not in the trust file");
    }
    bool vouched = log_.records == 0 || log_.checkpoints > 0;
    if (!vouched) {
      report_.problems.push_back(branch_ +
                                 ": no signed checkpoint verifies: nothing vouches for its " +
                                 std::to_string(log_.records) + " records");
    }
    log_.trusted = origin_trusted && vouched && untrusted_witnesses_ == 0;
  }

  // A key file (origin.vkey, cosigners/*.vkey): one line and its newline, at most 4 KiB. The
  // line, or nullopt with the problem named.
  std::optional<std::string> ReadKeyLine(const git_oid& blob, const std::string& path) {
    auto text = repo_.SmallBlob(blob, 4096);
    if (!text.ok()) {
      CheckpointProblem(path + " cannot be read: " + text.status().message());
      return std::nullopt;
    }
    std::string_view t = AsChars(*text);
    if (t.empty() || t.back() != '\n') {
      CheckpointProblem(path + " does not end with a newline");
      return std::nullopt;
    }
    return std::string(t.substr(0, t.size() - 1));
  }

  std::optional<NoteVerifier> ReadOriginKey() {
    const git_tree_entry* e = EntryNamed(cp_tree_.get(), "origin.vkey");
    if (!IsBlobEntry(e)) {
      CheckpointProblem("origin.vkey is missing: the notes cannot be verified");
      return std::nullopt;
    }
    std::optional<std::string> line = ReadKeyLine(*git_tree_entry_id(e), "origin.vkey");
    if (!line) return std::nullopt;
    auto v = ParseVerifierKey(*line);
    if (!v.ok()) {
      CheckpointProblem("origin.vkey is not a verifier key: " + v.status().message());
      return std::nullopt;
    }
    if (NodeIdFromPublicKey(v->key) != origin_ || v->name != OriginName(origin_)) {
      CheckpointProblem("origin.vkey is not the key of this origin (its SHA-256 is not the node id)");
      return std::nullopt;
    }
    return *v;
  }

  std::vector<std::pair<Hash, NoteVerifier>> ReadCosigners() {
    std::vector<std::pair<Hash, NoteVerifier>> out;
    auto dir = repo_.SubTree(cp_tree_.get(), std::string(kCosignersDir));
    if (!dir.ok()) {
      CheckpointProblem("cosigners/ cannot be read: " + dir.status().message());
      return out;
    }
    for (size_t k = 0; *dir && k < git_tree_entrycount(dir->get()); ++k) {
      const git_tree_entry* e = git_tree_entry_byindex(dir->get(), k);
      std::string path = "cosigners/" + std::string(git_tree_entry_name(e));
      auto member = ParseCosignerFileName(git_tree_entry_name(e));
      if (!member || !IsBlobEntry(e)) {
        CheckpointProblem("unexpected tree entry '" + path + "'");
        continue;
      }
      std::optional<std::string> line = ReadKeyLine(*git_tree_entry_id(e), path);
      if (!line) continue;
      auto v = ParseCosignerVerifierKey(*line);
      if (!v.ok() || v->name != WitnessName(*member)) {
        CheckpointProblem(path + " is not the witness key of member " + ToHex(*member));
        continue;
      }
      if (trust_ && !trust_->cosigners.count({v->name, v->key})) {
        CheckpointProblem(path + ": this witness key is not in the trust file");
        ++untrusted_witnesses_;
        continue;
      }
      out.emplace_back(*member, *v);
    }
    return out;
  }

  const Repo& repo_;
  const Hash origin_;
  const git_oid tip_;
  const std::optional<git_oid> checkpoints_tip_;
  const MirrorTrust* trust_;  // null: keys are taken from the repository
  size_t untrusted_witnesses_ = 0;
  MirrorVerifyReport& report_;
  const std::string branch_, cp_branch_;
  MirrorLogReport log_;
  TreePtr cp_tree_, notes_tree_;
  std::map<uint64_t, Hash> wanted_roots_;  // note sizes -> root computed at that size
  ChainChecker chain_;
  uint64_t verified_ = 0;  // records before the first broken hash-chain link
  std::set<Hash> object_ids_;
};

}  // namespace

Result<MirrorVerifyReport> VerifyMirror(const std::filesystem::path& git_dir,
                                        const MirrorTrust* trust) {
  KH_ASSIGN_OR_RETURN(Repo repo, Repo::Open(git_dir));
  KH_ASSIGN_OR_RETURN(auto logs, repo.Branches(kMirrorLogsPrefix));
  KH_ASSIGN_OR_RETURN(auto checkpoints, repo.Branches(kMirrorCheckpointsPrefix));
  MirrorVerifyReport report;
  for (const auto& [name, tip] : logs) {
    auto origin = ParseHashHex(name);
    if (!origin.ok()) {
      report.problems.push_back("logs/" + name + ": the branch name is not a node id (64 lowercase hex)");
      continue;
    }
    auto cp = checkpoints.find(name);
    std::optional<git_oid> cp_tip;
    if (cp != checkpoints.end()) cp_tip = cp->second;
    LogVerifier(repo, *origin, tip, cp_tip, trust, report).Run();
  }
  for (const auto& [name, tip] : checkpoints) {
    if (!logs.count(name)) {
      report.warnings.push_back("checkpoints/" + name + ": there is no logs/" + name + " branch");
    }
  }
  if (logs.empty()) report.warnings.push_back("the mirror holds no logs branch");
  return report;
}

}  // namespace khronika
