#include "khronika/replication/sync.h"

#include <cstdlib>
#include <filesystem>
#include <functional>

#include <gtest/gtest.h>

#include "direct_transport_for_tests.h"
#include "entries_for_tests.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/witness.h"
#include "khronika/schemas/note.h"

namespace khronika {
namespace {

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sync-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    a_ = std::move(Node::Init(dir_ / "a", "ngo-a").value());
    b_ = std::move(Node::Init(dir_ / "b", "ngo-b").value());
    ASSERT_TRUE(RegisterAuthor(a_->store(), author_.public_key(), "Alice").ok());
    ASSERT_TRUE(AddMember(b_->store(), a_->verifier_key(), "").ok());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Appends `n` entries to `node`, each with one file of `bytes` bytes, in cases case-0..2.
  std::vector<Receipt> Append(Node& node, int n, size_t bytes = 100, const std::string& tag = "") {
    std::vector<Submission> batch;
    for (int i = 0; i < n; ++i) {
      std::string content(bytes, 'x');
      std::string label = tag + std::to_string(counter_++);
      // The label starts the first chunk and every later chunk starts with its number: the
      // upload chunks of one file are distinct, as a submission needs.
      for (size_t off = 0; off < content.size(); off += kChunkSize) {
        std::string mark = off == 0 ? label : "/" + std::to_string(off / kChunkSize);
        content.replace(off, std::min(mark.size(), content.size() - off),
                        mark.substr(0, content.size() - off));
      }
      auto s = MakeTestSubmission(node, author_, "case-" + std::to_string(i % 3),
                                  {{"file.bin", content}});
      EXPECT_TRUE(s.ok()) << s.status().ToString();
      if (!s.ok()) return {};
      batch.push_back(std::move(*s));
    }
    auto appended = node.log().Append(batch);
    EXPECT_TRUE(appended.ok()) << appended.status().message();
    return appended.ok() ? *appended : std::vector<Receipt>{};
  }

  uint64_t SizeOf(Node& holder, const Hash& origin) {
    uint64_t size = 0;
    EXPECT_TRUE(holder.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(size, LogSize(txn, origin));
      return Status::Ok();
    }).ok());
    return size;
  }

  uint64_t CountOf(Node& holder, Table table) {
    uint64_t n = 0;
    EXPECT_TRUE(holder.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(n, txn.Count(table));
      return Status::Ok();
    }).ok());
    return n;
  }

  // Makes the first frame of `type` in `body` `change` bytes longer (a zero byte at its end) or
  // shorter, its length field following.
  static void ResizeFirst(Bytes& body, uint8_t type, int change) {
    for (size_t pos = 0; pos + 5 <= body.size();) {
      uint32_t len = uint32_t{body[pos + 1]} << 24 | uint32_t{body[pos + 2]} << 16 |
                     uint32_t{body[pos + 3]} << 8 | body[pos + 4];
      if (body[pos] == type) {
        uint32_t now = len + static_cast<uint32_t>(change);
        for (int k = 0; k < 4; ++k) body[pos + 1 + k] = static_cast<uint8_t>(now >> (24 - 8 * k));
        auto end = body.begin() + static_cast<long>(pos + 5 + len);
        if (change > 0) body.insert(end, static_cast<size_t>(change), 0);
        if (change < 0) body.erase(end + change, end);
        return;
      }
      pos += 5 + len;
    }
  }

  const LogSyncResult* ResultFor(const SyncReport& r, const Hash& origin) {
    for (const auto& l : r.logs) {
      if (l.origin == origin) return &l;
    }
    return nullptr;
  }

  // B pulls A's log from A through a transport that changes each pack first: the log's outcome.
  Status PullAlteredPacks(const std::function<void(Bytes&)>& change) {
    DirectTransport peer(a_->store());
    peer.pack_hook = change;
    auto report = PullFromPeer(b_->store(), peer);
    if (!report.ok()) return report.status();
    return ResultFor(*report, a_->id())->status;
  }

  void ExpectClean(Node& node, const VerifyOptions& options = {}) {
    auto report = VerifyStore(node.store(), options);
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->clean()) << report->problems.front();
  }

  std::filesystem::path dir_;
  SigningKey author_ = SigningKey::Generate();
  std::unique_ptr<Node> a_, b_;
  int counter_ = 0;
};

TEST_F(SyncTest, PullsAWholeLogAndThenOnlyWhatIsNew) {
  Append(*a_, 5, 3 * kChunkSize + 7);  // multi-chunk files
  DirectTransport peer(a_->store());
  auto report = PullFromPeer(b_->store(), peer);
  ASSERT_TRUE(report.ok());
  const LogSyncResult* r = ResultFor(*report, a_->id());
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(r->status.ok()) << r->status.ToString();
  EXPECT_EQ(r->from, 0u);
  EXPECT_EQ(r->to, 5u);
  // Every file is sealed under its own key: no sealed chunk is shared.
  EXPECT_EQ(r->chunks_fetched, 5 * SealedChunksOf(3 * kChunkSize + 7));
  EXPECT_EQ(SizeOf(*b_, a_->id()), 5u);
  ExpectClean(*b_);
  // The replica's objects end with the log's end mark, as the origin's do (keys::ObjectsEnd).
  EXPECT_TRUE(b_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto mark, txn.Get(Table::kObjects, keys::ObjectsEnd(a_->id())));
    EXPECT_TRUE(mark && mark->empty());
    return Status::Ok();
  }).ok());
  // The replica holds the origin's own signed checkpoint.
  EXPECT_EQ(*a_->log().LatestCheckpoint(), [&] {
    std::string cp;
    EXPECT_TRUE(b_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto last, txn.Last(Table::kCheckpoints, a_->id()));
      cp.assign(AsChars(last->second));
      return Status::Ok();
    }).ok());
    return cp;
  }());

  Append(*a_, 3, 5000, "new");  // one sealed chunk each, asked for in one request
  peer.chunk_requests = 0;
  auto again = PullFromPeer(b_->store(), peer);
  ASSERT_TRUE(again.ok());
  r = ResultFor(*again, a_->id());
  ASSERT_TRUE(r->status.ok()) << r->status.ToString();
  EXPECT_EQ(r->from, 5u);
  EXPECT_EQ(r->to, 8u);
  EXPECT_EQ(r->chunks_fetched, 3 * SealedChunksOf(5000));
  EXPECT_EQ(peer.chunk_requests, 1);
  ExpectClean(*b_);
  // Nothing new: nothing fetched.
  auto idle = PullFromPeer(b_->store(), peer);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(ResultFor(*idle, a_->id())->to, 8u);
  EXPECT_EQ(ResultFor(*idle, a_->id())->chunks_fetched, 0u);
  // Files of at most 4 KiB come inside their sealed entries: no chunk is asked for, and the
  // replica holds and verifies them all the same.
  Append(*a_, 3, 4096, "small");
  peer.chunk_requests = 0;
  auto small = PullFromPeer(b_->store(), peer);
  ASSERT_TRUE(small.ok());
  r = ResultFor(*small, a_->id());
  ASSERT_TRUE(r->status.ok()) << r->status.ToString();
  EXPECT_EQ(r->to, 11u);
  EXPECT_EQ(r->chunks_fetched, 0u);
  EXPECT_EQ(peer.chunk_requests, 0);
  ExpectClean(*b_);
}

TEST_F(SyncTest, LargeLogsComeInBatchesAndAnInterruptedSyncResumes) {
  Append(*a_, 1200, 10);
  DirectTransport peer(a_->store());
  peer.packs_left = 1;  // the connection drops after the first pack
  auto first = PullFromPeer(b_->store(), peer);
  ASSERT_TRUE(first.ok());
  const LogSyncResult* r = ResultFor(*first, a_->id());
  EXPECT_FALSE(r->status.ok());
  EXPECT_EQ(SizeOf(*b_, a_->id()), kMaxPackRecords);  // the first batch is committed and whole
  ExpectClean(*b_);
  peer.packs_left = -1;
  auto second = PullFromPeer(b_->store(), peer);
  ASSERT_TRUE(second.ok());
  r = ResultFor(*second, a_->id());
  ASSERT_TRUE(r->status.ok()) << r->status.ToString();
  EXPECT_EQ(r->from, kMaxPackRecords);
  EXPECT_EQ(r->to, 1200u);
  ExpectClean(*b_);
}

TEST_F(SyncTest, TamperedPacksAndChunksAreRefusedBeforeAnyWrite) {
  Append(*a_, 4, 20000);  // larger than 4 KiB: each a sealed chunk of its own
  auto flip_in_frame = [](Bytes& body, uint8_t type, size_t offset) {
    size_t pos = 0;
    while (pos + 5 <= body.size()) {
      uint32_t len = uint32_t{body[pos + 1]} << 24 | uint32_t{body[pos + 2]} << 16 |
                     uint32_t{body[pos + 3]} << 8 | body[pos + 4];
      if (body[pos] == type && len > offset) {
        body[pos + 5 + offset] ^= 0x01;
        return;
      }
      pos += 5 + len;
    }
  };
  const std::string record0 = "record 0 of " + OriginName(a_->id()) + ": ";
  struct Flip {
    uint8_t type;
    size_t offset;
    std::string named;
  };
  for (const Flip& f : {Flip{kFrameRecord, 60, record0 + "prev_record of the first record is not zero (hash chain broken)"},
                        Flip{kFrameObject, 20, record0 + "the object's bytes do not match the record's object id"},
                        Flip{kFrameObject, 600, record0 + "the object's bytes do not match the record's object id"},
                        Flip{kFrameRecord, 110, "record 1 of " + OriginName(a_->id()) +  // record 0's time
                                                    ": prev_record is not the hash of record 0 (hash chain broken)"}}) {
    Status st = PullAlteredPacks([&](Bytes& body) { flip_in_frame(body, f.type, f.offset); });
    EXPECT_EQ(st.code(), Code::kCorruption) << "frame " << f.type << " offset " << f.offset;
    EXPECT_EQ(st.message(), f.named);
    EXPECT_EQ(SizeOf(*b_, a_->id()), 0u);
  }
  // Objects cut short, or with a byte more: refused, nothing held.
  for (int change : {-1, +1}) {
    Status st = PullAlteredPacks([&](Bytes& body) { ResizeFirst(body, kFrameObject, change); });
    EXPECT_EQ(st.code(), Code::kCorruption);
    EXPECT_EQ(st.message(), record0 + "the object's bytes do not match the record's object id");
    EXPECT_EQ(SizeOf(*b_, a_->id()), 0u);
  }
  // Sealed chunks altered, cut short, left out, or one sent that was not asked for: the answer
  // is refused whole, and neither it nor any record is written.
  const std::vector<std::pair<std::string, std::function<void(Bytes&)>>> chunk_forgeries = {
      {"does not match its id", [&](Bytes& body) { flip_in_frame(body, kFrameChunk, 40); }},
      {"does not match its id", [&](Bytes& body) { ResizeFirst(body, kFrameChunk, -1); }},
      {"did not send sealed chunk", [&](Bytes& body) { body = {kFrameEnd, 0, 0, 0, 0}; }},
      {"was not asked for", [&](Bytes& body) {
         Bytes chunk(100, 7);
         Hash id = ChunkId(chunk);
         Bytes payload(id.begin(), id.end());
         payload.insert(payload.end(), chunk.begin(), chunk.end());
         Bytes extra;
         AppendFrame(extra, kFrameChunk, payload);
         body.insert(body.begin(), extra.begin(), extra.end());
       }}};
  for (const auto& [named, forge] : chunk_forgeries) {
    DirectTransport bad_chunks(a_->store());
    bad_chunks.chunk_hook = forge;
    auto report = PullFromPeer(b_->store(), bad_chunks);
    ASSERT_TRUE(report.ok());
    const Status& st = ResultFor(*report, a_->id())->status;
    EXPECT_EQ(st.code(), Code::kCorruption) << named;
    EXPECT_NE(st.message().find(named), std::string::npos) << st.message();
    EXPECT_EQ(SizeOf(*b_, a_->id()), 0u);
    EXPECT_EQ(CountOf(*b_, Table::kChunks), 0u) << named;
    EXPECT_EQ(CountOf(*b_, Table::kObjects), 0u) << named;
  }
  ExpectClean(*b_);
  // And the honest peer still works afterwards.
  DirectTransport honest(a_->store());
  auto ok = PullFromPeer(b_->store(), honest);
  EXPECT_TRUE(ResultFor(*ok, a_->id())->status.ok());
  EXPECT_EQ(SizeOf(*b_, a_->id()), 4u);
}

// A pack on top of records held here is checked as their continuation: its first record
// against the last one held, each case against its last record held.
TEST_F(SyncTest, APackIsCheckedAgainstTheRecordsHeldBeforeIt) {
  Append(*a_, 3);  // cases 0, 1, 2
  DirectTransport first(a_->store());
  ASSERT_TRUE(ResultFor(PullFromPeer(b_->store(), first).value(), a_->id())->status.ok());
  Append(*a_, 2);  // records 3 and 4, cases 0 and 1: each follows a record held at B
  // Rewrites record `index` in the pack's record frames.
  auto rewrite = [](Bytes& body, uint64_t index, const std::function<void(Record&)>& change) {
    for (size_t pos = 0; pos + 5 <= body.size();) {
      uint32_t len = uint32_t{body[pos + 1]} << 24 | uint32_t{body[pos + 2]} << 16 |
                     uint32_t{body[pos + 3]} << 8 | body[pos + 4];
      if (body[pos] == kFrameRecord) {
        auto r = DecodeRecord(ByteView(body).subspan(pos + 5, len));
        if (r.ok() && r->index == index) {
          change(*r);
          Bytes again = Encode(*r);
          std::copy(again.begin(), again.end(), body.begin() + static_cast<long>(pos + 5));
        }
      }
      pos += 5 + len;
    }
  };
  const std::string o = OriginName(a_->id());
  struct Forgery {
    uint64_t index;
    std::function<void(Record&)> change;
    std::string named;
  };
  for (const Forgery& f : {
           Forgery{3, [](Record& r) { r.prev_record[9] ^= 1; },
                   "record 3 of " + o + ": prev_record is not the hash of record 2 (hash chain broken)"},
           Forgery{3, [](Record& r) { r.object_id[0] ^= 1; },
                   "record 3 of " + o + ": the object's bytes do not match the record's object id"},
           Forgery{4, [](Record& r) { r.index = 3; },
                   "record 4 of " + o + ": index is 3, not its position 4 (wrong index)"},
           Forgery{4, [](Record& r) { r.origin[0] ^= 1; },
                   "record 4 of " + o + ": origin is "},
           Forgery{4, [](Record& r) { r.received_at_ms += 1; },  // no chain rule covers it: the root does
                   "the records do not lead to the signed checkpoint's root"}}) {
    Status st = PullAlteredPacks([&](Bytes& body) { rewrite(body, f.index, f.change); });
    EXPECT_EQ(st.code(), Code::kCorruption);
    EXPECT_EQ(st.message().rfind(f.named, 0), 0u) << st.message();
    EXPECT_EQ(SizeOf(*b_, a_->id()), 3u);
  }
  DirectTransport honest(a_->store());
  EXPECT_TRUE(ResultFor(PullFromPeer(b_->store(), honest).value(), a_->id())->status.ok());
  EXPECT_EQ(SizeOf(*b_, a_->id()), 5u);
  ExpectClean(*b_);
}

TEST_F(SyncTest, ForgedCheckpointsAndStrangersAreRefused) {
  Append(*a_, 2);
  DirectTransport forged(a_->store());
  SigningKey impostor = SigningKey::Generate();
  forged.heads_hook = [&](std::vector<Head>& heads) {
    for (Head& h : heads) {
      if (h.origin == a_->id()) {
        h.checkpoint = SignCheckpoint(impostor, h.size, Hash{});
      }
    }
  };
  auto report = PullFromPeer(b_->store(), forged);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(ResultFor(*report, a_->id())->status.code(), Code::kCorruption);
  EXPECT_EQ(SizeOf(*b_, a_->id()), 0u);

  // A node that is not on B's roster: its log is not taken.
  auto stranger = std::move(Node::Init(dir_ / "c", "stranger").value());
  ASSERT_TRUE(RegisterAuthor(stranger->store(), author_.public_key(), "Alice").ok());
  Append(*stranger, 1);
  DirectTransport from_stranger(stranger->store());
  auto r2 = PullFromPeer(b_->store(), from_stranger);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(ResultFor(*r2, stranger->id())->status.code(), Code::kPermissionDenied);
  EXPECT_EQ(SizeOf(*b_, stranger->id()), 0u);
}

TEST_F(SyncTest, EquivocationIsRefusedAndBothCheckpointsKept) {
  Append(*a_, 2, 100, "shared");
  DirectTransport peer(a_->store());
  ASSERT_TRUE(ResultFor(*PullFromPeer(b_->store(), peer), a_->id())->status.ok());
  // A fork: a copy of A's directory with the same key, which then records something else.
  a_.reset();
  std::filesystem::copy(dir_ / "a", dir_ / "a-fork", std::filesystem::copy_options::recursive);
  a_ = std::move(Node::Open(dir_ / "a").value());
  auto fork = std::move(Node::Open(dir_ / "a-fork").value());
  Append(*a_, 1, 100, "honest");
  DirectTransport honest(a_->store());
  ASSERT_TRUE(ResultFor(*PullFromPeer(b_->store(), honest), a_->id())->status.ok());
  ASSERT_EQ(SizeOf(*b_, a_->id()), 3u);

  // The fork at the same size with another record: caught without fetching anything.
  Append(*fork, 1, 100, "rewritten");
  DirectTransport forked_peer(fork->store());
  auto report = PullFromPeer(b_->store(), forked_peer);
  ASSERT_TRUE(report.ok());
  const LogSyncResult* r = ResultFor(*report, a_->id());
  EXPECT_TRUE(r->conflict);
  EXPECT_EQ(r->status.code(), Code::kCorruption);
  // Seen again, the same pair of checkpoints is not recorded twice.
  report = PullFromPeer(b_->store(), forked_peer);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(ResultFor(*report, a_->id())->conflict);
  // The fork grows past us: its consistency proof cannot bridge the two histories. That is
  // refused and both checkpoints are kept, but marked not proven: the failing proof came from
  // the peer, and a faulty relay could cause the same.
  Append(*fork, 2, 100, "rewritten-more");
  report = PullFromPeer(b_->store(), forked_peer);
  ASSERT_TRUE(report.ok());
  r = ResultFor(*report, a_->id());
  EXPECT_FALSE(r->status.ok());
  EXPECT_TRUE(r->conflict);
  EXPECT_EQ(SizeOf(*b_, a_->id()), 3u);
  auto conflicts = ListConflicts(b_->store());
  ASSERT_TRUE(conflicts.ok());
  ASSERT_EQ(conflicts->size(), 2u);
  int proven = 0;
  for (const Conflict& c : *conflicts) {
    EXPECT_EQ(c.origin, a_->id());
    EXPECT_NE(c.ours.find("\n3\n"), std::string::npos);
    if (c.proven) {
      ++proven;
      EXPECT_NE(c.theirs.find("\n3\n"), std::string::npos);
    } else {
      EXPECT_NE(c.theirs.find("\n5\n"), std::string::npos);
    }
  }
  EXPECT_EQ(proven, 1);
  // Both halves of the evidence verify under the origin's key: proof, not hearsay.
  auto verifier = ParseVerifierKey(a_->verifier_key());
  for (const Conflict& c : *conflicts) {
    EXPECT_TRUE(NoteSignedBy(*ParseSignedNote(c.ours), *verifier));
    EXPECT_TRUE(NoteSignedBy(*ParseSignedNote(c.theirs), *verifier));
  }
  // The honest continuation is still accepted.
  Append(*a_, 1, 100, "honest-more");
  EXPECT_TRUE(ResultFor(*PullFromPeer(b_->store(), honest), a_->id())->status.ok());
  EXPECT_EQ(SizeOf(*b_, a_->id()), 4u);
  ExpectClean(*b_);
}

// A node that lost its disk takes back its identity and archive key and pulls its own log back
// from a partner that holds it sealed. It opens every entry with its archive key and rebuilds
// the indexes only an origin keeps, so that get, export and a repeated submission work again.
TEST_F(SyncTest, ARestoredNodeRebuildsItsOwnIndexesFromItsSealedLog) {
  std::vector<Receipt> receipts = Append(*a_, 5, 2 * kChunkSize + 5);
  auto repeat = MakeTestSubmission(*a_, author_, "case-0", {{"again.txt", "repeated"}});
  ASSERT_TRUE(repeat.ok());
  auto first = a_->log().Append({*repeat});
  ASSERT_TRUE(first.ok());
  DirectTransport from_a(a_->store());
  ASSERT_TRUE(ResultFor(*PullFromPeer(b_->store(), from_a), a_->id())->status.ok());

  NodeInitOptions again;
  again.node_key = SigningKey::FromPem(a_->key().ToPem()).value();
  again.archive_key = a_->archive_key();
  auto restored = Node::Init(dir_ / "a-restored", "ngo-a", std::move(again));
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  Node& a2 = **restored;
  ASSERT_EQ(a2.id(), a_->id());
  ASSERT_TRUE(RegisterAuthor(a2.store(), author_.public_key(), "Alice").ok());
  ASSERT_TRUE(AddMember(a2.store(), b_->verifier_key(), "").ok());
  DirectTransport from_b(b_->store());
  // Without its archive key it cannot rebuild its indexes: nothing is taken.
  auto refused = PullFromPeer(a2.store(), from_b);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(ResultFor(*refused, a_->id())->status.code(), Code::kPermissionDenied);
  EXPECT_EQ(SizeOf(a2, a_->id()), 0u);

  auto pulled = PullFromPeer(a2.store(), from_b, nullptr, &a2.archive_key());
  ASSERT_TRUE(pulled.ok());
  ASSERT_TRUE(ResultFor(*pulled, a_->id())->status.ok())
      << ResultFor(*pulled, a_->id())->status.ToString();
  EXPECT_EQ(SizeOf(a2, a_->id()), 6u);
  ASSERT_TRUE(FinishRestore(a2.store()).ok());
  VerifyOptions own;
  own.archive_key = &a2.archive_key();
  own.origin = a2.id();
  ExpectClean(a2, own);
  // Every entry opens again, with the archive key and with its case's key, and every byte reads.
  for (const Receipt& r : receipts) {
    ASSERT_TRUE(a2.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(OpenedEntry e, OpenEntry(txn, a2.id(), EntryKey::Archive(a2.archive_key()), r.entry_id));
      SymmetricKey case_key = DeriveCaseKey(a2.archive_key(), e.case_id);
      KH_ASSIGN_OR_RETURN(OpenedEntry by_case, OpenEntry(txn, a2.id(), EntryKey::Case(e.case_id, case_key), r.entry_id));
      EXPECT_EQ(by_case.entry, e.entry);
      SymmetricKey file_key = DeriveFileKey(e.case_key, e.sealed.nonce, 0);
      KH_ASSIGN_OR_RETURN(SealedFileReader reader,
                          SealedFileReader::Open(ChunksIn(txn), e.sealed, e.files[0].descriptor, file_key, 0));
      KH_ASSIGN_OR_RETURN(Bytes head, reader.Read(0, 16));
      EXPECT_EQ(head.size(), 16u);
      return Status::Ok();
    }).ok());
  }
  // The case index lists each case's records again (case-0: records 0, 3 and 5).
  std::vector<uint64_t> case0;
  ASSERT_TRUE(a2.store().View([&](ReadTxn& txn) -> Status {
    return txn.ScanKeys(Table::kCaseIndex, keys::CasePrefix(txn, "case-0", a2.id()),
                        [&](ByteView key) -> Result<bool> {
                          KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodeCaseRecord(key));
                          case0.push_back(at.index);
                          return true;
                        });
  }).ok());
  EXPECT_EQ(case0, (std::vector<uint64_t>{0, 3, 5}));
  // A submission logged before the loss is recognised, not logged twice.
  auto logged_as = a2.log().LoggedAs(repeat->entry);
  ASSERT_TRUE(logged_as.ok());
  EXPECT_EQ(*logged_as, std::optional<Hash>((*first)[0].entry_id));
  auto resubmitted = MakeTestSubmission(a2, author_, "case-0", {{"again.txt", "repeated"}});
  ASSERT_TRUE(resubmitted.ok());
  resubmitted->entry = repeat->entry;
  resubmitted->files[0].opening = repeat->files[0].opening;
  EXPECT_EQ(a2.log().Append({*resubmitted}).status().code(), Code::kAlreadyExists);
  // And it logs on, its case chains continuing the old ones (verify checks the link boxes).
  Append(a2, 3, 10, "after");
  EXPECT_EQ(SizeOf(a2, a_->id()), 9u);
  ExpectClean(a2, own);
  // B takes the continuation as it took the rest.
  DirectTransport from_a2(a2.store());
  ASSERT_TRUE(ResultFor(*PullFromPeer(b_->store(), from_a2), a_->id())->status.ok());
  EXPECT_EQ(SizeOf(*b_, a_->id()), 9u);
  ExpectClean(*b_);
}

// A cosignature says "verified and fully held": a partner missing one sealed chunk of the prefix
// does not cosign it, and does once the chunk is back.
TEST_F(SyncTest, APartnerCosignsOnlyAPrefixItHoldsWhole) {
  std::vector<Receipt> receipts = Append(*a_, 3, kChunkSize + 10);
  DirectTransport from_a(a_->store());
  ASSERT_TRUE(ResultFor(*PullFromPeer(b_->store(), from_a), a_->id())->status.ok());
  Hash chunk{};
  Bytes chunk_bytes;
  ASSERT_TRUE(b_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, a_->id(), 1));
    KH_ASSIGN_OR_RETURN(SealedEntry e, DecodeSealedEntry(logged.object_bytes));
    chunk = e.files[0].chunks[1];
    KH_ASSIGN_OR_RETURN(chunk_bytes, ReadChunk(txn, chunk));
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(b_->store().Update([&](WriteTxn& txn) { return txn.Delete(Table::kChunks, chunk); }).ok());
  Witness witness{b_->cosigner_name(), &b_->cosigner_key()};
  std::string withheld;
  auto cosigned = CosignLatest(b_->store(), a_->id(), witness, 1767225600, &withheld);
  ASSERT_TRUE(cosigned.ok());
  EXPECT_FALSE(*cosigned);
  EXPECT_NE(withheld.find("record 1 of"), std::string::npos) << withheld;
  EXPECT_NE(withheld.find(ToHex(chunk)), std::string::npos) << withheld;
  // A damaged chunk is no better than a missing one.
  Bytes damaged = chunk_bytes;
  damaged[5] ^= 1;
  ASSERT_TRUE(b_->store().Update([&](WriteTxn& txn) { return txn.Put(Table::kChunks, chunk, damaged); }).ok());
  EXPECT_FALSE(*CosignLatest(b_->store(), a_->id(), witness, 1767225600));
  ASSERT_TRUE(b_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto sizes, CosignedSizes(txn, a_->id()));
    EXPECT_TRUE(sizes.empty());
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(b_->store().Update([&](WriteTxn& txn) { return txn.Put(Table::kChunks, chunk, chunk_bytes); }).ok());
  EXPECT_TRUE(*CosignLatest(b_->store(), a_->id(), witness, 1767225600));
  // A sync with a witness cosigns what it has just fetched whole.
  Append(*a_, 2, 10);
  auto report = PullFromPeer(b_->store(), from_a, &witness);
  ASSERT_TRUE(report.ok());
  const LogSyncResult* r = ResultFor(*report, a_->id());
  ASSERT_TRUE(r->status.ok());
  EXPECT_TRUE(r->cosigned);
  EXPECT_TRUE(r->cosign_withheld.empty());
  ASSERT_TRUE(b_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto cosigs, VerifiedCosignatures(txn, a_->id(), 5));
    EXPECT_EQ(cosigs.size(), 1u);
    return Status::Ok();
  }).ok());
}

TEST_F(SyncTest, FramesAreBounded) {
  Bytes body;
  AppendFrame(body, kFrameRecord, Bytes(kMaxRecordFrame + 1, 0));
  AppendFrame(body, kFrameEnd, {});
  EXPECT_FALSE(ParseFrames(body).ok());
  Bytes truncated;
  AppendFrame(truncated, kFrameObject, Bytes(10, 1));
  truncated.resize(truncated.size() - 3);
  EXPECT_FALSE(ParseFrames(truncated).ok());
  Bytes no_end;
  AppendFrame(no_end, kFrameObject, Bytes(10, 1));
  EXPECT_FALSE(ParseFrames(no_end).ok());
  Bytes trailing;
  AppendFrame(trailing, kFrameEnd, {});
  trailing.push_back(0);
  EXPECT_FALSE(ParseFrames(trailing).ok());
  Bytes unknown;
  AppendFrame(unknown, 'Q', {});
  AppendFrame(unknown, kFrameEnd, {});
  EXPECT_FALSE(ParseFrames(unknown).ok());
  Bytes huge{kFrameObject, 0xff, 0xff, 0xff, 0xff};
  EXPECT_FALSE(ParseFrames(huge).ok());
  Bytes chunk_too_long;
  AppendFrame(chunk_too_long, kFrameChunk, Bytes(32 + kSealedChunkSize + 1, 0));
  AppendFrame(chunk_too_long, kFrameEnd, {});
  EXPECT_FALSE(ParseFrames(chunk_too_long).ok());
  // A pack is a record and its object, again and again.
  Bytes lone_record;
  AppendFrame(lone_record, kFrameRecord, Bytes(kRecordBytes, 0));
  AppendFrame(lone_record, kFrameEnd, {});
  EXPECT_FALSE(ParsePack(lone_record).ok());
  Bytes object_first;
  AppendFrame(object_first, kFrameObject, Bytes(10, 0));
  AppendFrame(object_first, kFrameRecord, Bytes(kRecordBytes, 0));
  AppendFrame(object_first, kFrameEnd, {});
  EXPECT_FALSE(ParsePack(object_first).ok());
  EXPECT_FALSE(HeadsFromJson("{\"protocol\":2,\"logs\":[{\"origin\":\"zz\"}]}").ok());
  EXPECT_FALSE(HeadsFromJson("{\"protocol\":1,\"logs\":[]}").ok());
  EXPECT_TRUE(HeadsFromJson("{\"protocol\":2,\"logs\":[]}").ok());
}

}  // namespace
}  // namespace khronika
