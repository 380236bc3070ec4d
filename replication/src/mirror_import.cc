// OpenMirrorTransport: a mirror read as if it were a peer, so that `PullFromPeer` imports from
// it (`mirror import`, and the import step of `sync --via-git`) with every check a sync makes.
// It serves what the repository holds and checks only what it needs to find it; the importer
// verifies every byte before any write.
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "git_handles.h"
#include "khronika/log/log.h"
#include "khronika/replication/git_mirror.h"
#include "khronika/replication/protocol.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"
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

class MirrorTransport : public PeerTransport {
 public:
  explicit MirrorTransport(Repo repo) : repo_(std::move(repo)) {}

  Result<std::vector<Head>> Heads() override {
    KH_ASSIGN_OR_RETURN(auto logs, ReadableLogs());
    std::vector<Head> heads;
    for (const auto& [origin, log] : logs) {
      auto head = BestNote(origin, log->chain.size());
      if (head.ok() && *head) heads.push_back(std::move(**head));
    }
    return heads;
  }

  Result<std::vector<Hash>> ConsistencyProof(const Hash& origin, uint64_t from,
                                             uint64_t to) override {
    KH_ASSIGN_OR_RETURN(LogState * log, Log(origin));
    if (from > to || to > log->chain.size()) {
      return Status::InvalidArgument("the mirror holds " + std::to_string(log->chain.size()) +
                                     " records of " + ToHex(origin));
    }
    if (log->levels.empty()) KH_RETURN_IF_ERROR(BuildLevels(*log));
    SubtreeFn subtree = [log](unsigned level, uint64_t index) -> Result<Hash> {
      if (level >= log->levels.size() || index >= log->levels[level].size()) {
        return Status::NotFound("no such subtree in the mirror");
      }
      return log->levels[level][index];
    };
    return khronika::ConsistencyProof(from, to, subtree);
  }

  // Frames exactly as BuildPack writes them, from the mirror's blobs.
  Result<Bytes> Pack(const Hash& origin, uint64_t from, uint64_t to) override {
    KH_ASSIGN_OR_RETURN(LogState * log, Log(origin));
    if (from > to || to > log->chain.size()) {
      return Status::NotFound("the mirror holds " + std::to_string(log->chain.size()) +
                              " records of " + ToHex(origin));
    }
    Bytes out;
    for (uint64_t i = from; i < to; ++i) {
      if (i > from && (i - from >= kMaxPackRecords || out.size() >= kMaxPackBytes)) break;
      const ChainLink& link = log->chain[i];
      std::string where = "record " + std::to_string(i) + " (commit " + ShortOid(link.commit) + ")";
      KH_ASSIGN_OR_RETURN(TreePtr tree, repo_.Tree(link.tree));
      KH_ASSIGN_OR_RETURN(Bytes record,
                          TreeBlob(tree.get(), std::string(kRecordFile), "", kMaxRecordFrame, where));
      KH_ASSIGN_OR_RETURN(Bytes object,
                          TreeBlob(tree.get(), std::string(kObjectFile), "", kMaxObjectFrame, where));
      AppendFrame(out, kFrameRecord, record);
      AppendFrame(out, kFrameObject, object);
    }
    AppendFrame(out, kFrameEnd, {});
    return out;
  }

  // A mirror carries no timestamps (its heads announce none).
  Result<std::string> Timestamps(const Hash& origin, uint64_t) override {
    return Status::NotFound("a mirror holds no timestamps of " + ToHex(origin));
  }
  Result<Bytes> Chunks(const std::vector<Hash>& ids) override {
    if (ids.size() > kMaxChunksPerRequest) return Status::InvalidArgument("too many chunks asked for");
    if (!chunk_index_) KH_RETURN_IF_ERROR(BuildChunkIndex());
    Bytes out;
    for (const Hash& id : ids) {
      auto it = chunk_index_->find(id);
      if (it == chunk_index_->end()) return Status::NotFound("chunk " + ToHex(id) + " is not in the mirror");
      const ChunkLocation& loc = it->second;
      KH_ASSIGN_OR_RETURN(ByteView data, FileBlob(loc.blob, loc.file_size));
      ByteView slice =
          data.subspan(loc.index * kSealedChunkSize, SealedChunkLength(loc.file_size, loc.index));
      if (ChunkId(slice) != id) {
        return Status::Corruption("chunk " + std::to_string(loc.index) + " of blob " +
                                  ShortOid(loc.blob) + " does not match its id");
      }
      Bytes payload(id.begin(), id.end());
      payload.insert(payload.end(), slice.begin(), slice.end());
      AppendFrame(out, kFrameChunk, payload);
    }
    AppendFrame(out, kFrameEnd, {});
    return out;
  }

 private:
  struct LogState {
    std::vector<ChainLink> chain;
    std::vector<std::vector<Hash>> levels;  // levels[0]: leaf hashes; built on first use
  };
  struct ChunkLocation {
    git_oid blob;
    uint64_t index = 0;
    uint64_t file_size = 0;  // the sealed size
  };

  Result<LogState*> Log(const Hash& origin) {
    auto it = logs_.find(origin);
    if (it != logs_.end()) return &it->second;
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> tip, repo_.RefTarget(LogsRef(origin)));
    if (!tip) return Status::NotFound("the mirror holds no log of " + ToHex(origin));
    LogState state;
    KH_ASSIGN_OR_RETURN(state.chain, FirstParentChain(repo_, *tip));
    return &logs_.emplace(origin, std::move(state)).first->second;
  }

  // The logs branches named by a node id whose commits can be walked back to the first (`khronika
  // mirror verify` names the damage of the others).
  Result<std::vector<std::pair<Hash, LogState*>>> ReadableLogs() {
    KH_ASSIGN_OR_RETURN(auto branches, repo_.Branches(kMirrorLogsPrefix));
    std::vector<std::pair<Hash, LogState*>> out;
    for (const auto& [name, tip] : branches) {
      auto origin = ParseHashHex(name);
      if (!origin.ok()) continue;
      auto log = Log(*origin);
      if (log.ok()) out.emplace_back(*origin, *log);
    }
    return out;
  }

  // The regular file `dir` + `name` of `tree`; errors say `where` it was looked for.
  Result<Bytes> TreeBlob(const git_tree* tree, const std::string& name, const std::string& dir,
                         size_t max_bytes, const std::string& where) {
    auto bytes = TreeFile(repo_, tree, name, dir + name, max_bytes);
    if (!bytes.ok()) return bytes.status().Annotate(where);
    return bytes;
  }

  // The largest usable note at most `records` in size.
  Result<std::optional<Head>> BestNote(const Hash& origin, uint64_t records) {
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> tip, repo_.RefTarget(CheckpointsRef(origin)));
    if (!tip) return std::optional<Head>();
    KH_ASSIGN_OR_RETURN(TreePtr tree, repo_.TreeOfCommit(*tip));
    KH_ASSIGN_OR_RETURN(TreePtr notes, repo_.SubTree(tree.get(), std::string(kNotesDir)));
    if (!notes) return std::optional<Head>();
    std::map<uint64_t, git_oid, std::greater<>> candidates;
    for (size_t k = 0; k < git_tree_entrycount(notes.get()); ++k) {
      const git_tree_entry* e = git_tree_entry_byindex(notes.get(), k);
      auto size = ParseNoteFileName(git_tree_entry_name(e));
      if (size && *size <= records && IsBlobEntry(e)) candidates.emplace(*size, *git_tree_entry_id(e));
    }
    for (const auto& [size, oid] : candidates) {
      auto text = repo_.SmallBlob(oid, kMaxNoteBytes);
      if (!text.ok()) continue;
      auto note = ParseSignedNote(AsChars(*text));
      if (!note.ok()) continue;
      auto cp = ParseCheckpointBody(note->text);
      if (!cp.ok() || cp->size != size || cp->origin != OriginName(origin)) continue;
      Head h;
      h.origin = origin;
      h.size = size;
      h.checkpoint.assign(AsChars(*text));
      return std::optional<Head>(std::move(h));
    }
    return std::optional<Head>();
  }

  Status BuildLevels(LogState& log) {
    std::vector<Hash> leaves;
    leaves.reserve(log.chain.size());
    for (uint64_t i = 0; i < log.chain.size(); ++i) {
      std::string where = "record " + std::to_string(i);
      KH_ASSIGN_OR_RETURN(TreePtr tree, repo_.Tree(log.chain[i].tree));
      KH_ASSIGN_OR_RETURN(Bytes record,
                          TreeBlob(tree.get(), std::string(kRecordFile), "", kMaxRecordFrame, where));
      leaves.push_back(LeafHash(record));
    }
    log.levels.push_back(std::move(leaves));
    while (log.levels.back().size() >= 2) {
      const std::vector<Hash>& below = log.levels.back();
      std::vector<Hash> up;
      up.reserve(below.size() / 2);
      for (size_t j = 0; j + 1 < below.size(); j += 2) up.push_back(HashChildren(below[j], below[j + 1]));
      log.levels.push_back(std::move(up));
    }
    return Status::Ok();
  }

  // Where each sealed chunk id of every sealed file in the mirror can be read; objects that
  // do not decode are passed over (an import checks every byte it is given anyway).
  Status BuildChunkIndex() {
    std::map<Hash, ChunkLocation> index;
    KH_ASSIGN_OR_RETURN(auto logs, ReadableLogs());
    for (const auto& [origin, log] : logs) {
      for (const ChainLink& link : log->chain) {
        KH_ASSIGN_OR_RETURN(TreePtr tree, repo_.Tree(link.tree));
        const std::string object_file(kObjectFile);
        auto object = TreeFile(repo_, tree.get(), object_file, object_file, kMaxObjectFrame);
        if (!object.ok()) continue;
        auto type = PeekObjectType(*object);
        if (!type.ok() || *type != kTypeSealedEntry) continue;
        auto sealed = DecodeSealedEntry(*object);
        if (!sealed.ok() || sealed->files.empty()) continue;
        KH_ASSIGN_OR_RETURN(TreePtr files, repo_.SubTree(tree.get(), std::string(kFilesDir)));
        if (!files) continue;
        for (size_t n = 0; n < sealed->files.size(); ++n) {
          const SealedFile& f = sealed->files[n];
          const git_tree_entry* fe = EntryNamed(files.get(), SealedFileName(n));
          if (!IsBlobEntry(fe)) continue;
          for (uint64_t j = 0; j < f.chunks.size(); ++j) {
            index.emplace(f.chunks[j], ChunkLocation{*git_tree_entry_id(fe), j, f.sealed_size});
          }
        }
      }
    }
    chunk_index_ = std::move(index);
    return Status::Ok();
  }

  // A file's content, whole (libgit2 has no streaming read); only the last one is kept.
  Result<ByteView> FileBlob(const git_oid& oid, uint64_t size) {
    if (!last_blob_ || !git_oid_equal(&oid, &last_blob_oid_)) {
      last_blob_.reset();
      KH_ASSIGN_OR_RETURN(last_blob_, repo_.Blob(oid));
      last_blob_oid_ = oid;
    }
    if (git_blob_rawsize(last_blob_.get()) != size) {
      return Status::Corruption("blob " + ShortOid(oid) + " does not have its sealed size");
    }
    return ByteView(static_cast<const uint8_t*>(git_blob_rawcontent(last_blob_.get())),
                    static_cast<size_t>(size));
  }

  Repo repo_;
  std::map<Hash, LogState> logs_;
  std::optional<std::map<Hash, ChunkLocation>> chunk_index_;
  git::BlobPtr last_blob_;  // declared after repo_, so freed before it
  git_oid last_blob_oid_{};
};

}  // namespace

Result<std::unique_ptr<PeerTransport>> OpenMirrorTransport(const std::filesystem::path& git_dir) {
  KH_ASSIGN_OR_RETURN(Repo repo, Repo::Open(git_dir));
  return std::unique_ptr<PeerTransport>(std::make_unique<MirrorTransport>(std::move(repo)));
}

}  // namespace khronika
