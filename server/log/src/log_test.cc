#include "khronika/log/log.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/schemas/note.h"

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
    Open();
    ASSERT_TRUE(RegisterAuthor(node_->store(), author_.public_key(), "Alice").ok());
  }
  void TearDown() override {
    log_.reset();
    node_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Open(StoreOptions options = {}) {
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
    log_ = std::make_unique<Log>(node_->store(), node_->key(), clock_);
  }

  // A signed submission of one file with `content`, its chunks already stored.
  Submission MakeSubmission(const std::string& case_id, const std::string& content,
                            const SigningKey* signer = nullptr) {
    FileManifest m;
    m.name = "file.txt";
    m.media_type = "text/plain";
    m.size = content.size();
    m.content_sha256 = Sha256(content);
    Status st = node_->store().Update([&](WriteTxn& txn) -> Status {
      for (size_t off = 0; off < content.size(); off += kChunkSize) {
        auto piece = AsBytes(content).subspan(off, std::min(kChunkSize, content.size() - off));
        KH_ASSIGN_OR_RETURN(Hash id, PutChunk(txn, piece));
        m.chunks.push_back(id);
      }
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    Submission s;
    s.entry.case_id = case_id;
    s.entry.kind = "evidence";
    s.entry.created_at_ms = 1767225600000;
    s.entry.manifests = {ObjectId(Encode(m))};
    s.entry.metadata = {{"n", content.substr(0, 16)}};
    SignEntry(s.entry, signer ? *signer : author_);
    s.manifests = {m};
    return s;
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

TEST_P(LogTest, RecordsChainByLogAndByCase) {
  std::vector<Receipt> receipts;
  for (const char* c : {"a", "b", "a", "a", "b"}) {
    auto r = log_->Append({MakeSubmission(c, std::string("x") + c + std::to_string(receipts.size()))});
    ASSERT_TRUE(r.ok());
    receipts.push_back((*r)[0]);
  }
  std::vector<Record> records;
  for (const Receipt& r : receipts) records.push_back(*DecodeRecord(r.record));
  EXPECT_TRUE(IsZero(records[0].prev_record));
  for (size_t i = 1; i < records.size(); ++i) {
    EXPECT_EQ(records[i].prev_record, RecordHash(receipts[i - 1].record));
  }
  EXPECT_TRUE(IsZero(records[0].prev_case_record));
  EXPECT_TRUE(IsZero(records[1].prev_case_record));
  EXPECT_EQ(records[2].prev_case_record, RecordHash(receipts[0].record));
  EXPECT_EQ(records[3].prev_case_record, RecordHash(receipts[2].record));
  EXPECT_EQ(records[4].prev_case_record, RecordHash(receipts[1].record));
  EXPECT_EQ(records[0].received_at_ms, 1767225601000);
  EXPECT_EQ(records[0].origin, node_->id());
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
  // One bad submission sinks the whole batch, and nothing of it is written.
  std::vector<Submission> bad = {MakeSubmission("c", "good one"), MakeSubmission("c", "bad one")};
  bad[1].entry.metadata["tampered"] = "yes";
  auto refused = log_->Append(bad);
  EXPECT_EQ(refused.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(Size(), 10u);
}

TEST_P(LogTest, RefusesBadSubmissionsWithoutWriting) {
  ASSERT_TRUE(log_->Append({MakeSubmission("c", "first")}).ok());
  uint64_t objects = Count(Table::kObjects), checkpoints = Count(Table::kCheckpoints);

  Submission forged = MakeSubmission("c", "forged");
  forged.entry.case_id = "other-case";  // signature no longer covers the fields
  EXPECT_EQ(log_->Append({forged}).status().code(), Code::kPermissionDenied);

  SigningKey stranger = SigningKey::Generate();
  auto unknown = log_->Append({MakeSubmission("c", "by a stranger", &stranger)});
  EXPECT_EQ(unknown.status().code(), Code::kPermissionDenied);
  EXPECT_NE(unknown.status().message().find("not registered"), std::string::npos);

  Submission wrong_content = MakeSubmission("c", "declared");
  wrong_content.manifests[0].content_sha256 = Sha256(std::string("something else"));
  wrong_content.entry.manifests = {ObjectId(Encode(wrong_content.manifests[0]))};
  SignEntry(wrong_content.entry, author_);
  EXPECT_EQ(log_->Append({wrong_content}).status().code(), Code::kInvalidArgument);

  Submission missing_chunk = MakeSubmission("c", "present");
  missing_chunk.manifests[0].chunks[0] = Sha256(std::string("never uploaded"));
  missing_chunk.entry.manifests = {ObjectId(Encode(missing_chunk.manifests[0]))};
  SignEntry(missing_chunk.entry, author_);
  EXPECT_EQ(log_->Append({missing_chunk}).status().code(), Code::kNotFound);

  Submission swapped = MakeSubmission("c", "swapped");
  swapped.manifests[0].name = "other.txt";  // no longer the manifest the entry signs
  EXPECT_EQ(log_->Append({swapped}).status().code(), Code::kInvalidArgument);

  Submission corrects_unknown = MakeSubmission("c", "correction");
  corrects_unknown.entry.kind = "correction";
  corrects_unknown.entry.corrects = Sha256(std::string("no such entry"));
  SignEntry(corrects_unknown.entry, author_);
  EXPECT_EQ(log_->Append({corrects_unknown}).status().code(), Code::kNotFound);

  Submission again = MakeSubmission("c", "twice");
  ASSERT_TRUE(log_->Append({again}).ok());
  objects = Count(Table::kObjects);
  checkpoints = Count(Table::kCheckpoints);
  EXPECT_EQ(log_->Append({again}).status().code(), Code::kAlreadyExists);

  EXPECT_EQ(Size(), 2u);
  EXPECT_EQ(Count(Table::kObjects), objects);
  EXPECT_EQ(Count(Table::kCheckpoints), checkpoints);
  auto report = VerifyStore(node_->store());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean()) << report->problems.front();
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
  auto report = VerifyStore(node_->store());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean());
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
  auto report = VerifyStore(node_->store());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean()) << report->problems.front();
}

TEST_P(LogTest, EmptyLogHasASignedCheckpoint) {
  Checkpoint cp = CheckpointAt(0);
  EXPECT_EQ(cp.size, 0u);
  EXPECT_EQ(cp.root, MerkleEmptyRoot());
  EXPECT_TRUE(log_->LatestCheckpoint().ok());
}

TEST_P(LogTest, FileNamesAreUniqueWithinAnEntry) {
  Submission s = MakeSubmission("c", "one");
  s.manifests.push_back(s.manifests[0]);
  s.entry.manifests.push_back(s.entry.manifests[0]);
  SignEntry(s.entry, author_);
  auto r = log_->Append({s});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("both named"), std::string::npos);
}

TEST_P(LogTest, CorrectionOfARecordedEntry) {
  auto first = log_->Append({MakeSubmission("c", "original statement")});
  ASSERT_TRUE(first.ok());
  Submission fix = MakeSubmission("c", "corrected statement");
  fix.entry.kind = "correction";
  fix.entry.corrects = (*first)[0].entry_id;
  SignEntry(fix.entry, author_);
  EXPECT_TRUE(log_->Append({fix}).ok());
}

TEST_P(LogTest, FullMapRefusesAppendThenResumesAfterGrowing) {
  ASSERT_TRUE(log_->Append({MakeSubmission("c", "small")}).ok());
  Open(StoreOptions{.map_size = 2 << 20});  // the store already uses most of this
  std::string big(900 * 1024, 'z');
  Status full = Status::Ok();
  for (int i = 0; i < 8 && full.ok(); ++i) {
    big[0] = static_cast<char>('a' + i);
    full = node_->store().Update([&](WriteTxn& txn) -> Status {
      return PutChunk(txn, AsBytes(big)).status();
    });
  }
  EXPECT_EQ(full.code(), Code::kStoreFull) << full.ToString();
  EXPECT_EQ(Size(), 1u);
  auto report = VerifyStore(node_->store());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean());
  Open(StoreOptions{.map_size = 64 << 20});
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

TEST_P(LogTest, EncryptedStoreHoldsNoCaseIdMetadataOrAuthorName) {
  ASSERT_TRUE(log_->Append({MakeSubmission("CANARY-case", "CANARY-content")}).ok());
  node_.reset();
  log_.reset();
  std::ifstream in(Node::StorePath(dir_ / "node") / "data.mdb", std::ios::binary);
  std::string disk((std::istreambuf_iterator<char>(in)), {});
  // The control (a node in clear) shows that the scan would find them.
  EXPECT_EQ(disk.find("CANARY-case") == std::string::npos, encrypted());
  EXPECT_EQ(disk.find("CANARY-content") == std::string::npos, encrypted());
  EXPECT_EQ(disk.find("Alice") == std::string::npos, encrypted());
  EXPECT_EQ(disk.find("file.txt") == std::string::npos, encrypted());
  Open();
  EXPECT_EQ(Size(), 1u);
  auto report = VerifyStore(node_->store());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean());
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

  // A record that names another record of its case than the last one.
  const Bytes key7 = keys::Record(origin, 7), bytes7 = get(Table::kRecords, key7);
  Record r7 = DecodeRecord(bytes7).value();
  r7.prev_case_record = Hash{};
  put(Table::kRecords, key7, Encode(r7));
  p = problems();
  EXPECT_TRUE(named(p, "record 7 of " + o + ": prev_case_record is not the hash of the case's previous "
                       "record in this log (case chain broken)")) << p[0];
  put(Table::kRecords, key7, bytes7);

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
