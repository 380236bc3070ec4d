#include "khronika/replication/git_mirror.h"

#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <gtest/gtest.h>

#include "direct_transport_for_tests.h"
#include "entries_for_tests.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/witness.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"

namespace khronika {
namespace {

namespace fs = std::filesystem;

struct ShellResult {
  int code = -1;
  std::string out;  // stdout and stderr
};
ShellResult Shell(const std::string& command) {
  ShellResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// ---- libgit2 in the test itself: reading branches and forging commits ----
template <auto Free>
struct Freer {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using RepoPtr = std::unique_ptr<git_repository, Freer<&git_repository_free>>;
using CommitPtr = std::unique_ptr<git_commit, Freer<&git_commit_free>>;
using TreePtr = std::unique_ptr<git_tree, Freer<&git_tree_free>>;
using RefPtr = std::unique_ptr<git_reference, Freer<&git_reference_free>>;
using BlobPtr = std::unique_ptr<git_blob, Freer<&git_blob_free>>;

RepoPtr OpenRepo(const fs::path& dir) {
  git_repository* r = nullptr;
  EXPECT_EQ(git_repository_open_bare(&r, dir.c_str()), 0) << dir;
  return RepoPtr(r);
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

std::string Tip(const fs::path& dir, const std::string& ref) {
  RepoPtr repo = OpenRepo(dir);
  git_oid oid;
  if (!repo || git_reference_name_to_id(&oid, repo.get(), ref.c_str()) != 0) return "";
  return OidHex(oid);
}

// Commit ids of a branch, root first.
std::vector<git_oid> Chain(git_repository* repo, const std::string& ref) {
  std::vector<git_oid> out;
  git_oid cur;
  if (git_reference_name_to_id(&cur, repo, ref.c_str()) != 0) return out;
  for (;;) {
    git_commit* raw = nullptr;
    if (git_commit_lookup(&raw, repo, &cur) != 0) break;
    CommitPtr c(raw);
    out.push_back(cur);
    if (git_commit_parentcount(c.get()) == 0) break;
    cur = *git_commit_parent_id(c.get(), 0);
  }
  std::reverse(out.begin(), out.end());
  return out;
}
std::vector<std::string> ChainHex(const fs::path& dir, const std::string& ref) {
  RepoPtr repo = OpenRepo(dir);
  std::vector<std::string> out;
  for (const git_oid& o : Chain(repo.get(), ref)) out.push_back(OidHex(o));
  return out;
}

std::string ReadPath(const fs::path& dir, const std::string& ref, size_t index, const std::string& path) {
  RepoPtr repo = OpenRepo(dir);
  std::vector<git_oid> chain = Chain(repo.get(), ref);
  git_commit* c = nullptr;
  EXPECT_EQ(git_commit_lookup(&c, repo.get(), &chain.at(index)), 0);
  CommitPtr commit(c);
  git_tree* t = nullptr;
  EXPECT_EQ(git_commit_tree(&t, commit.get()), 0);
  TreePtr tree(t);
  git_tree_entry* e = nullptr;
  if (git_tree_entry_bypath(&e, tree.get(), path.c_str()) != 0) return "";
  git_oid id = *git_tree_entry_id(e);
  git_tree_entry_free(e);
  git_blob* b = nullptr;
  EXPECT_EQ(git_blob_lookup(&b, repo.get(), &id), 0);
  BlobPtr blob(b);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<size_t>(git_blob_rawsize(blob.get())));
}

// Replaces `path` in the tree of commit `index` of `ref` by `content`, and re-creates every
// later commit on top, keeping authors, committers and messages: a well-formed git history that
// holds forged evidence.
void Rewrite(const fs::path& dir, const std::string& ref, size_t index, const std::string& path,
             const std::string& content) {
  RepoPtr repo = OpenRepo(dir);
  std::vector<git_oid> chain = Chain(repo.get(), ref);
  ASSERT_LT(index, chain.size());
  git_oid blob;
  ASSERT_EQ(git_blob_create_from_buffer(&blob, repo.get(), content.data(), content.size()), 0);
  std::optional<git_oid> parent;
  if (index > 0) parent = chain[index - 1];
  for (size_t k = index; k < chain.size(); ++k) {
    git_commit* raw = nullptr;
    ASSERT_EQ(git_commit_lookup(&raw, repo.get(), &chain[k]), 0);
    CommitPtr c(raw);
    git_tree* t = nullptr;
    ASSERT_EQ(git_commit_tree(&t, c.get()), 0);
    TreePtr tree(t);
    if (k == index) {
      git_tree_update update{GIT_TREE_UPDATE_UPSERT, blob, GIT_FILEMODE_BLOB, path.c_str()};
      git_oid new_tree;
      ASSERT_EQ(git_tree_create_updated(&new_tree, repo.get(), tree.get(), 1, &update), 0);
      t = nullptr;
      ASSERT_EQ(git_tree_lookup(&t, repo.get(), &new_tree), 0);
      tree.reset(t);
    }
    CommitPtr parent_commit;
    if (parent) {
      git_commit* p = nullptr;
      ASSERT_EQ(git_commit_lookup(&p, repo.get(), &*parent), 0);
      parent_commit.reset(p);
    }
    const git_commit* parents[1] = {parent_commit.get()};
    git_oid made;
    ASSERT_EQ(git_commit_create(&made, repo.get(), nullptr, git_commit_author(c.get()),
                                git_commit_committer(c.get()), nullptr,
                                git_commit_message_raw(c.get()), tree.get(), parent ? 1 : 0, parents),
              0);
    parent = made;
  }
  git_reference* r = nullptr;
  ASSERT_EQ(git_reference_create(&r, repo.get(), ref.c_str(), &*parent, 1, nullptr), 0);
  RefPtr keep(r);
}

bool AnyContains(const std::vector<std::string>& lines, const std::vector<std::string>& parts) {
  for (const std::string& l : lines) {
    bool all = true;
    for (const std::string& p : parts) all = all && l.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}
std::string Joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

struct File {
  std::string media_type;
  std::string content;
};

class GitMirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    git_libgit2_init();
    std::string tmpl = (fs::temp_directory_path() / "git-mirror-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    a_ = std::move(Node::Init(dir_ / "a", "ngo-a").value());
    b_ = std::move(Node::Init(dir_ / "b", "ngo-b").value());
    for (Node* n : {a_.get(), b_.get()}) {
      ASSERT_TRUE(RegisterAuthor(n->store(), author_.public_key(), "Alice").ok());
    }
    ASSERT_TRUE(AddMember(b_->store(), a_->verifier_key(), a_->cosigner_verifier_key()).ok());
    ASSERT_TRUE(AddMember(a_->store(), b_->verifier_key(), b_->cosigner_verifier_key()).ok());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    fs::remove_all(dir_);
    git_libgit2_shutdown();
  }

  Hash AppendEntry(Node& node, const std::vector<File>& files, const std::string& case_id) {
    std::vector<TestFile> test_files;
    for (size_t i = 0; i < files.size(); ++i) {
      test_files.push_back({"evidence-" + std::to_string(i) + ".dat", files[i].content,
                            files[i].media_type});
    }
    auto s = MakeTestSubmission(node, author_, case_id, test_files,
                                {{"n", std::to_string(counter_)}},
                                files.empty() ? "note" : "evidence",
                                1767225600123 + 1000 * counter_);
    ++counter_;
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return Hash{};
    auto receipts = node.log().Append({*s});
    EXPECT_TRUE(receipts.ok()) << receipts.status().ToString();
    return receipts.ok() ? (*receipts)[0].entry_id : Hash{};
  }
  void AppendNotes(Node& node, int n) {
    std::vector<Submission> batch;
    for (int i = 0; i < n; ++i) {
      auto s = MakeTestSubmission(node, author_, "case-" + std::to_string(i % 5), {},
                                  {{"n", std::to_string(counter_++)}}, "note", 1767225600000 + i);
      ASSERT_TRUE(s.ok());
      batch.push_back(std::move(*s));
    }
    ASSERT_TRUE(node.log().Append(batch).ok());
  }

  // The sealed file `file` of record `index` of `origin`'s log held by `node`: its sealed chunks
  // end to end.
  std::string SealedFileOf(Node& node, const Hash& origin, uint64_t index, size_t file) {
    std::string out;
    EXPECT_TRUE(node.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, origin, index));
      KH_ASSIGN_OR_RETURN(SealedEntry e, DecodeSealedEntry(logged.object_bytes));
      const SealedFile& f = e.files.at(file);
      for (uint64_t k = 0; k < f.chunks.size(); ++k) {
        KH_ASSIGN_OR_RETURN(Bytes chunk, ReadFileChunk(txn, f, k));
        out.append(AsChars(chunk));
      }
      return Status::Ok();
    }).ok());
    return out;
  }

  // `to` pulls from `from` and cosigns what it verified.
  void Sync(Node& from, Node& to) {
    DirectTransport peer(from.store());
    Witness witness{to.cosigner_name(), &to.cosigner_key()};
    auto report = PullFromPeer(to.store(), peer, &witness);
    ASSERT_TRUE(report.ok());
    for (const LogSyncResult& l : report->logs) {
      ASSERT_TRUE(l.status.ok() || l.skipped) << l.status.ToString();
    }
  }

  std::vector<MirrorLogExport> Export(Node& node, const fs::path& repo) {
    auto r = ExportMirror(node.store(), repo);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->logs : std::vector<MirrorLogExport>{};
  }
  const MirrorLogExport* For(const std::vector<MirrorLogExport>& results, const Hash& origin) {
    for (const auto& r : results) {
      if (r.origin == origin) return &r;
    }
    return nullptr;
  }

  Bytes PackOf(Node& node, const Hash& origin, uint64_t from, uint64_t to) {
    Bytes body;
    EXPECT_TRUE(node.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(body, BuildPack(txn, origin, from, to));
      return Status::Ok();
    }).ok());
    return body;
  }
  uint64_t SizeOf(Node& node, const Hash& origin) {
    uint64_t size = 0;
    EXPECT_TRUE(node.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(size, LogSize(txn, origin));
      return Status::Ok();
    }).ok());
    return size;
  }

  std::string LogsRef(const Node& n) { return "refs/heads/logs/" + ToHex(n.id()); }
  std::string CheckpointsRef(const Node& n) { return "refs/heads/checkpoints/" + ToHex(n.id()); }

  // Three records: two files (a multi-chunk JPEG and a PDF), a note without files, one more file.
  void AppendThree(Node& node) {
    std::string photo(kChunkSize + kChunkSize / 2 + 3, 'p');
    photo[0] = 'J';
    AppendEntry(node, {{"image/jpeg", photo}, {"application/pdf", "%PDF-1.7 statement"}}, "case-1");
    AppendEntry(node, {}, "case-2");
    AppendEntry(node, {{"application/x-unknown", "raw bytes"}}, "case-1");
  }

  fs::path dir_;
  SigningKey author_ = SigningKey::Generate();
  std::unique_ptr<Node> a_, b_;
  int counter_ = 0;
};

TEST_F(GitMirrorTest, TwoNodesHoldingTheSameLogWriteTheSameCommits) {
  AppendThree(*a_);
  Sync(*a_, *b_);
  auto ra = Export(*a_, dir_ / "a.git");
  auto rb = Export(*b_, dir_ / "b.git");
  const MirrorLogExport* ea = For(ra, a_->id());
  const MirrorLogExport* eb = For(rb, a_->id());
  ASSERT_NE(ea, nullptr);
  ASSERT_NE(eb, nullptr);
  EXPECT_TRUE(ea->status.ok()) << ea->status.ToString();
  EXPECT_TRUE(eb->status.ok()) << eb->status.ToString();
  EXPECT_EQ(ea->from, 0u);
  EXPECT_EQ(ea->to, 3u);
  EXPECT_TRUE(ea->checkpoints_updated);
  EXPECT_EQ(For(rb, b_->id()), nullptr);  // B's own log is empty: nothing to mirror
  std::string tip = Tip(dir_ / "a.git", LogsRef(*a_));
  ASSERT_EQ(tip.size(), 40u);
  EXPECT_EQ(tip, Tip(dir_ / "b.git", LogsRef(*a_)));
  EXPECT_EQ(ChainHex(dir_ / "a.git", LogsRef(*a_)).size(), 3u);

  // The layout, as stock git sees it.
  std::string git = "git --git-dir=" + (dir_ / "a.git").string() + " ";
  ShellResult ls = Shell(git + "ls-tree -r --name-only " + LogsRef(*a_) + "~2");
  EXPECT_EQ(ls.out, "files/0.sealed\nfiles/1.sealed\nobject.bin\nrecord.bin\n");
  EXPECT_EQ(Shell(git + "ls-tree -r --name-only " + LogsRef(*a_) + "~1").out,
            "object.bin\nrecord.bin\n");
  EXPECT_EQ(Shell(git + "ls-tree -r --name-only " + LogsRef(*a_)).out,
            "files/0.sealed\nobject.bin\nrecord.bin\n");
  ShellResult meta = Shell(git + "log -1 --format='%an|%ae|%at|%cn|%ce|%ct|%P' " + LogsRef(*a_) + "~2");
  std::string origin_hex = ToHex(a_->id());
  std::string record0 = ReadPath(dir_ / "a.git", LogsRef(*a_), 0, "record.bin");
  auto rec = DecodeRecord(AsBytes(record0));
  ASSERT_TRUE(rec.ok());
  // The commit says only what the record says: no author, case or time of writing.
  std::string node = "node " + origin_hex.substr(0, 16) + "|" + origin_hex +
                     "@nodes.khronika.invalid|" + std::to_string(rec->received_at_ms / 1000);
  EXPECT_EQ(meta.out, node + "|" + node + "|\n");
  ShellResult message = Shell(git + "cat-file commit " + LogsRef(*a_) + "~2");
  EXPECT_NE(message.out.find("\n\nkhronika record 0 of " + origin_hex + "\n\nobject-id: " +
                             ToHex(rec->object_id) + "\nrecord-hash: " +
                             ToHex(RecordHash(AsBytes(record0))) + "\nleaf-hash: " +
                             ToHex(LeafHash(AsBytes(record0))) + "\n"),
            std::string::npos)
      << message.out;
  // Files are as sealed, byte for byte: the sealed chunks end to end, no plaintext.
  std::string photo(kChunkSize + kChunkSize / 2 + 3, 'p');
  photo[0] = 'J';
  std::string sealed_photo = ReadPath(dir_ / "a.git", LogsRef(*a_), 0, "files/0.sealed");
  EXPECT_EQ(sealed_photo, SealedFileOf(*a_, a_->id(), 0, 0));
  EXPECT_EQ(sealed_photo.size(), SealedFileSize(photo.size()));
  EXPECT_EQ(sealed_photo.find(std::string(64, 'p')), std::string::npos);
  EXPECT_EQ(ReadPath(dir_ / "a.git", LogsRef(*a_), 0, "files/1.sealed"), SealedFileOf(*a_, a_->id(), 0, 1));
  EXPECT_EQ(ReadPath(dir_ / "a.git", LogsRef(*a_), 2, "files/0.sealed"), SealedFileOf(*a_, a_->id(), 2, 0));
  EXPECT_EQ(ReadPath(dir_ / "b.git", LogsRef(*a_), 2, "files/0.sealed"), SealedFileOf(*b_, a_->id(), 2, 0));

  // Stock git finds nothing wrong with the repository.
  for (const char* repo : {"a.git", "b.git"}) {
    ShellResult fsck = Shell("git --git-dir=" + (dir_ / repo).string() + " fsck --full --strict --no-progress");
    EXPECT_EQ(fsck.code, 0) << fsck.out;
    std::string out = fsck.out;
    // B's HEAD names a branch that does not exist (B's own log is empty): not an fsck error.
    if (std::string(repo) == "b.git") out = Trim(out).find("notice: HEAD points to an unborn branch") == 0 ? "" : out;
    EXPECT_EQ(out, "") << repo;
  }
}

TEST_F(GitMirrorTest, ASecondExportAddsOnlyTheNewRecords) {
  AppendThree(*a_);
  fs::path repo = dir_ / "m.git";
  auto first = Export(*a_, repo);
  std::string old_tip = Tip(repo, LogsRef(*a_));
  std::string old_checkpoints = Tip(repo, CheckpointsRef(*a_));
  AppendEntry(*a_, {{"text/plain", "more"}}, "case-3");
  AppendEntry(*a_, {}, "case-1");
  auto second = Export(*a_, repo);
  const MirrorLogExport* e = For(second, a_->id());
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->status.ok()) << e->status.ToString();
  EXPECT_EQ(e->from, 3u);
  EXPECT_EQ(e->to, 5u);
  EXPECT_TRUE(e->checkpoints_updated);
  std::vector<std::string> chain = ChainHex(repo, LogsRef(*a_));
  ASSERT_EQ(chain.size(), 5u);
  EXPECT_EQ(chain[2], old_tip);  // the first new commit's parent is the old tip
  EXPECT_EQ(Shell("git --git-dir=" + repo.string() + " rev-parse " + chain[3] + "^").out, old_tip + "\n");
  // The checkpoints branch moved forward too, on top of its old tip.
  std::vector<std::string> cps = ChainHex(repo, CheckpointsRef(*a_));
  ASSERT_EQ(cps.size(), 2u);
  EXPECT_EQ(cps[0], old_checkpoints);

  // Nothing new: nothing written.
  auto third = Export(*a_, repo);
  e = For(third, a_->id());
  EXPECT_EQ(e->from, 5u);
  EXPECT_EQ(e->to, 5u);
  EXPECT_FALSE(e->checkpoints_updated);
  EXPECT_EQ(Tip(repo, LogsRef(*a_)), chain.back());
  EXPECT_EQ(ChainHex(repo, CheckpointsRef(*a_)).size(), 2u);

  auto report = VerifyMirror(repo);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok()) << Joined(report->problems);
  EXPECT_TRUE(report->warnings.empty()) << Joined(report->warnings);
  ASSERT_EQ(report->logs.size(), 1u);
  EXPECT_EQ(report->logs[0].records, 5u);
  EXPECT_EQ(report->logs[0].largest_verified, 5u);
  EXPECT_EQ(report->logs[0].checkpoints, 6u);  // sizes 0 (init) and 1 to 5, one per append
}

// Export checks what it reads from the store: a stored record that does not continue the chain
// the mirror ends with is not exported, and the branch stays where it was.
TEST_F(GitMirrorTest, AnExportStopsAtAStoredRecordThatBreaksTheChain) {
  AppendThree(*a_);
  fs::path repo = dir_ / "m.git";
  Export(*a_, repo);
  const std::string old_tip = Tip(repo, LogsRef(*a_));
  AppendEntry(*a_, {{"text/plain", "more"}}, "case-3");
  const Bytes key = keys::Record(a_->id(), 3);
  ASSERT_TRUE(a_->store().Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto bytes, txn.Get(Table::kRecords, key));
    KH_ASSIGN_OR_RETURN(Record r, DecodeRecord(bytes.value()));
    r.prev_record[0] ^= 1;
    return txn.Put(Table::kRecords, key, Encode(r));
  }).ok());
  auto results = Export(*a_, repo);
  const MirrorLogExport* e = For(results, a_->id());
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status.message(), "record 3: the stored record: prev_record is not the hash of record 2 (hash chain broken)");
  EXPECT_EQ(e->to, 3u);
  EXPECT_EQ(Tip(repo, LogsRef(*a_)), old_tip);
}

class GitMirrorTamperTest : public GitMirrorTest {
 protected:
  // B holds A's four records and cosigned them; B's mirror carries both.
  void SetUp() override {
    GitMirrorTest::SetUp();
    AppendThree(*a_);
    AppendEntry(*a_, {{"application/pdf", "%PDF-1.4 another"}}, "case-2");
    Sync(*a_, *b_);
    Export(*b_, dir_ / "good.git");
  }
  // A copy of the good mirror to damage.
  fs::path Copy(const std::string& name) {
    fs::path to = dir_ / name;
    fs::copy(dir_ / "good.git", to, fs::copy_options::recursive);
    return to;
  }
  MirrorVerifyReport Verify(const fs::path& repo) {
    auto r = VerifyMirror(repo);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : MirrorVerifyReport{};
  }
  std::string Branch() { return "logs/" + ToHex(a_->id()).substr(0, 16); }
};

TEST_F(GitMirrorTamperTest, AGoodMirrorVerifies) {
  MirrorVerifyReport r = Verify(dir_ / "good.git");
  EXPECT_TRUE(r.ok()) << Joined(r.problems);
  EXPECT_TRUE(r.warnings.empty()) << Joined(r.warnings);
  ASSERT_EQ(r.logs.size(), 1u);
  EXPECT_EQ(r.logs[0].origin, a_->id());
  EXPECT_EQ(r.logs[0].records, 4u);
  EXPECT_EQ(r.logs[0].checkpoints, 1u);  // B holds A's checkpoint at the size it synced
  EXPECT_EQ(r.logs[0].largest_verified, 4u);
  EXPECT_EQ(r.logs[0].cosigners, 1u);  // B's witness signature
}

TEST_F(GitMirrorTamperTest, AForgedFileIsNamed) {
  fs::path repo = Copy("file.git");
  std::string pdf = ReadPath(repo, LogsRef(*a_), 0, "files/1.sealed");
  pdf[3] ^= 0x20;  // same size, other bytes
  Rewrite(repo, LogsRef(*a_), 0, "files/1.sealed", pdf);
  MirrorVerifyReport r = Verify(repo);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(AnyContains(r.problems, {Branch(), "(record 0)",
                                       "files/1.sealed: sealed chunk 0 does not match its id"}))
      << Joined(r.problems);
  // The rest of the log still verifies: only that file is named.
  EXPECT_EQ(r.problems.size(), 1u) << Joined(r.problems);
  ShellResult fsck = Shell("git --git-dir=" + repo.string() + " fsck --strict --no-progress");
  EXPECT_EQ(fsck.code, 0) << fsck.out;  // valid git, forged evidence

  fs::path shorter = Copy("short.git");
  Rewrite(shorter, LogsRef(*a_), 3, "files/0.sealed", "%PDF");
  r = Verify(shorter);
  EXPECT_TRUE(AnyContains(r.problems, {"(record 3)", "files/0.sealed has 4 bytes"})) << Joined(r.problems);
}

TEST_F(GitMirrorTamperTest, AForgedRecordOrEntryIsNamed) {
  fs::path repo = Copy("record.git");
  std::string record = ReadPath(repo, LogsRef(*a_), 1, "record.bin");
  record[record.size() - 2] ^= 0x01;  // received_at_ms
  Rewrite(repo, LogsRef(*a_), 1, "record.bin", record);
  MirrorVerifyReport r = Verify(repo);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(AnyContains(r.problems, {Branch(), "(record 1)", "record.bin"})) << Joined(r.problems);
  // The next record no longer chains to it; checking that log stops there.
  EXPECT_TRUE(AnyContains(r.problems, {"(record 2)", "record.bin: prev_record", "hash chain"}))
      << Joined(r.problems);
  EXPECT_FALSE(AnyContains(r.problems, {"(record 3)"})) << Joined(r.problems);

  // The last record names another object: its object no longer matches (and the checkpoint's
  // root no longer covers the records).
  fs::path other_object = Copy("other-object.git");
  auto last = DecodeRecord(AsBytes(ReadPath(other_object, LogsRef(*a_), 3, "record.bin")));
  ASSERT_TRUE(last.ok());
  last->object_id[0] ^= 1;
  Rewrite(other_object, LogsRef(*a_), 3, "record.bin", std::string(AsChars(Encode(*last))));
  r = Verify(other_object);
  EXPECT_TRUE(AnyContains(r.problems, {"(record 3)", "object.bin does not match the record's object_id"}))
      << Joined(r.problems);
  EXPECT_TRUE(AnyContains(r.problems, {"not the Merkle root of the first 4 records"})) << Joined(r.problems);
  EXPECT_EQ(r.logs.at(0).records, 4u);

  fs::path object = Copy("object.git");
  std::string o = ReadPath(object, LogsRef(*a_), 0, "object.bin");
  o[o.size() - 1] ^= 0x01;  // the last sealed chunk id
  Rewrite(object, LogsRef(*a_), 0, "object.bin", o);
  r = Verify(object);
  EXPECT_TRUE(AnyContains(r.problems, {Branch(), "(record 0)", "object.bin does not match"}))
      << Joined(r.problems);

  fs::path entry_json = Copy("json.git");
  Rewrite(entry_json, LogsRef(*a_), 2, "entry.json", "{}\n");
  r = Verify(entry_json);
  EXPECT_TRUE(AnyContains(r.problems, {"(record 2)", "unexpected tree entry 'entry.json'"}))
      << Joined(r.problems);

  fs::path extra = Copy("extra.git");
  Rewrite(extra, LogsRef(*a_), 1, "files/0.txt", "smuggled");
  r = Verify(extra);
  EXPECT_TRUE(AnyContains(r.problems, {"(record 1)", "unexpected tree entry 'files'"})) << Joined(r.problems);
}

TEST_F(GitMirrorTamperTest, AForgedNoteOrCosignatureIsNamed) {
  std::string note_path = "notes/00000000000000000004.note";
  std::string note = ReadPath(dir_ / "good.git", CheckpointsRef(*a_), 0, note_path);
  ASSERT_FALSE(note.empty());
  auto parsed = ParseSignedNote(note);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->signatures.size(), 2u);  // A's signature and B's cosignature

  // Another root, not signed by A.
  fs::path unsigned_root = Copy("unsigned.git");
  std::string forged = note;
  size_t root_at = forged.find('\n', forged.find('\n') + 1) + 1;
  forged[root_at] = forged[root_at] == 'A' ? 'B' : 'A';
  Rewrite(unsigned_root, CheckpointsRef(*a_), 0, note_path, forged);
  MirrorVerifyReport r = Verify(unsigned_root);
  EXPECT_TRUE(AnyContains(r.problems, {"checkpoints/" + ToHex(a_->id()).substr(0, 16), note_path,
                                       "not signed by the origin's key"}))
      << Joined(r.problems);

  // Signed by A's own key, but with a root that is not the records' root.
  fs::path wrong_root = Copy("wrong-root.git");
  Rewrite(wrong_root, CheckpointsRef(*a_), 0, note_path, SignCheckpoint(a_->key(), 4, Sha256("other")));
  r = Verify(wrong_root);
  EXPECT_TRUE(AnyContains(r.problems, {note_path, "not the Merkle root of the first 4 records"}))
      << Joined(r.problems);

  // A cosignature line that claims B's witness name but does not verify.
  fs::path cosig = Copy("cosig.git");
  SignedNote bad = *parsed;
  bad.signatures[1].signature[20] ^= 0x01;
  Rewrite(cosig, CheckpointsRef(*a_), 0, note_path, FormatSignedNote(bad));
  r = Verify(cosig);
  EXPECT_TRUE(AnyContains(r.problems, {note_path, "the cosignature of " + b_->cosigner_name(),
                                       "does not verify"}))
      << Joined(r.problems);
  EXPECT_EQ(r.logs.at(0).cosigners, 0u);

  // A note ahead of the records is a warning, not a problem.
  fs::path ahead = Copy("ahead.git");
  Rewrite(ahead, CheckpointsRef(*a_), 0, "notes/00000000000000000009.note",
          SignCheckpoint(a_->key(), 9, Sha256("future")));
  r = Verify(ahead);
  EXPECT_TRUE(r.ok()) << Joined(r.problems);
  EXPECT_TRUE(AnyContains(r.warnings, {"checkpoint at size 9 is ahead of the mirror's records"}))
      << Joined(r.warnings);
}

TEST_F(GitMirrorTest, ImportReproducesTheLogByteForByte) {
  AppendThree(*a_);
  std::string shared(2 * kChunkSize + 11, 's');
  shared[kChunkSize] = 't';  // two distinct full chunks: a file may not repeat a chunk
  AppendEntry(*a_, {{"video/mp4", shared}}, "case-4");
  AppendEntry(*a_, {{"video/mp4", shared}, {"text/plain", "same video, again"}}, "case-4");
  fs::path repo = dir_ / "a.git";
  Export(*a_, repo);

  auto transport = OpenMirrorTransport(repo);
  ASSERT_TRUE(transport.ok()) << transport.status().ToString();
  auto heads = (*transport)->Heads();
  ASSERT_TRUE(heads.ok());
  ASSERT_EQ(heads->size(), 1u);
  EXPECT_EQ((*heads)[0].origin, a_->id());
  EXPECT_EQ((*heads)[0].size, 5u);
  EXPECT_EQ((*heads)[0].checkpoint, *a_->log().LatestCheckpoint());
  auto pack = (*transport)->Pack(a_->id(), 0, 5);
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  EXPECT_EQ(*pack, PackOf(*a_, a_->id(), 0, 5));
  EXPECT_EQ(*(*transport)->Pack(a_->id(), 2, 4), PackOf(*a_, a_->id(), 2, 4));
  auto proof = (*transport)->ConsistencyProof(a_->id(), 2, 5);
  ASSERT_TRUE(proof.ok());
  EXPECT_EQ(*proof, *ServeConsistencyProof(a_->store(), a_->id(), 2, 5));
  EXPECT_EQ((*transport)->Chunks({Sha256("nowhere")}).status().code(), Code::kNotFound);
  EXPECT_FALSE((*transport)->Chunks(std::vector<Hash>(kMaxChunksPerRequest + 1)).ok());
  EXPECT_FALSE((*transport)->Pack(a_->id(), 0, 6).ok());

  // A fresh node that knows A imports everything, checked as a sync checks it.
  auto c = std::move(Node::Init(dir_ / "c", "ngo-c").value());
  ASSERT_TRUE(AddMember(c->store(), a_->verifier_key(), a_->cosigner_verifier_key()).ok());
  Witness witness{c->cosigner_name(), &c->cosigner_key()};
  auto report = PullFromPeer(c->store(), **transport, &witness);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->logs.size(), 1u);
  EXPECT_TRUE(report->logs[0].status.ok()) << report->logs[0].status.ToString();
  EXPECT_EQ(report->logs[0].to, 5u);
  EXPECT_TRUE(report->logs[0].cosigned);
  EXPECT_EQ(PackOf(*c, a_->id(), 0, 5), PackOf(*a_, a_->id(), 0, 5));
  // Every chunk of every file, byte for byte.
  size_t chunks = 0;
  ASSERT_TRUE(a_->store().View([&](ReadTxn& ta) -> Status {
    return c->store().View([&](ReadTxn& tc) -> Status {
      return ta.Scan(Table::kChunks, {}, [&](ByteView key, ByteView value) -> Result<bool> {
        KH_ASSIGN_OR_RETURN(auto held, tc.Get(Table::kChunks, key));
        EXPECT_TRUE(held && std::equal(held->begin(), held->end(), value.begin(), value.end()))
            << ToHex(key);
        ++chunks;
        return true;
      });
    });
  }).ok());
  // Each file sealed under its own key: nothing is shared, not even the same video twice. The
  // three small files travel in their sealed entries (compared above, in the packs).
  EXPECT_EQ(chunks,
            SealedChunksOf(kChunkSize + kChunkSize / 2 + 3) + 2 * SealedChunksOf(shared.size()));
  auto verify = VerifyStore(c->store());
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->clean()) << Joined(verify->problems);

  // A mirror that also holds a log of a node C does not know: that log is skipped.
  Sync(*a_, *b_);
  AppendEntry(*b_, {{"image/png", "png"}}, "case-b");
  fs::path rb = dir_ / "b.git";
  Export(*b_, rb);
  auto from_b = OpenMirrorTransport(rb);
  ASSERT_TRUE(from_b.ok());
  auto again = PullFromPeer(c->store(), **from_b, &witness);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->logs.size(), 2u);
  for (const LogSyncResult& l : again->logs) {
    if (l.origin == b_->id()) {
      EXPECT_TRUE(l.skipped);
    } else {
      EXPECT_TRUE(l.status.ok()) << l.status.ToString();
      EXPECT_EQ(l.to, 5u);
    }
  }
  EXPECT_EQ(SizeOf(*c, b_->id()), 0u);
}

TEST_F(GitMirrorTest, PacksFromTheMirrorKeepTheBatchLimit) {
  AppendNotes(*a_, static_cast<int>(kMaxPackRecords) + 3);
  uint64_t n = kMaxPackRecords + 3;
  fs::path repo = dir_ / "a.git";
  Export(*a_, repo);
  auto transport = OpenMirrorTransport(repo);
  ASSERT_TRUE(transport.ok());
  auto pack = (*transport)->Pack(a_->id(), 0, n);
  ASSERT_TRUE(pack.ok());
  EXPECT_EQ(ParsePack(*pack)->size(), kMaxPackRecords);
  EXPECT_EQ(*pack, PackOf(*a_, a_->id(), 0, n));
  auto c = std::move(Node::Init(dir_ / "c", "ngo-c").value());
  ASSERT_TRUE(AddMember(c->store(), a_->verifier_key(), "").ok());
  auto report = PullFromPeer(c->store(), **transport);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->logs.at(0).status.ok()) << report->logs.at(0).status.ToString();
  EXPECT_EQ(SizeOf(*c, a_->id()), n);
  auto verify = VerifyMirror(repo);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << Joined(verify->problems);
}

TEST_F(GitMirrorTest, ABranchHoldingAnotherLogIsLeftAlone) {
  AppendEntry(*a_, {{"text/plain", "shared"}}, "case-1");
  a_.reset();
  fs::copy(dir_ / "a", dir_ / "fork", fs::copy_options::recursive);
  a_ = std::move(Node::Open(dir_ / "a").value());
  auto fork = std::move(Node::Open(dir_ / "fork").value());
  AppendEntry(*a_, {{"text/plain", "honest"}}, "case-1");
  AppendEntry(*fork, {{"text/plain", "rewritten"}}, "case-1");
  fs::path repo = dir_ / "m.git";
  auto forked = Export(*fork, repo);
  ASSERT_TRUE(For(forked, a_->id())->status.ok());
  std::string tip = Tip(repo, LogsRef(*a_));
  std::string checkpoints = Tip(repo, CheckpointsRef(*a_));
  auto results = Export(*a_, repo);
  const MirrorLogExport* e = For(results, a_->id());
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->status.ok());
  EXPECT_NE(e->status.message().find("the mirror's branch logs/" + ToHex(a_->id()) +
                                     " holds a different log than this node (record 1 differs)"),
            std::string::npos)
      << e->status.ToString();
  EXPECT_FALSE(e->checkpoints_updated);
  EXPECT_EQ(Tip(repo, LogsRef(*a_)), tip);
  EXPECT_EQ(Tip(repo, CheckpointsRef(*a_)), checkpoints);
  // Still after the honest log grows past the fork.
  AppendEntry(*a_, {}, "case-2");
  results = Export(*a_, repo);
  EXPECT_FALSE(For(results, a_->id())->status.ok());
  EXPECT_EQ(Tip(repo, LogsRef(*a_)), tip);
}

TEST_F(GitMirrorTest, PushIsFastForwardOnlyAndFetchFillsACache) {
  AppendEntry(*a_, {{"text/plain", "one"}}, "case-1");
  a_.reset();
  fs::copy(dir_ / "a", dir_ / "fork", fs::copy_options::recursive);
  a_ = std::move(Node::Open(dir_ / "a").value());
  auto fork = std::move(Node::Open(dir_ / "fork").value());
  AppendEntry(*a_, {{"text/plain", "two"}}, "case-1");
  fs::path ra = dir_ / "a.git";
  Export(*a_, ra);
  fs::path relay = dir_ / "relay.git";
  ASSERT_EQ(Shell("git init -q --bare " + relay.string()).code, 0);
  std::string url = "file://" + relay.string();
  Status pushed = PushMirror(ra, url);
  ASSERT_TRUE(pushed.ok()) << pushed.ToString();
  EXPECT_EQ(Tip(relay, LogsRef(*a_)), Tip(ra, LogsRef(*a_)));
  EXPECT_EQ(Tip(relay, CheckpointsRef(*a_)), Tip(ra, CheckpointsRef(*a_)));
  EXPECT_TRUE(PushMirror(ra, relay.string()).ok());  // a plain path; nothing new

  // A cache that does not exist yet is created and filled; an empty remote is fine.
  fs::path cache = dir_ / "cache.git";
  Status fetched = FetchMirror(cache, url);
  ASSERT_TRUE(fetched.ok()) << fetched.ToString();
  EXPECT_EQ(Tip(cache, LogsRef(*a_)), Tip(ra, LogsRef(*a_)));
  EXPECT_EQ(Tip(cache, CheckpointsRef(*a_)), Tip(ra, CheckpointsRef(*a_)));
  ASSERT_EQ(Shell("git init -q --bare " + (dir_ / "empty.git").string()).code, 0);
  Status empty = FetchMirror(dir_ / "cache2.git", (dir_ / "empty.git").string());
  EXPECT_TRUE(empty.ok()) << empty.ToString();

  // A mirror of the forked log cannot overwrite the relay's branch.
  AppendEntry(*fork, {{"text/plain", "forked"}}, "case-1");
  fs::path rf = dir_ / "fork.git";
  Export(*fork, rf);
  std::string before = Tip(relay, LogsRef(*a_));
  Status refused = PushMirror(rf, url);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("refs/heads/logs/" + ToHex(a_->id())), std::string::npos)
      << refused.ToString();
  EXPECT_EQ(Tip(relay, LogsRef(*a_)), before);

  // The honest log grows: a fast-forward.
  AppendEntry(*a_, {}, "case-2");
  Export(*a_, ra);
  pushed = PushMirror(ra, relay.string());  // a plain path works as well
  EXPECT_TRUE(pushed.ok()) << pushed.ToString();
  EXPECT_EQ(ChainHex(relay, LogsRef(*a_)).size(), 3u);
  // And the fetched cache follows, replacing what it held.
  ASSERT_TRUE(FetchMirror(cache, url).ok());
  EXPECT_EQ(Tip(cache, LogsRef(*a_)), Tip(ra, LogsRef(*a_)));
}

unsigned ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// The mirror holds ciphertext only, yet stays its owner's (sizes and times are still the
// federation's business): only its owner may enter its directory, whatever the umask, and a
// directory that was open to others is closed before anything is written.
TEST_F(GitMirrorTest, TheMirrorDirectoryIsOnlyTheOwners) {
  AppendEntry(*a_, {{"text/plain", "a statement"}}, "case-1");
  mode_t umask_before = ::umask(0);  // libgit2 alone would make the directory 0777
  auto made = ExportMirror(a_->store(), dir_ / "new" / "a.git");
  auto fetched = FetchMirror(dir_ / "new" / "cache.git", (dir_ / "new" / "a.git").string());
  ::umask(umask_before);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ASSERT_TRUE(fetched.ok()) << fetched.ToString();
  EXPECT_EQ(ModeOf(dir_ / "new" / "a.git"), 0700u);
  EXPECT_FALSE(made->loosened_mode.has_value());
  EXPECT_EQ(ModeOf(dir_ / "new" / "cache.git"), 0700u);

  // An existing mirror opened to the group and others: closed again, and said so.
  fs::permissions(dir_ / "new" / "a.git", fs::perms(0755));
  auto again = ExportMirror(a_->store(), dir_ / "new" / "a.git");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ModeOf(dir_ / "new" / "a.git"), 0700u);
  ASSERT_TRUE(again->loosened_mode.has_value());
  EXPECT_EQ(*again->loosened_mode, 0755u);
  fs::permissions(dir_ / "new" / "cache.git", fs::perms(0750));
  ASSERT_TRUE(FetchMirror(dir_ / "new" / "cache.git", (dir_ / "new" / "a.git").string()).ok());
  EXPECT_EQ(ModeOf(dir_ / "new" / "cache.git"), 0700u);

  // An empty directory the operator made for it, group-readable.
  fs::create_directory(dir_ / "made-by-hand.git");
  fs::permissions(dir_ / "made-by-hand.git", fs::perms(0750));
  auto by_hand = ExportMirror(a_->store(), dir_ / "made-by-hand.git");
  ASSERT_TRUE(by_hand.ok()) << by_hand.status().ToString();
  EXPECT_EQ(ModeOf(dir_ / "made-by-hand.git"), 0700u);
  EXPECT_EQ(by_hand->loosened_mode.value_or(0), 0750u);
  EXPECT_EQ(by_hand->logs.size(), 1u);
}

TEST_F(GitMirrorTest, ExportRefusesAPathThatIsNotAMirror) {
  fs::create_directories(dir_ / "busy");
  std::ofstream(dir_ / "busy" / "file.txt") << "x";
  EXPECT_EQ(ExportMirror(a_->store(), dir_ / "busy").status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(ExportMirror(a_->store(), "").ok());
  EXPECT_EQ(VerifyMirror(dir_ / "missing.git").status().code(), Code::kNotFound);
  EXPECT_FALSE(OpenMirrorTransport(dir_ / "missing.git").ok());
}

}  // namespace
}  // namespace khronika
