#include "khronika/log/log.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <gtest/gtest.h>

#include "khronika/log/custody.h"
#include "khronika/log/node.h"
#include "khronika/log/purge.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/recovery_objects.h"

namespace khronika {
namespace {

class FixedClock : public Clock {
 public:
  int64_t NowMs() override { return now += 1000; }
  int64_t now = 1767225600000;  // 2026-01-01
};

// Every test runs on a node in clear and on an encrypted one (key file outside the node's
// directory), so the log behaves the same whichever the store is.
class LogTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "log-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    Reopen();
    ASSERT_TRUE(RegisterAuthor(node_->store(), author_.public_key(), "Alice").ok());
  }
  void TearDown() override {
    log_.reset();
    node_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Reopen(StoreOptions options = {}) {
    log_.reset();
    node_.reset();
    NodeInitOptions init;
    init.store = options;
    if (encrypted()) {
      if (!std::filesystem::exists(dir_ / "key")) {
        ASSERT_TRUE(CreateKeyFile(dir_ / "key").ok());
      }
      init.seal_with = Unlock{.passphrase = "", .key_file = dir_ / "key"};
    }
    auto node = std::filesystem::exists(Node::StorePath(dir_ / "node") / "data.mdb")
                    ? Node::Open(dir_ / "node", options)
                    : Node::Init(dir_ / "node", "test", std::move(init));
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    node_ = std::move(node).value();
    log_ = std::make_unique<Log>(node_->store(), node_->key(), node_->archive_key(), clock_);
  }

  // Stores `content` as plaintext upload chunks sent by `uploader` and returns their ids.
  std::vector<Hash> Upload(const std::string& content, const std::string& uploader = "") {
    std::vector<Hash> ids;
    Status st = node_->store().Update([&](WriteTxn& txn) -> Status {
      for (size_t off = 0; off < content.size(); off += kChunkSize) {
        auto piece = AsBytes(content).subspan(off, std::min(kChunkSize, content.size() - off));
        KH_ASSIGN_OR_RETURN(Hash id, PutUploadChunk(txn, uploader, piece));
        ids.push_back(id);
      }
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return ids;
  }

  static SubmittedFile FileOf(const std::string& name, const std::string& content,
                              std::vector<Hash> chunks) {
    SubmittedFile f;
    f.opening.descriptor = {name, GuessMediaType(name), content.size(), Sha256(content)};
    RandomBytes(f.opening.salt.data(), f.opening.salt.size());
    f.upload_chunks = std::move(chunks);
    return f;
  }

  // Signs `s.entry` with its files' commitments as they are now.
  void Sign(Submission& s, const SigningKey* signer = nullptr) {
    s.entry.files.clear();
    for (const SubmittedFile& f : s.files) {
      s.entry.files.push_back(FileCommitment(f.opening.salt, Encode(f.opening.descriptor)));
    }
    SignEntry(s.entry, signer ? *signer : author_);
  }

  // A signed submission of one file with `content`, its upload chunks already stored.
  Submission MakeSubmission(const std::string& case_id, const std::string& content,
                            const SigningKey* signer = nullptr, const std::string& name = "file.txt") {
    Submission s;
    s.entry.case_id = case_id;
    s.entry.kind = "evidence";
    s.entry.created_at_ms = 1767225600000;
    s.entry.metadata = {{"n", content.substr(0, 16)}};
    s.files = {FileOf(name, content, Upload(content))};
    Sign(s, signer);
    return s;
  }

  Result<OpenedEntry> Open(const Hash& entry_id, const EntryKey& key) {
    std::optional<OpenedEntry> out;
    Status st = node_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(OpenedEntry e, OpenEntry(txn, node_->id(), key, entry_id));
      out.emplace(std::move(e));
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return std::move(*out);
  }

  // The whole plaintext of file `i` of an opened entry, read in pieces of `piece` bytes.
  Result<std::string> ReadFile(const OpenedEntry& e, uint32_t i, size_t piece = 300000) {
    SymmetricKey file_key = DeriveFileKey(e.case_key, e.sealed.nonce, i);
    KH_ASSIGN_OR_RETURN(SealedFileReader reader,
                        SealedFileReader::Open(ChunksOf(node_->store()), e.sealed,
                                               e.files[i].descriptor, file_key, i));
    std::string out;
    while (out.size() < reader.size()) {
      KH_ASSIGN_OR_RETURN(Bytes b, reader.Read(out.size(), piece));
      if (b.empty()) return Status::Corruption("ended early");
      out.append(AsChars(b));
    }
    return out;
  }

  VerifyReport Verify(const SymmetricKey* archive_key) {
    auto report = VerifyStore(node_->store(), VerifyOptions{archive_key, node_->id()});
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : VerifyReport{};
  }
  void ExpectClean() {
    VerifyReport r = Verify(&node_->archive_key());
    EXPECT_TRUE(r.clean()) << r.problems.front();
    EXPECT_EQ(r.entries_opened, Size());
  }

  uint64_t Size() {
    auto s = log_->Size();
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : 0;
  }

  uint64_t Count(Table t) {
    uint64_t n = 0;
    EXPECT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(n, txn.Count(t));
      return Status::Ok();
    }).ok());
    return n;
  }

  Checkpoint CheckpointAt(uint64_t size) {
    std::string text;
    EXPECT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kCheckpoints, keys::Checkpoint(node_->id(), size)));
      if (!v) return Status::NotFound("no checkpoint");
      text.assign(AsChars(*v));
      return Status::Ok();
    }).ok()) << size;
    auto note = ParseSignedNote(text);
    EXPECT_TRUE(note.ok());
    auto verifier = ParseVerifierKey(node_->verifier_key());
    EXPECT_TRUE(NoteSignedBy(*note, *verifier));
    auto cp = ParseCheckpointBody(note->text);
    EXPECT_TRUE(cp.ok());
    return *cp;
  }

  bool encrypted() const { return GetParam(); }

  std::filesystem::path dir_;
  FixedClock clock_;
  SigningKey author_ = SigningKey::Generate();
  std::unique_ptr<Node> node_;
  std::unique_ptr<Log> log_;
};

TEST_P(LogTest, ReceiptsProveInclusionUnderTheSignedCheckpoint) {
  std::vector<Receipt> all;
  for (int i = 0; i < 20; ++i) {
    auto r = log_->Append({MakeSubmission("case-" + std::to_string(i % 3), "content " + std::to_string(i))});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), 1u);
    const Receipt& receipt = (*r)[0];
    EXPECT_EQ(receipt.index, static_cast<uint64_t>(i));
    EXPECT_EQ(receipt.tree_size, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(receipt.leaf_hash, LeafHash(receipt.record));
    auto note = ParseSignedNote(receipt.checkpoint);
    ASSERT_TRUE(note.ok());
    EXPECT_TRUE(NoteSignedBy(*note, *ParseVerifierKey(node_->verifier_key())));
    auto cp = ParseCheckpointBody(note->text);
    ASSERT_TRUE(cp.ok());
    EXPECT_EQ(cp->size, receipt.tree_size);
    EXPECT_EQ(cp->origin, node_->origin_name());
    EXPECT_TRUE(VerifyInclusion(receipt.leaf_hash, receipt.index, receipt.tree_size,
                                receipt.inclusion_proof, cp->root));
    all.push_back(receipt);
  }
  // Every earlier leaf is provable at every later size, and every pair of checkpoints is
  // consistent.
  for (uint64_t size = 1; size <= 20; ++size) {
    Checkpoint cp = CheckpointAt(size);
    for (uint64_t i = 0; i < size; ++i) {
      auto proof = log_->InclusionProof(i, size);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(VerifyInclusion(all[i].leaf_hash, i, size, *proof, cp.root)) << i << "/" << size;
    }
    for (uint64_t from = 1; from <= size; ++from) {
      auto proof = log_->ConsistencyProof(from, size);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(VerifyConsistency(from, size, CheckpointAt(from).root, cp.root, *proof));
    }
  }
  EXPECT_FALSE(log_->InclusionProof(3, 21).ok());
  EXPECT_FALSE(log_->ConsistencyProof(5, 4).ok());
}

TEST_P(LogTest, RecordsChainByLogAndByCaseInTheLinkBoxes) {
  std::vector<Receipt> receipts;
  for (const char* c : {"a", "b", "a", "a", "b"}) {
    auto r = log_->Append({MakeSubmission(c, std::string("x") + c + std::to_string(receipts.size()))});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    receipts.push_back((*r)[0]);
  }
  std::vector<Record> records;
  for (const Receipt& r : receipts) records.push_back(*DecodeRecord(r.record));
  EXPECT_TRUE(IsZero(records[0].prev_record));
  for (size_t i = 1; i < records.size(); ++i) {
    EXPECT_EQ(records[i].prev_record, RecordHash(receipts[i - 1].record));
    EXPECT_EQ(receipts[i].record.size(), kRecordBytes);
    EXPECT_EQ(records[i].object_id, receipts[i].entry_id);
  }
  EXPECT_EQ(records[0].received_at_ms, 1767225601000);
  EXPECT_EQ(records[0].origin, node_->id());
  // The case chain is in each sealed entry's link box, under the case's key.
  std::vector<Hash> links;
  for (const Receipt& r : receipts) {
    auto e = Open(r.entry_id, EntryKey::Archive(node_->archive_key()));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    auto link = OpenLinkBox(DeriveLinkKey(e->case_key, e->sealed.nonce), e->sealed);
    ASSERT_TRUE(link.ok()) << link.status().ToString();
    links.push_back(*link);
  }
  EXPECT_TRUE(IsZero(links[0]));
  EXPECT_TRUE(IsZero(links[1]));
  EXPECT_EQ(links[2], RecordHash(receipts[0].record));
  EXPECT_EQ(links[3], RecordHash(receipts[2].record));
  EXPECT_EQ(links[4], RecordHash(receipts[1].record));
  // One batch whose cases continue from earlier batches and from each other inside it: each
  // link names its case's record just before, written by this transaction or an earlier one.
  std::vector<Submission> batch;
  for (const char* c : {"b", "a", "c", "b", "c", "a"}) {
    batch.push_back(MakeSubmission(c, std::string("batch ") + c + std::to_string(batch.size())));
  }
  auto batched = log_->Append(batch);
  ASSERT_TRUE(batched.ok()) << batched.status().ToString();
  std::map<std::string, Hash> last = {{"a", RecordHash(receipts[3].record)},
                                      {"b", RecordHash(receipts[4].record)}};
  for (size_t i = 0; i < batch.size(); ++i) {
    const Receipt& r = (*batched)[i];
    auto e = Open(r.entry_id, EntryKey::Archive(node_->archive_key()));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    auto link = OpenLinkBox(DeriveLinkKey(e->case_key, e->sealed.nonce), e->sealed);
    ASSERT_TRUE(link.ok()) << link.status().ToString();
    const std::string& case_id = batch[i].entry.case_id;
    EXPECT_EQ(*link, last.count(case_id) ? last[case_id] : Hash{}) << "entry " << i;
    last[case_id] = RecordHash(r.record);
  }
  ExpectClean();
}

// A sealed entry carrying a statement is a third to a half of an LMDB page. Appended at the end
// of a page, LMDB would leave each page with one of them (keys::ObjectsEnd says why); the log's
// end mark after its objects keeps two to a page. Read with LMDB's own mdb_stat, the node
// closed. The mark holds nothing, and verify names it if it does.
TEST_P(LogTest, StatementsFillTheObjectPagesTwoToAPage) {
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<Submission> submissions;
    for (int i = 0; i < 100; ++i) {
      std::string text = "Statement " + std::to_string(batch * 100 + i) + ": ";
      text.resize(230, 'w');
      submissions.push_back(MakeSubmission("case-" + std::to_string(i % 3), text));
    }
    ASSERT_TRUE(log_->Append(submissions).ok());
  }
  ASSERT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto mark, txn.Get(Table::kObjects, keys::ObjectsEnd(node_->id())));
    EXPECT_TRUE(mark && mark->empty());
    KH_ASSIGN_OR_RETURN(auto first, txn.Get(Table::kObjects, keys::Object(node_->id(), 0)));
    EXPECT_TRUE(first && first->size() > 4096 / 3 && first->size() < 4096 / 2)
        << (first ? first->size() : 0) << " bytes: not the size this test is about";
    return Status::Ok();
  }).ok());
  ExpectClean();
  EXPECT_EQ(Verify(&node_->archive_key()).objects, 300u);  // the mark is not an object

  log_.reset();
  node_.reset();
  const std::string command =
      "mdb_stat -s objects '" + Node::StorePath(dir_ / "node").string() + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) out.append(buf, n);
  ASSERT_EQ(::pclose(pipe), 0) << out;
  auto field = [&](const std::string& name) -> uint64_t {
    size_t at = out.find(name + ": ");
    return at == std::string::npos ? 0 : std::strtoull(out.c_str() + at + name.size() + 2, nullptr, 10);
  };
  EXPECT_EQ(field("Entries"), 301u) << out;  // 300 objects and the mark
  EXPECT_LE(field("Leaf pages"), 152u) << out;
  EXPECT_GE(field("Leaf pages"), 150u) << out;

  Reopen();
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) {
    return txn.Put(Table::kObjects, keys::ObjectsEnd(node_->id()), AsBytes(std::string_view("x")));
  }).ok());
  VerifyReport damaged = Verify(&node_->archive_key());
  ASSERT_FALSE(damaged.clean());
  EXPECT_NE(damaged.problems.front().find("end mark"), std::string::npos) << damaged.problems.front();
}

uint64_t g_tree_node_reads = 0;

// A receipt's proof is made from the nodes the append itself knows (the frontier it started
// from and the nodes it completed), for every shape of old size and batch: none is read back.
TEST_P(LogTest, ReceiptsAreProvedWithoutReadingTheTreeBack) {
  g_tree_node_reads = 0;
  g_tree_node_read_for_test = [] { ++g_tree_node_reads; };
  uint64_t size = 0;
  for (size_t batch_size : {1, 1, 2, 3, 1, 5, 8, 13, 1, 2, 21, 7, 16, 4}) {
    std::vector<Submission> batch;
    for (size_t i = 0; i < batch_size; ++i) {
      batch.push_back(MakeSubmission(i % 2 ? "c1" : "c2", "entry " + std::to_string(size + i)));
    }
    auto r = log_->Append(batch);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    size += batch_size;
    Checkpoint cp = CheckpointAt(size);
    for (const Receipt& receipt : *r) {
      EXPECT_EQ(receipt.tree_size, size);
      EXPECT_TRUE(VerifyInclusion(receipt.leaf_hash, receipt.index, size, receipt.inclusion_proof,
                                  cp.root))
          << receipt.index << "/" << size;
    }
  }
  g_tree_node_read_for_test = nullptr;
  EXPECT_EQ(g_tree_node_reads, 0u);
  ExpectClean();
}

TEST_P(LogTest, BatchSharesOneTransactionAndOneCheckpoint) {
  std::vector<Submission> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(MakeSubmission("c", "batch " + std::to_string(i)));
  uint64_t checkpoints_before = Count(Table::kCheckpoints);
  auto r = log_->Append(batch);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 10u);
  EXPECT_EQ(Count(Table::kCheckpoints), checkpoints_before + 1);
  Checkpoint cp = CheckpointAt(10);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ((*r)[i].index, i);
    EXPECT_EQ((*r)[i].tree_size, 10u);
    EXPECT_TRUE(VerifyInclusion((*r)[i].leaf_hash, i, 10, (*r)[i].inclusion_proof, cp.root));
  }
  // One bad submission sinks the whole batch, and nothing of it is written: not the sealed
  // chunks of the good one, and its upload chunks stay for a retry.
  std::vector<Submission> bad = {MakeSubmission("c", "good one"), MakeSubmission("c", "bad one")};
  bad[1].entry.metadata["tampered"] = "yes";
  uint64_t chunks = Count(Table::kChunks), uploads = Count(Table::kUploadChunks);
  auto refused = log_->Append(bad);
  EXPECT_EQ(refused.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(Size(), 10u);
  EXPECT_EQ(Count(Table::kChunks), chunks);
  EXPECT_EQ(Count(Table::kUploadChunks), uploads);
  // A batch refused inside the transaction (an unregistered author) leaves nothing either.
  SigningKey stranger = SigningKey::Generate();
  auto in_txn = log_->Append({MakeSubmission("c", "good two"), MakeSubmission("c", "x", &stranger)});
  EXPECT_EQ(in_txn.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(Count(Table::kChunks), chunks);
  EXPECT_EQ(Size(), 10u);
  ExpectClean();
}

TEST_P(LogTest, RefusesBadSubmissionsWithoutWriting) {
  ASSERT_TRUE(log_->Append({MakeSubmission("c", "first")}).ok());
  uint64_t objects = Count(Table::kObjects), checkpoints = Count(Table::kCheckpoints);
  uint64_t chunks = Count(Table::kChunks);

  Submission forged = MakeSubmission("c", "forged");
  forged.entry.case_id = "other-case";  // signature no longer covers the fields
  EXPECT_EQ(log_->Append({forged}).status().code(), Code::kPermissionDenied);

  SigningKey stranger = SigningKey::Generate();
  auto unknown = log_->Append({MakeSubmission("c", "by a stranger", &stranger)});
  EXPECT_EQ(unknown.status().code(), Code::kPermissionDenied);
  EXPECT_NE(unknown.status().message().find("not registered"), std::string::npos);

  // Signed, committed, but the content is not what the descriptor says.
  Submission wrong_content = MakeSubmission("c", "declared");
  wrong_content.files[0].opening.descriptor.content_sha256 = Sha256(std::string("declarex"));
  Sign(wrong_content);
  auto wc = log_->Append({wrong_content});
  EXPECT_EQ(wc.status().code(), Code::kInvalidArgument);
  EXPECT_NE(wc.status().message().find("does not match the SHA-256"), std::string::npos);

  Submission wrong_size = MakeSubmission("c", "sized");
  wrong_size.files[0].opening.descriptor.size = 4;
  Sign(wrong_size);
  EXPECT_EQ(log_->Append({wrong_size}).status().code(), Code::kInvalidArgument);

  Submission missing_chunk = MakeSubmission("c", "present");
  missing_chunk.files[0].upload_chunks[0] = Sha256(std::string("never uploaded"));
  Sign(missing_chunk);
  EXPECT_EQ(log_->Append({missing_chunk}).status().code(), Code::kNotFound);

  Submission swapped = MakeSubmission("c", "swapped");
  swapped.files[0].opening.descriptor.name = "other.txt";  // no longer what the entry commits to
  auto sw = log_->Append({swapped});
  EXPECT_EQ(sw.status().code(), Code::kInvalidArgument);
  EXPECT_NE(sw.status().message().find("commitment"), std::string::npos);

  Submission other_salt = MakeSubmission("c", "salted");
  other_salt.files[0].opening.salt[0] ^= 1;
  EXPECT_EQ(log_->Append({other_salt}).status().code(), Code::kInvalidArgument);

  Submission too_few = MakeSubmission("c", "files");
  too_few.files.clear();
  EXPECT_EQ(log_->Append({too_few}).status().code(), Code::kInvalidArgument);

  Submission corrects_unknown = MakeSubmission("c", "correction");
  corrects_unknown.entry.kind = "correction";
  corrects_unknown.entry.corrects = Sha256(std::string("no such entry"));
  Sign(corrects_unknown);
  EXPECT_EQ(log_->Append({corrects_unknown}).status().code(), Code::kNotFound);

  EXPECT_EQ(Count(Table::kChunks), chunks);  // no sealed chunk of a refused submission stays

  Submission again = MakeSubmission("c", "twice");
  auto first = log_->Append({again});
  ASSERT_TRUE(first.ok());
  objects = Count(Table::kObjects);
  checkpoints = Count(Table::kCheckpoints);
  chunks = Count(Table::kChunks);
  EXPECT_EQ(log_->Append({again}).status().code(), Code::kAlreadyExists);
  auto logged_as = log_->LoggedAs(again.entry);
  ASSERT_TRUE(logged_as.ok());
  EXPECT_EQ(*logged_as, std::optional<Hash>((*first)[0].entry_id));
  EXPECT_EQ(log_->LoggedAs(forged.entry).value(), std::nullopt);

  EXPECT_EQ(Size(), 2u);
  EXPECT_EQ(Count(Table::kObjects), objects);
  EXPECT_EQ(Count(Table::kCheckpoints), checkpoints);
  EXPECT_EQ(Count(Table::kChunks), chunks);
  ExpectClean();
}

// An uploader names only its own upload chunks; once sealed and appended they are gone.
TEST_P(LogTest, UploadChunksBelongToTheirUploaderAndGoWhenSealed) {
  const std::string content(kChunkSize + 10, 'u');
  std::vector<Hash> chunks = Upload(content, "token-a");
  (void)Upload(content, "token-b");  // the same content from someone else, pending
  Submission s;
  s.entry.case_id = "c";
  s.entry.kind = "evidence";
  s.files = {FileOf("u.bin", content, chunks)};
  Sign(s);
  s.uploader = "token-c";
  auto not_yours = log_->Append({s});
  EXPECT_EQ(not_yours.status().code(), Code::kNotFound);
  EXPECT_NE(not_yours.status().message().find("has not been uploaded"), std::string::npos);
  s.uploader = std::nullopt;  // nor are they the operator's
  EXPECT_EQ(log_->Append({s}).status().code(), Code::kNotFound);
  EXPECT_EQ(Count(Table::kUploadChunks), 4u);
  s.uploader = "token-a";
  ASSERT_TRUE(log_->Append({s}).ok());
  // token-a's plaintext is gone; token-b's pending copy is untouched.
  EXPECT_EQ(Count(Table::kUploadChunks), 2u);
  ASSERT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
    EXPECT_FALSE(HasUploadChunk(txn, "token-a", chunks[0]).value());
    EXPECT_TRUE(HasUploadChunk(txn, "token-b", chunks[0]).value());
    return Status::Ok();
  }).ok());
  ExpectClean();
}

// A file may repeat a 1 MiB chunk (a disk image of zeros): the one upload chunk is read at every
// place and the file is sealed whole.
TEST_P(LogTest, AFileRepeatingOneChunkIsSealedWhole) {
  const std::string content(3 * kChunkSize + 5, '\0');
  Submission s;
  s.entry.case_id = "c";
  s.entry.kind = "evidence";
  s.files = {FileOf("disk.img", content, Upload(content))};
  Sign(s);
  ASSERT_EQ(s.files[0].upload_chunks.size(), 4u);
  EXPECT_EQ(s.files[0].upload_chunks[0], s.files[0].upload_chunks[2]);
  auto r = log_->Append({s});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto opened = Open((*r)[0].entry_id, EntryKey::Archive(node_->archive_key()));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto reader = SealedFileReader::Open(ChunksOf(node_->store()), opened->sealed,
                                       opened->files[0].descriptor,
                                       DeriveFileKey(opened->case_key, opened->sealed.nonce, 0), 0);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto back = reader->Read(0, content.size() + 1);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(std::string(AsChars(*back)) == content);
  EXPECT_EQ(Count(Table::kUploadChunks), 0u);
  ExpectClean();
}

// The append's transaction records which upload chunks its entries sealed and they are deleted
// after the commit, a few per transaction. A process that dies between the two leaves the
// entry logged and the record of what is left; the next open of the node deletes them.
TEST_P(LogTest, UploadChunksLeftByACrashAfterTheCommitGoAtTheNextOpen) {
  std::string content;  // 17 distinct chunks: more than an append deletes in its transaction
  for (char c = 'a'; c < 'a' + 17; ++c) content += std::string(kChunkSize - 1, c) + "\n";
  Submission s = MakeSubmission("c", content);
  const std::vector<Hash> chunks = s.files[0].upload_chunks;
  ASSERT_EQ(chunks.size(), 17u);
  // LMDB environments are not to be used across fork(): the child opens the node itself.
  log_.reset();
  node_.reset();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Reopen();
    g_after_append_commit_for_test = [] { ::_exit(42); };
    auto r = log_ ? log_->Append({s}) : Result<std::vector<Receipt>>(Status::IOError("no log"));
    ::_exit(r.ok() ? 1 : 2);  // the seam ends the process first
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 42) << "child status " << status;

  auto marked = [](Store& store) {
    size_t n = 0;
    const ByteView prefix = AsBytes(keys::kMetaPurgePrefix);
    EXPECT_TRUE(store.View([&](ReadTxn& txn) {
      return txn.ScanKeys(Table::kMeta, prefix, [&](ByteView) -> Result<bool> {
        ++n;
        return true;
      });
    }).ok());
    return n;
  };
  auto held = [&](Store& store) {
    size_t n = 0;
    EXPECT_TRUE(store.View([&](ReadTxn& txn) -> Status {
      for (const Hash& id : chunks) n += HasUploadChunk(txn, "", id).value() ? 1 : 0;
      return Status::Ok();
    }).ok());
    return n;
  };
  {  // what the crash left, seen without writing
    auto look = Node::Open(dir_ / "node", StoreOptions{.read_only = true});
    ASSERT_TRUE(look.ok()) << look.status().ToString();
    EXPECT_EQ(marked((*look)->store()), 1u);
    EXPECT_EQ(held((*look)->store()), chunks.size());
    Log log((*look)->store(), (*look)->key(), (*look)->archive_key(), clock_);
    EXPECT_EQ(log.Size().value(), 1u);
  }
  Reopen();  // read-write: finishes the purge
  ASSERT_TRUE(node_);
  EXPECT_EQ(marked(node_->store()), 0u);
  EXPECT_EQ(held(node_->store()), 0u);
  EXPECT_EQ(Count(Table::kUploadChunks), 0u);
  EXPECT_EQ(log_->Size().value(), 1u);
  // The same submission again: logged already, not a second time.
  EXPECT_EQ(log_->Append({s}).status().code(), Code::kAlreadyExists);
  ExpectClean();
}

// The group committer's path: Check on a worker, then AppendChecked; a checked submission
// that is dropped instead is Discarded, and nothing of it stays.
TEST_P(LogTest, CheckedSubmissionsAreAppendedOrDiscarded) {
  const uint64_t chunks = Count(Table::kChunks);
  auto kept = log_->Check(MakeSubmission("c", std::string(kChunkSize + 5, 'k')));
  auto dropped = log_->Check(MakeSubmission("c", "dropped"));
  ASSERT_TRUE(kept.ok() && dropped.ok());
  EXPECT_EQ(kept->sealed_files().size(), 1u);
  EXPECT_EQ(kept->sealed_files()[0].chunks.size(), 2u);
  // Small submissions: their sealed chunks wait for the append's transaction.
  EXPECT_EQ(Count(Table::kChunks), chunks);
  EXPECT_EQ(Size(), 0u);
  ASSERT_TRUE(log_->Discard(*dropped).ok());
  // A large one (9 sealed chunks) writes them as it seals; discarded, they go again.
  std::string varied(8 * kChunkSize + 1, 'L');
  for (size_t i = kChunkSize; i < varied.size(); i += kChunkSize) varied[i] = static_cast<char>(i >> 20);
  auto large = log_->Check(MakeSubmission("c", varied));
  ASSERT_TRUE(large.ok()) << large.status().ToString();
  EXPECT_EQ(Count(Table::kChunks), chunks + 9);
  ASSERT_TRUE(log_->Discard(*large).ok());
  EXPECT_EQ(Count(Table::kChunks), chunks);
  std::vector<CheckedSubmission> batch;
  batch.push_back(std::move(*kept));
  auto appended = log_->AppendChecked(batch);
  ASSERT_EQ(appended.size(), 1u);
  ASSERT_TRUE(appended[0].ok()) << appended[0].status().ToString();
  EXPECT_EQ(Count(Table::kChunks), chunks + 2);
  // "dropped"'s and the large one's plaintext wait for a retry.
  EXPECT_EQ(Count(Table::kUploadChunks), 1u + 9u);
  ExpectClean();
}

// A removed author's logged entries stay valid; its new ones are refused; its name stays on
// record. A value written before authors kept their key (the name alone) still reads.
TEST_P(LogTest, RemovedAuthorIsRefusedButItsEntriesStay) {
  ASSERT_TRUE(log_->Append({MakeSubmission("c", "before removal")}).ok());
  ASSERT_TRUE(RemoveAuthor(node_->store(), author_.public_key()).ok());
  auto refused = log_->Append({MakeSubmission("c", "after removal")});
  EXPECT_EQ(refused.status().code(), Code::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("was removed"), std::string::npos);
  EXPECT_EQ(Size(), 1u);
  auto authors = ListAuthors(node_->store());
  ASSERT_TRUE(authors.ok());
  ASSERT_EQ(authors->size(), 1u);
  EXPECT_EQ((*authors)[0].name, "Alice");
  EXPECT_EQ((*authors)[0].key, author_.public_key());
  EXPECT_TRUE((*authors)[0].removed);
  ExpectClean();
  EXPECT_EQ(RemoveAuthor(node_->store(), SigningKey::Generate().public_key()).code(), Code::kNotFound);
  // Registered again, it may sign again.
  ASSERT_TRUE(RegisterAuthor(node_->store(), author_.public_key(), "Alice").ok());
  EXPECT_TRUE(log_->Append({MakeSubmission("c", "after return")}).ok());

  // An older khronika's value: the name alone. Found by key, listed without one.
  SigningKey old = SigningKey::Generate();
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) {
    return txn.Put(Table::kAuthors, keys::Author(txn, old.public_key()), AsBytes("Old Bob"));
  }).ok());
  EXPECT_TRUE(log_->Append({MakeSubmission("c", "by old bob", &old)}).ok());
  authors = ListAuthors(node_->store());
  ASSERT_TRUE(authors.ok());
  ASSERT_EQ(authors->size(), 2u);
  int unknown = 0;
  for (const RegisteredAuthor& a : *authors) unknown += a.key_known ? 0 : 1;
  EXPECT_EQ(unknown, 1);
  auto decoded = DecodeAuthorValue(EncodeAuthorValue({old.public_key(), "x", true, true}), std::nullopt);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->removed);
  EXPECT_EQ(decoded->name, "x");
}

TEST_P(LogTest, AppendEachJudgesEverySubmissionOnItsOwn) {
  SigningKey stranger = SigningKey::Generate();
  Submission good1 = MakeSubmission("c", "good one");
  Submission forged = MakeSubmission("c", "forged");
  forged.entry.kind = "note";  // no longer what was signed
  Submission unknown_author = MakeSubmission("c", "stranger's", &stranger);
  Submission good2 = MakeSubmission("d", "good two");
  uint64_t checkpoints_before = Count(Table::kCheckpoints);
  std::vector<Result<Receipt>> results =
      log_->AppendEach({good1, forged, unknown_author, good2, good1});
  ASSERT_EQ(results.size(), 5u);
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  EXPECT_EQ(results[1].status().code(), Code::kPermissionDenied);
  EXPECT_EQ(results[2].status().code(), Code::kPermissionDenied);
  ASSERT_TRUE(results[3].ok());
  EXPECT_EQ(results[4].status().code(), Code::kAlreadyExists);  // same entry twice in one batch
  EXPECT_EQ(results[0]->index, 0u);
  EXPECT_EQ(results[3]->index, 1u);
  EXPECT_EQ(results[3]->tree_size, 2u);
  EXPECT_EQ(Count(Table::kCheckpoints), checkpoints_before + 1);
  Checkpoint cp = CheckpointAt(2);
  EXPECT_TRUE(VerifyInclusion(results[0]->leaf_hash, 0, 2, results[0]->inclusion_proof, cp.root));
  // A batch in which nothing survives writes nothing, not even a checkpoint.
  std::vector<Result<Receipt>> none = log_->AppendEach({forged});
  EXPECT_FALSE(none[0].ok());
  EXPECT_EQ(Count(Table::kCheckpoints), checkpoints_before + 1);
  // Small files travel in their sealed entries: no sealed chunk is held apart, of the appended
  // entries or of the refused ones.
  EXPECT_EQ(Count(Table::kChunks), 0u);
  ExpectClean();
}

TEST_P(LogTest, EmptyLogHasASignedCheckpoint) {
  Checkpoint cp = CheckpointAt(0);
  EXPECT_EQ(cp.size, 0u);
  EXPECT_EQ(cp.root, MerkleEmptyRoot());
  EXPECT_TRUE(log_->LatestCheckpoint().ok());
}

TEST_P(LogTest, FileNamesAreUniqueWithinAnEntry) {
  Submission s = MakeSubmission("c", "one");
  s.files.push_back(FileOf("file.txt", "two", Upload("two")));
  Sign(s);
  auto r = log_->Append({s});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("both named"), std::string::npos);
  s.files[1] = FileOf("file2.txt", "two", Upload("two"));
  Sign(s);
  EXPECT_TRUE(log_->Append({s}).ok());
}

TEST_P(LogTest, CorrectionOfARecordedEntry) {
  auto first = log_->Append({MakeSubmission("c", "original statement")});
  ASSERT_TRUE(first.ok());
  Submission fix = MakeSubmission("c", "corrected statement");
  fix.entry.kind = "correction";
  fix.entry.corrects = (*first)[0].entry_id;  // the sealed entry's id: the public handle
  Sign(fix);
  auto fixed = log_->Append({fix});
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  auto e = Open((*fixed)[0].entry_id, EntryKey::Archive(node_->archive_key()));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->entry.corrects, std::optional<Hash>((*first)[0].entry_id));
}

TEST_P(LogTest, FullMapRefusesAppendThenResumesAfterGrowing) {
  ASSERT_TRUE(log_->Append({MakeSubmission("c", "small")}).ok());
  Reopen(StoreOptions{.map_size = 2 << 20});  // the store already uses most of this
  std::string big(900 * 1024, 'z');
  Status full = Status::Ok();
  for (int i = 0; i < 8 && full.ok(); ++i) {
    big[0] = static_cast<char>('a' + i);
    full = node_->store().Update([&](WriteTxn& txn) -> Status {
      return PutUploadChunk(txn, "", AsBytes(big)).status();
    });
  }
  EXPECT_EQ(full.code(), Code::kStoreFull) << full.ToString();
  EXPECT_EQ(Size(), 1u);
  ExpectClean();
  Reopen(StoreOptions{.map_size = 64 << 20});
  EXPECT_TRUE(log_->Append({MakeSubmission("c", "after growing")}).ok());
  EXPECT_EQ(Size(), 2u);
}

TEST_P(LogTest, NodeKeyMustMatchStore) {
  if (encrypted()) GTEST_SKIP() << "EncryptedNodeTest.KeyringOfAnotherNodeIsRefused";
  std::filesystem::path other = dir_ / "other";
  ASSERT_TRUE(Node::Init(other, "other").ok());
  log_.reset();
  node_.reset();
  std::filesystem::remove(Node::KeyPath(dir_ / "node"));
  std::filesystem::copy_file(Node::KeyPath(other), Node::KeyPath(dir_ / "node"));
  auto mixed = Node::Open(dir_ / "node");
  EXPECT_EQ(mixed.status().code(), Code::kCorruption);
  EXPECT_EQ(Node::Init(other, "again").status().code(), Code::kAlreadyExists);
  EXPECT_EQ(Node::Open(dir_ / "absent").status().code(), Code::kNotFound);
}

TEST_P(LogTest, TheArchiveKeyIsKeptWithTheNodeKeysAndSurvivesReopening) {
  const SymmetricKey before = node_->archive_key();
  EXPECT_FALSE(IsZero(Hash(before)));
  auto r = log_->Append({MakeSubmission("c", "kept")});
  ASSERT_TRUE(r.ok());
  Reopen();
  EXPECT_EQ(node_->archive_key(), before);
  auto e = Open((*r)[0].entry_id, EntryKey::Archive(node_->archive_key()));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(ReadFile(*e, 0).value(), "kept");
  if (!encrypted()) {
    struct stat st;
    ASSERT_EQ(::stat(Node::ArchiveKeyPath(dir_ / "node").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // Without it a node in clear does not open, and says why.
    log_.reset();
    node_.reset();
    std::filesystem::rename(Node::ArchiveKeyPath(dir_ / "node"), dir_ / "moved");
    auto without = Node::Open(dir_ / "node");
    EXPECT_EQ(without.status().code(), Code::kNotFound);
    EXPECT_NE(without.status().message().find("archive key"), std::string::npos);
    std::filesystem::rename(dir_ / "moved", Node::ArchiveKeyPath(dir_ / "node"));
    Reopen();
    EXPECT_EQ(node_->archive_key(), before);
  } else {
    EXPECT_FALSE(std::filesystem::exists(Node::ArchiveKeyPath(dir_ / "node")));
  }
}

// What an admin (archive key) and a case-scoped reader (case key) can open, and what not.
TEST_P(LogTest, ACaseKeyOpensItsOwnCaseAndNothingElse) {
  auto a = log_->Append({MakeSubmission("case-A", "about A")});
  auto b = log_->Append({MakeSubmission("case-B", "about B")});
  ASSERT_TRUE(a.ok() && b.ok());
  const Hash a_id = (*a)[0].entry_id, b_id = (*b)[0].entry_id;
  const SymmetricKey key_a = DeriveCaseKey(node_->archive_key(), "case-A");

  auto own = Open(a_id, EntryKey::Case("case-A", key_a));
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(own->case_id, "case-A");
  EXPECT_EQ(own->entry.author, author_.public_key());
  EXPECT_EQ(own->files[0].descriptor.name, "file.txt");
  EXPECT_EQ(ReadFile(*own, 0).value(), "about A");

  // Case B's entry with case A's key, or with A's key claiming to be B's: the same answer as an
  // entry that does not exist at all.
  auto other = Open(b_id, EntryKey::Case("case-A", key_a));
  auto claimed = Open(b_id, EntryKey::Case("case-B", key_a));
  auto absent = Open(Sha256(std::string("no such entry")), EntryKey::Case("case-A", key_a));
  for (const auto* r : {&other, &claimed, &absent}) {
    EXPECT_EQ(r->status().code(), Code::kNotFound);
  }
  EXPECT_EQ(other.status().message(), "entry " + ToHex(b_id) + " not found");
  EXPECT_EQ(claimed.status().message(), other.status().message());
  // The right key under another case's name is no better.
  EXPECT_EQ(Open(a_id, EntryKey::Case("case-B", key_a)).status().message(),
            "entry " + ToHex(a_id) + " not found");
  // A random key opens nothing either.
  const SymmetricKey random_key = RandomSymmetricKey();
  EXPECT_EQ(Open(a_id, EntryKey::Case("case-A", random_key)).status().code(), Code::kNotFound);
  EXPECT_EQ(Open(a_id, EntryKey::Archive(random_key)).status().code(), Code::kCorruption);
  // The archive key opens both.
  auto admin_b = Open(b_id, EntryKey::Archive(node_->archive_key()));
  ASSERT_TRUE(admin_b.ok());
  EXPECT_EQ(admin_b->case_id, "case-B");
  EXPECT_EQ(ReadFile(*admin_b, 0).value(), "about B");
}

TEST_P(LogTest, SealedFilesReadFromAnyOffset) {
  std::string content(2 * kChunkSize + 40000 + 7, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 131 + (i >> 14));
  Submission s = MakeSubmission("c", "small");
  s.files.push_back(FileOf("video.mp4", content, Upload(content)));
  s.files.push_back(FileOf("empty.txt", "", {}));
  Sign(s);
  auto r = log_->Append({s});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto e = Open((*r)[0].entry_id, EntryKey::Archive(node_->archive_key()));
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->files.size(), 3u);
  EXPECT_EQ(e->sealed.files[1].chunks.size(), 3u);
  EXPECT_EQ(ReadFile(*e, 1).value(), content);
  EXPECT_EQ(ReadFile(*e, 1, 16384).value(), content);
  EXPECT_EQ(ReadFile(*e, 2).value(), "");
  SymmetricKey file_key = DeriveFileKey(e->case_key, e->sealed.nonce, 1);
  auto reader = SealedFileReader::Open(ChunksOf(node_->store()), e->sealed, e->files[1].descriptor,
                                       file_key, 1);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->size(), content.size());
  // Across 16 KiB chunk and 1 MiB sealed chunk boundaries, backwards too.
  for (uint64_t off : {uint64_t{0}, uint64_t{16383}, uint64_t{16384}, uint64_t{kChunkSize - 5},
                       uint64_t{2 * kChunkSize - 100}, uint64_t{content.size() - 3}, uint64_t{7}}) {
    auto piece = reader->Read(off, 50000);
    ASSERT_TRUE(piece.ok()) << off << ": " << piece.status().ToString();
    size_t n = std::min<size_t>(50000, content.size() - off);
    EXPECT_EQ(std::string(AsChars(*piece)), content.substr(off, n)) << off;
  }
  EXPECT_TRUE(reader->Read(content.size(), 10).value().empty());
  EXPECT_TRUE(reader->Read(content.size() + 100, 10).value().empty());
  // Another file's key does not open it.
  SymmetricKey wrong = DeriveFileKey(e->case_key, e->sealed.nonce, 0);
  EXPECT_EQ(SealedFileReader::Open(ChunksOf(node_->store()), e->sealed, e->files[1].descriptor,
                                   wrong, 1)
                .status()
                .code(),
            Code::kPermissionDenied);
  // An altered sealed chunk is refused, and named by verify.
  const Hash victim = e->sealed.files[1].chunks[1];
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto bytes, txn.Get(Table::kChunks, victim));
    (*bytes)[1000] ^= 1;
    return txn.Put(Table::kChunks, victim, *bytes);
  }).ok());
  auto fresh = SealedFileReader::Open(ChunksOf(node_->store()), e->sealed, e->files[1].descriptor,
                                      file_key, 1);
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(fresh->Read(0, 1000).ok());  // chunk 0 is intact
  // Byte 1000 of sealed chunk 1 is in the 16 KiB C2SP chunk 63 (sealed bytes 1,033,256 to
  // 1,049,672, across the boundary): a read that needs it is refused, with no byte of it; the
  // next C2SP chunk still authenticates, and only authenticated bytes are ever returned.
  auto damaged = fresh->Read(kChunkSize - 100, 10);
  EXPECT_EQ(damaged.status().code(), Code::kCorruption);
  EXPECT_NE(damaged.status().message().find("chunk 63 does not authenticate"), std::string::npos)
      << damaged.status().ToString();
  EXPECT_EQ(fresh->Read(kChunkSize - 30000, 100000).status().code(), Code::kCorruption);
  auto after = fresh->Read(kChunkSize + 1100, 10);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(std::string(AsChars(*after)), content.substr(kChunkSize + 1100, 10));
  VerifyReport report = Verify(&node_->archive_key());
  ASSERT_FALSE(report.clean());
  EXPECT_NE(report.problems[0].find(ToHex(victim)), std::string::npos) << report.problems[0];
  EXPECT_NE(report.problems[0].find("does not match its id"), std::string::npos);
}

// With the archive key, an own entry's sealed chunks are authenticated by opening them rather
// than hashed (docs/format.md section 15); every kind of damage is still named by its chunk,
// once, and nothing else is reported of it.
TEST_P(LogTest, VerifyWithTheKeyNamesSwappedForeignTruncatedAndFlippedChunks) {
  auto append_video = [&](char seed) {
    std::string content(2 * kChunkSize + 40000, '\0');
    for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 131 + seed);
    Submission s = MakeSubmission("c", std::string("video ") + seed);
    s.files.push_back(FileOf("video.mp4", content, Upload(content)));
    Sign(s);
    auto r = log_->Append({s});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    auto opened = Open((*r)[0].entry_id, EntryKey::Archive(node_->archive_key()));
    return opened.value().sealed.files[1].chunks;
  };
  const std::vector<Hash> a = append_video('a'), b = append_video('b'), c = append_video('c');
  ExpectClean();
  auto get = [&](const Hash& id) {
    Bytes out;
    EXPECT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kChunks, id));
      out = *v;
      return Status::Ok();
    }).ok());
    return out;
  };
  auto put = [&](const Hash& id, const Bytes& bytes) {
    ASSERT_TRUE(node_->store()
                    .Update([&](WriteTxn& txn) { return txn.Put(Table::kChunks, id, bytes); })
                    .ok());
  };
  const Bytes a0 = get(a[0]), a1 = get(a[1]), b0 = get(b[0]), c2 = get(c[2]);
  put(a[0], a1);  // swapped within the file
  put(a[1], a0);
  put(b[0], get(c[0]));  // another entry's chunk, of the same length
  Bytes flipped = c2;
  flipped[flipped.size() - 1] ^= 0x80;  // the last byte of the final tag
  put(c[2], flipped);
  VerifyReport report = Verify(&node_->archive_key());
  std::vector<std::string> named;
  for (const std::string& p : report.problems) {
    EXPECT_NE(p.find("does not match its id"), std::string::npos) << p;
    named.push_back(p.substr(p.find('(') + 1, 64));
  }
  std::sort(named.begin(), named.end());
  std::vector<std::string> expected = {ToHex(a[0]), ToHex(a[1]), ToHex(b[0]), ToHex(c[2])};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(named, expected);
  // The same names without the key, where each chunk is hashed.
  VerifyReport keyless = Verify(nullptr);
  EXPECT_EQ(keyless.problems.size(), 4u) << ::testing::PrintToString(keyless.problems);
  // Cut short: the length names it, with or without the key.
  put(a[0], a0);
  put(a[1], a1);
  put(b[0], b0);
  put(c[2], Bytes(c2.begin(), c2.end() - 16));
  report = Verify(&node_->archive_key());
  ASSERT_EQ(report.problems.size(), 1u) << ::testing::PrintToString(report.problems);
  EXPECT_NE(report.problems[0].find(ToHex(c[2]) + "): "), std::string::npos)
      << report.problems[0];
  put(c[2], c2);
  ExpectClean();
}

// A source of `content` handed out in pieces of at most `piece` bytes, as a file's reads are.
ContentSource SourceOf(const std::string& content, size_t piece = 70000) {
  auto at = std::make_shared<size_t>(0);
  return [&content, at, piece](uint8_t* buf, size_t max) -> Result<size_t> {
    size_t n = std::min({max, piece, content.size() - *at});
    std::memcpy(buf, content.data() + *at, n);
    *at += n;
    return n;
  };
}

// The files of one entry sealed straight from their source (`add`, `import`): what comes back
// out is what went in, checked against the author's signature, and verify is clean; small and
// large entries alike, a large one's sealed chunks streamed through the writer thread.
TEST_P(LogTest, FilesSealedFromTheirSourceOpenAndVerify) {
  std::string big(9 * kChunkSize + 12345, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 14));
  const std::string small = "a statement";
  for (bool with_big : {false, true}) {
    LocalSealing sealing = log_->BeginLocal("case-local");
    ASSERT_TRUE(log_->SealLocalFile(sealing, small.size(), SourceOf(small)).ok());
    if (with_big) {
      ASSERT_TRUE(log_->SealLocalFile(sealing, big.size(), SourceOf(big)).ok());
    }
    // A large file streams through the writer; a small one travels in its sealed entry.
    EXPECT_EQ(sealing.held_bytes(), 0u);
    Submission s;
    s.entry.case_id = "case-local";
    s.entry.kind = "evidence";
    s.entry.created_at_ms = 1767225600000 + with_big;
    s.files = {FileOf("note.txt", small, {})};
    if (with_big) s.files.push_back(FileOf("video.mp4", big, {}));
    Sign(s);
    const uint64_t chunks_before = Count(Table::kChunks);
    auto checked = log_->CheckLocal(s, std::move(sealing));
    ASSERT_TRUE(checked.ok()) << checked.status().ToString();
    std::vector<CheckedSubmission> batch;
    batch.push_back(std::move(*checked));
    auto receipts = log_->AppendChecked(batch);
    ASSERT_TRUE(receipts[0].ok()) << receipts[0].status().ToString();
    auto e = Open(receipts[0]->entry_id, EntryKey::Archive(node_->archive_key()));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(ReadFile(*e, 0).value(), small);
    if (with_big) {
      EXPECT_EQ(e->sealed.files[1].chunks.size(), 10u);
      EXPECT_EQ(ReadFile(*e, 1).value(), big);
    }
    EXPECT_FALSE(e->sealed.files[0].inline_chunk.empty());
    EXPECT_EQ(Count(Table::kChunks), chunks_before);  // the small file is in its sealed entry
  }
  EXPECT_EQ(Count(Table::kUploadChunks), 0u);  // no plaintext went through the store
  ExpectClean();
}

// A source that is not what it was announced to be, or an entry signed over other content or
// another case, is refused, and nothing it sealed stays in the store.
TEST_P(LogTest, FilesSealedFromTheirSourceAreRefusedWithoutATrace) {
  std::string big(3 * kChunkSize + 5, 'x');
  const uint64_t chunks_before = Count(Table::kChunks);
  {  // shrank while read (the writer had streamed chunks already)
    LocalSealing sealing = log_->BeginLocal("c");
    Status st = log_->SealLocalFile(sealing, big.size() + kChunkSize * 8, SourceOf(big));
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_NE(st.message().find("shrank"), std::string::npos) << st.ToString();
  }
  {  // grew while read
    LocalSealing sealing = log_->BeginLocal("c");
    Status st = log_->SealLocalFile(sealing, big.size() - 1, SourceOf(big));
    EXPECT_NE(st.message().find("grew"), std::string::npos) << st.ToString();
  }
  {  // a read error
    const std::string large(9 * kChunkSize, 'z');  // streamed: its chunks are in the store
    LocalSealing sealing = log_->BeginLocal("c");
    ASSERT_TRUE(log_->SealLocalFile(sealing, large.size(), SourceOf(large)).ok());
    EXPECT_GT(Count(Table::kChunks), chunks_before);
    Status st = log_->SealLocalFile(sealing, big.size(), [&](uint8_t*, size_t) -> Result<size_t> {
      return Status::IOError("disk gone");
    });
    EXPECT_EQ(st.code(), Code::kIOError);
    EXPECT_TRUE(log_->Discard(sealing).ok());
  }
  EXPECT_EQ(Count(Table::kChunks), chunks_before);
  auto sealed_and_signed = [&](const std::string& signed_content, const std::string& case_id) {
    LocalSealing sealing = log_->BeginLocal("c");
    EXPECT_TRUE(log_->SealLocalFile(sealing, big.size(), SourceOf(big)).ok());
    Submission s;
    s.entry.case_id = case_id;
    s.entry.kind = "evidence";
    s.entry.created_at_ms = 1767225600000;
    s.files = {FileOf("f.bin", signed_content, {})};
    Sign(s);
    return log_->CheckLocal(s, std::move(sealing)).status();
  };
  std::string other = big;
  other[kChunkSize + 1] = 'y';
  Status st = sealed_and_signed(other, "c");
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("does not match the SHA-256 its author signed"), std::string::npos);
  st = sealed_and_signed(big, "another-case");
  EXPECT_NE(st.message().find("sealed for case 'c'"), std::string::npos) << st.ToString();
  EXPECT_EQ(Count(Table::kChunks), chunks_before);
  EXPECT_EQ(Size(), 0u);
}

// Fed piece by piece (the server's sealing uploads): the same file opens byte for byte; too many
// bytes, too few, or a file dropped unfinished are refused and leave nothing in the store, and a
// dropped small file leaves the entry's earlier files as they were.
TEST_P(LogTest, FilesFedPieceByPieceSealAsFromTheirSource) {
  std::string big(9 * kChunkSize + 777, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + (i >> 12));
  const uint64_t chunks_before = Count(Table::kChunks);
  auto feed = [&](LocalFileSealer& f, const std::string& content, size_t piece) -> Status {
    for (size_t at = 0; at < content.size(); at += piece) {
      size_t n = std::min(piece, content.size() - at);
      KH_RETURN_IF_ERROR(f.Update(AsBytes(content).subspan(at, n)));
    }
    return Status::Ok();
  };
  {  // too many bytes: refused at once, and what the writer stored is gone
    LocalSealing sealing = log_->BeginLocal("c");
    auto f = log_->BeginLocalFile(sealing, big.size() - 10);
    ASSERT_TRUE(f.ok());
    Status st = feed(**f, big, kChunkSize);
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_NE(st.message().find("more content than"), std::string::npos) << st.ToString();
    EXPECT_EQ((*f)->Update(AsBytes(std::string("x"))).code(), Code::kInvalidArgument);
    f->reset();
    EXPECT_TRUE(sealing.files().empty());
  }
  {  // too few bytes
    LocalSealing sealing = log_->BeginLocal("c");
    auto f = log_->BeginLocalFile(sealing, big.size() + 1);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(feed(**f, big, 100000).ok());
    Status st = (*f)->Finish();
    EXPECT_NE(st.message().find("ended after"), std::string::npos) << st.ToString();
  }
  EXPECT_EQ(Count(Table::kChunks), chunks_before);
  {  // a small file dropped unfinished: the earlier small file stays held
    LocalSealing sealing = log_->BeginLocal("c");
    ASSERT_TRUE(log_->SealLocalFile(sealing, 5, SourceOf(std::string("first"))).ok());
    const size_t held = sealing.held_bytes();
    auto f = log_->BeginLocalFile(sealing, 100);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Update(AsBytes(std::string(50, 'y'))).ok());
    f->reset();
    EXPECT_EQ(sealing.held_bytes(), held);
    EXPECT_EQ(sealing.files().size(), 1u);
  }
  // Pieces of odd sizes, as requests bring them: the entry opens to the same bytes.
  LocalSealing sealing = log_->BeginLocal("c");
  ASSERT_TRUE(log_->SealLocalFile(sealing, 5, SourceOf(std::string("first"))).ok());
  auto f = log_->BeginLocalFile(sealing, big.size());
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(feed(**f, big, 333333).ok());
  ASSERT_TRUE((*f)->Finish().ok());
  EXPECT_EQ((*f)->content_sha256(), Sha256(AsBytes(big)));
  EXPECT_EQ((*f)->received(), big.size());
  Submission s;
  s.entry.case_id = "c";
  s.entry.kind = "evidence";
  s.entry.created_at_ms = 1767225600000;
  s.files = {FileOf("first.txt", "first", {}), FileOf("video.mp4", big, {})};
  Sign(s);
  auto checked = log_->CheckLocal(s, std::move(sealing));
  ASSERT_TRUE(checked.ok()) << checked.status().ToString();
  std::vector<CheckedSubmission> batch;
  batch.push_back(std::move(*checked));
  auto receipts = log_->AppendChecked(batch);
  ASSERT_TRUE(receipts[0].ok()) << receipts[0].status().ToString();
  auto e = Open(receipts[0]->entry_id, EntryKey::Archive(node_->archive_key()));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(ReadFile(*e, 0).value(), "first");
  EXPECT_EQ(ReadFile(*e, 1).value(), big);
  ExpectClean();
}

// Every table, read through the store's own API with its data key, after several appends: no
// case id, file name, metadata value, author key or plaintext hash of what was submitted.
TEST_P(LogTest, TheStoreHoldsNothingPlainOfWhatWasSubmitted) {
  struct Canary {
    std::string what;
    Bytes bytes;
  };
  std::vector<Canary> canaries;
  auto add = [&](std::string what, ByteView b) { canaries.push_back({std::move(what), Bytes(b.begin(), b.end())}); };
  auto add_hash = [&](const std::string& what, const Hash& h) {
    add(what + " (binary)", h);
    add(what + " (hex)", AsBytes(ToHex(h)));
  };
  add_hash("author key", author_.public_key());
  std::string pending_content;
  for (int i = 0; i < 4; ++i) {
    std::string n = std::to_string(i);
    std::string content = "CANARY-content-" + n + std::string(kChunkSize, static_cast<char>('a' + i));
    Submission s;
    s.entry.case_id = "CANARY-case-" + n;
    s.entry.kind = "evidence";
    s.entry.metadata = {{"place", "CANARY-meta-" + n}};
    s.files = {FileOf("CANARY-name-" + n + ".pdf", content, Upload(content, "token-" + n))};
    s.uploader = "token-" + n;
    Sign(s);
    if (i == 3) pending_content = content;  // uploaded, then appended below
    ASSERT_TRUE(log_->Append({s}).ok());
    add("case id " + n, AsBytes(s.entry.case_id));
    add("file name " + n, AsBytes(s.files[0].opening.descriptor.name));
    add("metadata value " + n, AsBytes("CANARY-meta-" + n));
    add("content " + n, AsBytes("CANARY-content-" + n));
    add_hash("content SHA-256 " + n, Sha256(content));
    for (const Hash& c : s.files[0].upload_chunks) add_hash("upload chunk id " + n, c);
    add_hash("signed entry id " + n, ObjectId(Encode(s.entry)));
  }
  auto dump = [&](bool skip_authors) {
    std::string all;
    EXPECT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
      for (int t = 0; t < kTableCount; ++t) {
        // The roster of authors this node accepts holds their keys by design (it is how
        // entries by unknown authors are refused); it is not what was submitted.
        if (skip_authors && static_cast<Table>(t) == Table::kAuthors) continue;
        KH_RETURN_IF_ERROR(txn.Scan(static_cast<Table>(t), {}, [&](ByteView k, ByteView v) -> Result<bool> {
          all.append(AsChars(k));
          all.push_back('\n');
          all.append(AsChars(v));
          all.push_back('\n');
          return true;
        }));
      }
      return Status::Ok();
    }).ok());
    return all;
  };
  std::string all = dump(true);
  for (const Canary& c : canaries) {
    bool found = all.find(AsChars(c.bytes)) != std::string::npos;
    if (encrypted()) {
      EXPECT_FALSE(found) << c.what << " found in the store";
    } else if (c.what.rfind("case id", 0) == 0) {
      // The control: in a store in clear, index keys carry case ids as they are, so the same
      // search finds them there.
      EXPECT_TRUE(found) << c.what;
    }
  }
  EXPECT_NE(dump(false).find(AsChars(author_.public_key())), std::string::npos);  // the roster
  // And plaintext waiting to be sealed is there until it is: the dump reads decrypted values.
  std::string waiting = "CANARY-pending-" + std::string(100, 'p');
  (void)Upload(waiting, "token-x");
  EXPECT_NE(dump(true).find("CANARY-pending-"), std::string::npos);
  ExpectClean();
}

TEST_P(LogTest, EncryptedStoreFileHoldsNoCaseIdMetadataOrAuthorName) {
  ASSERT_TRUE(log_->Append({MakeSubmission("CANARY-case", "CANARY-content")}).ok());
  node_.reset();
  log_.reset();
  std::ifstream in(Node::StorePath(dir_ / "node") / "data.mdb", std::ios::binary);
  std::string disk((std::istreambuf_iterator<char>(in)), {});
  // The control (a node in clear) shows that the scan would find the case id (index keys) and
  // the author's name (its roster); the rest is sealed whatever the store.
  EXPECT_EQ(disk.find("CANARY-case") == std::string::npos, encrypted());
  EXPECT_EQ(disk.find("Alice") == std::string::npos, encrypted());
  // The content was on disk while it waited to be sealed: in a store in clear, its deleted
  // upload chunks may stay in LMDB's free pages until they are reused, so only an encrypted
  // store keeps it off the disk for good.
  EXPECT_EQ(disk.find("CANARY-content") == std::string::npos, encrypted());
  EXPECT_EQ(disk.find("file.txt"), std::string::npos);
  Reopen();
  EXPECT_EQ(Size(), 1u);
  ExpectClean();
}

TEST_P(LogTest, VerifyWithoutTheKeyChecksWhatAPartnerCanAndWithAWrongKeyNamesEveryEntry) {
  // Two statements (carried by their sealed entries) and a file of 20,000 bytes (a sealed chunk).
  for (int i = 0; i < 3; ++i) {
    const std::string content = i < 2 ? "v" + std::to_string(i) : std::string(20000, 'v');
    ASSERT_TRUE(log_->Append({MakeSubmission("c", content)}).ok());
  }
  VerifyReport keyless = Verify(nullptr);
  EXPECT_TRUE(keyless.clean()) << keyless.problems.front();
  EXPECT_EQ(keyless.entries_opened, 0u);
  EXPECT_EQ(keyless.records, 3u);
  EXPECT_EQ(keyless.chunks, 1u);
  SymmetricKey wrong = RandomSymmetricKey();
  VerifyReport with_wrong = Verify(&wrong);
  EXPECT_EQ(with_wrong.problems.size(), 3u);
  for (const std::string& p : with_wrong.problems) {
    EXPECT_NE(p.find("does not open"), std::string::npos) << p;
  }
  // A missing sealed chunk is named by a verifier with no key at all.
  Hash gone{};
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) -> Status {
    return txn.ScanKeys(Table::kChunks, {}, [&](ByteView k) -> Result<bool> {
      std::copy(k.begin(), k.end(), gone.begin());
      return false;
    });
  }).ok());
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) { return txn.Delete(Table::kChunks, gone); }).ok());
  VerifyReport missing = Verify(nullptr);
  ASSERT_EQ(missing.problems.size(), 1u);
  EXPECT_NE(missing.problems[0].find(ToHex(gone) + "): missing"), std::string::npos) << missing.problems[0];
}

// A log written by hand, as a buggy or dishonest origin could: `n` records of case "c", each
// sealing `content` under the archive key; record i's link box names `links[i]`.
// The entries listed in `bad_signatures` carry an author signature that does not verify.
void WriteSealedLogByHand(Node& node, const SigningKey& author, const std::string& content,
                          const std::vector<Hash>& links,
                          const std::set<size_t>& bad_signatures = {}) {
  std::vector<Bytes> records;
  ASSERT_TRUE(node.store().Update([&](WriteTxn& txn) -> Status {
    Hash prev{};
    for (size_t i = 0; i < links.size(); ++i) {
      FileOpening opening;
      opening.descriptor = {"note.txt", "text/plain", content.size(), Sha256(content)};
      RandomBytes(opening.salt.data(), opening.salt.size());
      SignedEntry entry;
      entry.case_id = "c";
      entry.kind = "evidence";
      entry.created_at_ms = static_cast<int64_t>(i);
      entry.files = {FileCommitment(opening.salt, Encode(opening.descriptor))};
      SignEntry(entry, author);
      if (bad_signatures.count(i)) entry.signature[0] ^= 1;
      EntryToSeal in;
      RandomBytes(in.nonce.data(), in.nonce.size());
      in.case_id = "c";
      in.prev_case_record = links[i];
      in.signed_entry = Encode(entry);
      in.openings = {opening};
      ChunkedSalt salt{};
      FileSealer sealer(DeriveFileKey(DeriveCaseKey(node.archive_key(), "c"), in.nonce, 0),
                        content.size(), salt, [&](ByteView c, const Hash& id) {
                          return txn.Put(Table::kChunks, id, c);
                        });
      KH_RETURN_IF_ERROR(sealer.Update(AsBytes(content)));
      KH_ASSIGN_OR_RETURN(SealedFile file, sealer.Finish());
      in.sealed_files = {file};
      KH_ASSIGN_OR_RETURN(SealedEntry sealed, SealEntry(node.archive_key(), in));
      const Bytes sealed_bytes = Encode(sealed);
      const Hash entry_id = ObjectId(sealed_bytes);
      Record rec;
      rec.origin = node.id();
      rec.index = i;
      rec.prev_record = prev;
      rec.object_id = entry_id;
      records.push_back(Encode(rec));
      prev = RecordHash(records.back());
      KH_RETURN_IF_ERROR(txn.Put(Table::kObjects, keys::Object(node.id(), i), sealed_bytes));
      KH_RETURN_IF_ERROR(txn.Put(Table::kRecords, keys::Record(node.id(), i), records.back()));
      KH_RETURN_IF_ERROR(txn.Put(Table::kEntryIndex, entry_id, keys::EntryLocation(node.id(), i)));
      KH_RETURN_IF_ERROR(txn.Put(Table::kCaseIndex, keys::CaseRecord(txn, "c", node.id(), i), prev));
      KH_RETURN_IF_ERROR(txn.Put(Table::kSignedEntries,
                                 keys::SignedEntry(txn, ObjectId(in.signed_entry)), entry_id));
      KH_RETURN_IF_ERROR(txn.Put(Table::kTree, keys::Tree(node.id(), 0, i), LeafHash(records.back())));
    }
    Hash root = LeafHash(records[0]);
    if (records.size() == 2) {
      root = HashChildren(LeafHash(records[0]), LeafHash(records[1]));
      KH_RETURN_IF_ERROR(txn.Put(Table::kTree, keys::Tree(node.id(), 1, 0), root));
    }
    return txn.Put(Table::kCheckpoints, keys::Checkpoint(node.id(), records.size()),
                   AsBytes(SignCheckpoint(node.key(), records.size(), root)));
  }).ok());
}

// The case chain is sealed in the link boxes: a partner cannot see it, the origin checks it.
TEST_P(LogTest, VerifyWithTheArchiveKeyFollowsTheCaseChainThroughTheLinkBoxes) {
  WriteSealedLogByHand(*node_, author_, "same case", {Hash{}, Hash{}});  // record 1 forgets record 0
  VerifyReport keyless = Verify(nullptr);
  EXPECT_TRUE(keyless.clean()) << keyless.problems.front();
  VerifyReport report = Verify(&node_->archive_key());
  ASSERT_EQ(report.problems.size(), 1u) << report.problems.front();
  EXPECT_EQ(report.problems[0], "record 1 of " + node_->origin_name() +
                                    ": its link box does not name the case's previous record in "
                                    "this log (case chain broken)");
  EXPECT_EQ(report.entries_opened, 2u);
}

// Author signatures are checked on a worker pool while the records pass goes on; each failure
// is still named by its record, before what else that record shows, the same on every run.
TEST_P(LogTest, VerifyNamesEveryBadAuthorSignatureInRecordOrder) {
  WriteSealedLogByHand(*node_, author_, "forged", {Hash{}, Hash{}}, {0, 1});
  VerifyReport keyless = Verify(nullptr);
  EXPECT_TRUE(keyless.clean()) << keyless.problems.front();
  std::vector<Hash> ids;
  ASSERT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
    for (uint64_t i = 0; i < 2; ++i) {
      KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, node_->id(), i));
      ids.push_back(logged.record.object_id);
    }
    return Status::Ok();
  }).ok());
  auto bad = [&](uint64_t i) {
    return "record " + std::to_string(i) + " of " + node_->origin_name() + ": sealed entry " +
           ToHex(ids[i]) + " does not open: sealed entry " + ToHex(ids[i]) +
           ": the entry's author signature does not verify";
  };
  const std::vector<std::string> expected = {
      bad(0), bad(1),
      "record 1 of " + node_->origin_name() +
          ": its link box does not name the case's previous record in this log (case chain "
          "broken)"};
  for (int run = 0; run < 3; ++run) {
    VerifyReport report = Verify(&node_->archive_key());
    EXPECT_EQ(report.problems, expected);
    EXPECT_EQ(report.entries_opened, 0u);
  }
}

// An origin that sealed content other than what its author signed (a bug, or a dishonest
// origin) still has a well-formed log: only opening the entry and hashing the plaintext shows it.
TEST_P(LogTest, VerifyWithTheArchiveKeyComparesEveryPlaintextByteWithTheSignedHash) {
  const std::string real = "what was sealed", claimed = "what was signed";
  FileOpening opening;
  opening.descriptor = {"statement.txt", "text/plain", real.size(), Sha256(claimed)};
  RandomBytes(opening.salt.data(), opening.salt.size());
  SignedEntry entry;
  entry.case_id = "c";
  entry.kind = "evidence";
  entry.files = {FileCommitment(opening.salt, Encode(opening.descriptor))};
  SignEntry(entry, author_);
  EntryToSeal in;
  RandomBytes(in.nonce.data(), in.nonce.size());
  in.case_id = "c";
  in.signed_entry = Encode(entry);
  in.openings = {opening};
  ChunkedSalt salt{};
  std::vector<std::pair<Hash, Bytes>> sealed_chunks;
  FileSealer sealer(DeriveFileKey(DeriveCaseKey(node_->archive_key(), "c"), in.nonce, 0),
                    real.size(), salt, [&](ByteView c, const Hash& id) {
                      sealed_chunks.emplace_back(id, Bytes(c.begin(), c.end()));
                      return Status::Ok();
                    });
  ASSERT_TRUE(sealer.Update(AsBytes(real)).ok());
  in.sealed_files = {sealer.Finish().value()};
  SealedEntry sealed = SealEntry(node_->archive_key(), in).value();
  const Bytes sealed_bytes = Encode(sealed);
  const Hash entry_id = ObjectId(sealed_bytes);
  Record rec;
  rec.origin = node_->id();
  rec.object_id = entry_id;
  const Bytes record_bytes = Encode(rec);
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) -> Status {
    for (const auto& [id, bytes] : sealed_chunks) KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, id, bytes));
    KH_RETURN_IF_ERROR(txn.Put(Table::kObjects, keys::Object(node_->id(), 0), sealed_bytes));
    KH_RETURN_IF_ERROR(txn.Put(Table::kRecords, keys::Record(node_->id(), 0), record_bytes));
    KH_RETURN_IF_ERROR(txn.Put(Table::kEntryIndex, entry_id, keys::EntryLocation(node_->id(), 0)));
    KH_RETURN_IF_ERROR(txn.Put(Table::kCaseIndex, keys::CaseRecord(txn, "c", node_->id(), 0),
                               RecordHash(record_bytes)));
    KH_RETURN_IF_ERROR(txn.Put(Table::kSignedEntries, keys::SignedEntry(txn, ObjectId(in.signed_entry)),
                               entry_id));
    const Hash leaf = LeafHash(record_bytes);
    KH_RETURN_IF_ERROR(txn.Put(Table::kTree, keys::Tree(node_->id(), 0, 0), leaf));
    return txn.Put(Table::kCheckpoints, keys::Checkpoint(node_->id(), 1),
                   AsBytes(SignCheckpoint(node_->key(), 1, leaf)));
  }).ok());
  VerifyReport keyless = Verify(nullptr);
  EXPECT_TRUE(keyless.clean()) << keyless.problems.front();
  VerifyReport report = Verify(&node_->archive_key());
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_NE(report.problems[0].find("'statement.txt'): plaintext does not match the SHA-256 its "
                                    "author signed"),
            std::string::npos)
      << report.problems[0];
}

// Each kind of damage to a stored log is named once, by the record or node it is in; what it
// makes unknowable (a root over a missing record) is named as such, not as a wrong root.
TEST_P(LogTest, VerifyNamesEachDamageToALogByItsRecord) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(log_->Append({MakeSubmission("case-" + std::to_string(i % 3), "statement " + std::to_string(i))}).ok());
  }
  const Hash origin = node_->id();
  const std::string o = OriginName(origin);
  auto problems = [&] {
    auto report = VerifyStore(node_->store());
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? report->problems : std::vector<std::string>{"verify failed"};
  };
  auto named = [](const std::vector<std::string>& lines, const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  auto get = [&](Table t, const Bytes& key) {
    Bytes out;
    EXPECT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto v, txn.Get(t, key));
      if (v) out = *v;
      return Status::Ok();
    }).ok());
    return out;
  };
  auto put = [&](Table t, const Bytes& key, const std::optional<Bytes>& value) {
    ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) {
      return value ? txn.Put(t, key, *value) : txn.Delete(t, key);
    }).ok());
  };
  ASSERT_TRUE(problems().empty());

  // A record whose prev_record was changed; the next one then chains to another hash.
  const Bytes key4 = keys::Record(origin, 4), bytes4 = get(Table::kRecords, key4);
  Record r4 = DecodeRecord(bytes4).value();
  r4.prev_record[0] ^= 1;
  put(Table::kRecords, key4, Encode(r4));
  std::vector<std::string> p = problems();
  EXPECT_TRUE(named(p, "record 4 of " + o + ": prev_record is not the hash of record 3 (hash chain broken)")) << p[0];
  EXPECT_TRUE(named(p, "record 5 of " + o + ": prev_record is not the hash of record 4 (hash chain broken)")) << p[0];
  EXPECT_TRUE(named(p, "Merkle tree node (level 0, index 4) of " + o + ": hash does not match the records"));
  EXPECT_TRUE(named(p, "checkpoint at size 10 of " + o + ": Merkle root does not match the records"));
  EXPECT_FALSE(named(p, "checkpoint at size 4 of " + o + ": Merkle root does not match the records"));
  put(Table::kRecords, key4, bytes4);

  // (A broken case chain is in the sealed entries' link boxes in format 2: the ChainChecker's
  // own tests and VerifyWithTheArchiveKey... cover it.)

  // A missing record: named once; the roots over it cannot be recomputed, the ones before it can.
  const Bytes key6 = keys::Record(origin, 6), bytes6 = get(Table::kRecords, key6);
  put(Table::kRecords, key6, std::nullopt);
  p = problems();
  EXPECT_TRUE(named(p, "records 6 to 6 of " + o + " are missing")) << p[0];
  EXPECT_TRUE(named(p, "checkpoint at size 7 of " + o + ": its Merkle root cannot be recomputed: "
                       "records it covers are missing or unreadable")) << p[0];
  for (const std::string& line : p) {
    EXPECT_EQ(line.find("checkpoint at size 6 "), std::string::npos) << line;
    EXPECT_EQ(line.find("record 7 of"), std::string::npos) << "record 7 is not checked against an unknown record: " << line;
  }
  put(Table::kRecords, key6, bytes6);

  // A missing Merkle node, and one that no log of 10 records has.
  const Bytes node3 = keys::Tree(origin, 0, 3), hash3 = get(Table::kTree, node3);
  put(Table::kTree, node3, std::nullopt);
  put(Table::kTree, keys::Tree(origin, 1, 5), hash3);
  p = problems();
  EXPECT_TRUE(named(p, o + ": 1 Merkle tree nodes are missing")) << p[0];
  EXPECT_TRUE(named(p, "Merkle tree node (level 1, index 5) of " + o + ": no such node in a log of 10 records")) << p[0];
  EXPECT_EQ(p.size(), 2u) << p[0];
  put(Table::kTree, node3, hash3);
  put(Table::kTree, keys::Tree(origin, 1, 5), std::nullopt);
  EXPECT_TRUE(problems().empty());
}

TEST_P(LogTest, RecoveryObjectsAreLoggedBetweenEntriesAndTheLogStillVerifies) {
  auto first = log_->Append({MakeSubmission("c", "before the set")});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::vector<RecoveryKey> partners;
  std::vector<ShareRecipient> to;
  for (int i = 0; i < 3; ++i) {
    partners.push_back(RecoveryKey::Generate());
    Hash node{};
    node[0] = static_cast<uint8_t>(i + 1);
    to.push_back({node, partners.back().public_key()});
  }
  auto set = MakeRecoverySet(node_->id(), node_->archive_key(), 2, to);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const Bytes set_bytes = Encode(*set);
  auto logged = log_->AppendCustodyObject(set_bytes);
  ASSERT_TRUE(logged.ok()) << logged.status().ToString();
  EXPECT_EQ(logged->entry_id, ObjectId(set_bytes));
  EXPECT_EQ(logged->index, 1u);
  EXPECT_EQ(logged->tree_size, 2u);
  Checkpoint cp = CheckpointAt(2);
  EXPECT_TRUE(VerifyInclusion(logged->leaf_hash, 1, 2, logged->inclusion_proof, cp.root));
  auto after = log_->Append({MakeSubmission("c", "after the set")});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ((*after)[0].index, 2u);

  ASSERT_TRUE(node_->store()
                  .View([&](ReadTxn& txn) -> Status {
                    KH_ASSIGN_OR_RETURN(LoggedObject o, ReadLoggedObject(txn, node_->id(), 1));
                    EXPECT_EQ(o.object_bytes, set_bytes);
                    // The case chain of "c" runs from the entry after the set to the one before.
                    KH_ASSIGN_OR_RETURN(OpenedEntry e,
                                        OpenEntry(txn, node_->id(),
                                                  EntryKey::Archive(node_->archive_key()),
                                                  (*after)[0].entry_id));
                    EXPECT_EQ(e.case_id, "c");
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_TRUE(Verify(&node_->archive_key()).clean());
  EXPECT_TRUE(Verify(nullptr).clean());

  // Anything else is refused, with nothing written.
  auto sealed_entry = node_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(LoggedObject o, ReadLoggedObject(txn, node_->id(), 0));
    EXPECT_EQ(log_->AppendCustodyObject(o.object_bytes).status().code(), Code::kInvalidArgument);
    return Status::Ok();
  });
  ASSERT_TRUE(sealed_entry.ok());
  Bytes truncated = set_bytes;
  truncated.pop_back();
  EXPECT_FALSE(log_->AppendCustodyObject(truncated).ok());
  EXPECT_FALSE(log_->AppendCustodyObject(AsBytes(std::string_view("garbage"))).ok());
  EXPECT_EQ(*log_->Size(), 3u);
}

// Custody events wait in the pending table and are sealed into custody records of the log in
// one transaction that empties it; the records verify with and without the key, and an
// operator who edits or deletes one offline is named by verify.
TEST_P(LogTest, CustodyEventsAreSealedIntoTheLogAndAnEditIsNamed) {
  auto first = log_->Append({MakeSubmission("case-a", "read me")});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::string read = ToHex((*first)[0].entry_id) + "/0";
  auto record = [&](const CustodyEvent& e) {
    ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) {
      return RecordPendingCustody(txn, e);
    }).ok());
  };
  std::vector<CustodyEvent> events = {
      {1, "0123456789abcdef", "reader", "read-content", read, "case-a"},
      {2, "local", "admin", "export", "case bundle", "case-a"},
      {3, "fedcba9876543210", "reader", "read-content", "x/0", "case-b"}};
  for (const CustodyEvent& e : events) record(e);
  // Invalid events are refused before anything is written.
  EXPECT_FALSE(node_->store().Update([&](WriteTxn& txn) {
    return RecordPendingCustody(txn, {4, "t", "r", "read-content", "o", "../etc"});
  }).ok());
  EXPECT_EQ(Count(Table::kAccessLog), 3u);

  auto logged = log_->LogPendingCustody();
  ASSERT_TRUE(logged.ok()) << logged.status().ToString();
  ASSERT_EQ(logged->size(), 1u);
  const Receipt r = (*logged)[0];
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.tree_size, 2u);
  EXPECT_TRUE(VerifyInclusion(r.leaf_hash, 1, 2, r.inclusion_proof, CheckpointAt(2).root));
  EXPECT_EQ(Count(Table::kAccessLog), 0u);
  // Nothing pending: nothing appended.
  ASSERT_TRUE(log_->LogPendingCustody().ok());
  EXPECT_EQ(Size(), 2u);

  auto list = [&] {
    std::vector<ListedCustodyEvent> out;
    EXPECT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(out, ListCustody(txn, node_->id(), node_->archive_key()));
      return Status::Ok();
    }).ok());
    return out;
  };
  record({5, "0123456789abcdef", "reader", "read-content", read, "case-a"});
  std::vector<ListedCustodyEvent> listed = list();
  ASSERT_EQ(listed.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(listed[i].event, events[i]);
    EXPECT_EQ(listed[i].record_index, std::optional<uint64_t>(1));
    EXPECT_EQ(listed[i].slot, i);
  }
  EXPECT_FALSE(listed[3].record_index.has_value());  // still pending
  std::vector<CustodyRecordRef> refs;
  ASSERT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(refs, CustodyRecords(txn));
    return Status::Ok();
  }).ok());
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].cases, (std::vector<std::string>{"case-a", "case-b"}));

  // A burst larger than one record takes several, in one transaction and one checkpoint.
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) -> Status {
    for (int i = 0; i < 300; ++i) {
      KH_RETURN_IF_ERROR(
          RecordPendingCustody(txn, {10 + i, "local", "admin", "export", "case bundle", "c"}));
    }
    return Status::Ok();
  }).ok());
  logged = log_->LogPendingCustody();
  ASSERT_TRUE(logged.ok()) << logged.status().ToString();
  ASSERT_EQ(logged->size(), 2u);
  EXPECT_EQ((*logged)[1].tree_size, 4u);
  EXPECT_EQ(list().size(), 304u);

  VerifyReport with_key = Verify(&node_->archive_key());
  EXPECT_TRUE(with_key.clean()) << with_key.problems.front();
  EXPECT_EQ(with_key.custody_records_opened, 3u);
  EXPECT_TRUE(Verify(nullptr).clean());

  // The operator edits the custody record offline: one byte of a box.
  const Hash id = r.entry_id;
  ASSERT_EQ(r.index, 1u);
  const Bytes where = keys::Object(node_->id(), r.index);
  Bytes original;
  ASSERT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kObjects, where));
    original = v.value();
    return Status::Ok();
  }).ok());
  Bytes edited = original;
  edited[100] ^= 1;
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) {
    return txn.Put(Table::kObjects, where, edited);
  }).ok());
  VerifyReport after_edit = Verify(&node_->archive_key());
  ASSERT_FALSE(after_edit.clean());
  EXPECT_EQ(after_edit.problems[0], "custody record " + ToHex(id) + ": bytes do not match its id");

  // ... or reseals it without the first event, under its own id, and points the record at it:
  // the record's hash changes, so the chain, the tree and every later checkpoint break.
  CustodyNonce nonce{};
  Bytes forged = Encode(SealCustodyRecord(node_->archive_key(), nonce,
                                          {events[1], events[2]}).value());
  Record rec;
  ASSERT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kRecords, keys::Record(node_->id(), 1)));
    rec = DecodeRecord(v.value()).value();
    return Status::Ok();
  }).ok());
  rec.object_id = ObjectId(forged);
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(txn.Put(Table::kObjects, where, forged));
    return txn.Put(Table::kRecords, keys::Record(node_->id(), 1), Encode(rec));
  }).ok());
  const std::string o = OriginName(node_->id());
  std::vector<std::string> p = Verify(&node_->archive_key()).problems;
  auto named = [&](const std::string& line) {
    return std::find(p.begin(), p.end(), line) != p.end();
  };
  EXPECT_TRUE(named("record 2 of " + o + ": prev_record is not the hash of record 1 (hash chain "
                    "broken)")) << p[0];
  EXPECT_TRUE(named("checkpoint at size 2 of " + o + ": Merkle root does not match the records"))
      << p[0];

  // ... or deletes it.
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) {
    return txn.Delete(Table::kRecords, keys::Record(node_->id(), 1));
  }).ok());
  p = Verify(&node_->archive_key()).problems;
  EXPECT_TRUE(named("records 1 to 1 of " + o + " are missing")) << p[0];
}

// A stored upload chunk damaged between its upload and the sealing: named as damage in the
// store, not blamed on the author, and nothing is logged.
TEST_P(LogTest, ADamagedUploadChunkIsNamedAndNothingIsLogged) {
  Submission s = MakeSubmission("c", "content that a bad disk will alter");
  const Hash id = s.files[0].upload_chunks[0];
  ASSERT_TRUE(node_->store()
                  .Update([&](WriteTxn& txn) -> Status {
                    const Bytes key = keys::UploadChunk(txn, "", id);
                    KH_ASSIGN_OR_RETURN(auto bytes, txn.Get(Table::kUploadChunks, key));
                    (*bytes)[3] ^= 1;
                    return txn.Put(Table::kUploadChunks, key, *bytes);
                  })
                  .ok());
  const uint64_t chunks = Count(Table::kChunks);
  auto r = log_->Append({s});
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find(ToHex(id)), std::string::npos) << r.status().ToString();
  EXPECT_EQ(Size(), 0u);
  EXPECT_EQ(Count(Table::kChunks), chunks);
}

INSTANTIATE_TEST_SUITE_P(ClearAndEncrypted, LogTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Encrypted" : "Clear"; });

TEST(WitnessNameTest, NameAndOwnerRoundTrip) {
  Hash node = Sha256(std::string("a node key"));
  EXPECT_EQ(WitnessName(node), "khronika/" + ToHex(node) + "/witness");
  EXPECT_EQ(WitnessOwner(WitnessName(node)), node);
  std::string upper = WitnessName(node);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_FALSE(WitnessOwner(upper).has_value());
  EXPECT_FALSE(WitnessOwner(OriginName(node)).has_value());
  EXPECT_FALSE(WitnessOwner(OriginName(node) + "/witnesS").has_value());
  EXPECT_FALSE(WitnessOwner("khronika/" + std::string(64, 'g') + "/witness").has_value());
}

}  // namespace
}  // namespace khronika
