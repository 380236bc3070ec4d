#include "khronika/replication/sync.h"

#include <cstdlib>
#include <filesystem>
#include <functional>

#include <gtest/gtest.h>

#include "direct_transport_for_tests.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/replication/roster.h"
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

  // Appends `n` entries to `node`, each with one file of `bytes` bytes.
  void Append(Node& node, int n, size_t bytes = 100, const std::string& tag = "") {
    std::vector<Submission> batch;
    for (int i = 0; i < n; ++i) {
      std::string content(bytes, 'x');
      std::string label = tag + std::to_string(counter_++);
      // The label starts the first chunk; every later chunk starts with its number, so no chunk
      // repeats within a file while files still share their later chunks.
      for (size_t off = 0; off < content.size(); off += kChunkSize) {
        std::string mark = off == 0 ? label : "/" + std::to_string(off / kChunkSize);
        content.replace(off, std::min(mark.size(), content.size() - off), mark.substr(0, content.size() - off));
      }
      FileManifest m;
      m.name = "file.bin";
      m.media_type = "application/octet-stream";
      m.size = content.size();
      m.content_sha256 = Sha256(content);
      ASSERT_TRUE(node.store().Update([&](WriteTxn& txn) -> Status {
        for (size_t off = 0; off < content.size(); off += kChunkSize) {
          std::string piece = content.substr(off, kChunkSize);
          KH_ASSIGN_OR_RETURN(Hash id, PutChunk(txn, AsBytes(piece)));
          m.chunks.push_back(id);
        }
        return Status::Ok();
      }).ok());
      Submission s;
      s.entry.case_id = "case-" + std::to_string(i % 3);
      s.entry.kind = "evidence";
      s.entry.created_at_ms = 1767225600000;
      s.entry.manifests = {ObjectId(Encode(m))};
      SignEntry(s.entry, author_);
      s.manifests = {m};
      batch.push_back(std::move(s));
    }
    auto appended = node.log().Append(batch);
    ASSERT_TRUE(appended.ok()) << appended.status().message();
  }

  uint64_t SizeOf(Node& holder, const Hash& origin) {
    uint64_t size = 0;
    EXPECT_TRUE(holder.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(size, LogSize(txn, origin));
      return Status::Ok();
    }).ok());
    return size;
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

  void ExpectClean(Node& node) {
    auto report = VerifyStore(node.store());
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
  // 5 distinct first chunks; the 3 later chunks are the same in every file and cross once.
  EXPECT_EQ(r->chunks_fetched, 8u);
  EXPECT_EQ(SizeOf(*b_, a_->id()), 5u);
  ExpectClean(*b_);
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

  Append(*a_, 3, 50, "new");
  peer.chunk_requests = 0;
  auto again = PullFromPeer(b_->store(), peer);
  ASSERT_TRUE(again.ok());
  r = ResultFor(*again, a_->id());
  ASSERT_TRUE(r->status.ok()) << r->status.ToString();
  EXPECT_EQ(r->from, 5u);
  EXPECT_EQ(r->to, 8u);
  EXPECT_EQ(r->chunks_fetched, 3u);
  ExpectClean(*b_);
  // Nothing new: nothing fetched.
  auto idle = PullFromPeer(b_->store(), peer);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(ResultFor(*idle, a_->id())->to, 8u);
  EXPECT_EQ(ResultFor(*idle, a_->id())->chunks_fetched, 0u);
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
  Append(*a_, 4, 2000);
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
                        Flip{kFrameEntry, 20, record0 + "entry bytes do not match the entry id"},
                        Flip{kFrameManifest, 12, record0 + "manifest does not match the entry"},
                        Flip{kFrameRecord, 140, "record 1 of " + OriginName(a_->id()) +  // record 0's time
                                                    ": prev_record is not the hash of record 0 (hash chain broken)"}}) {
    Status st = PullAlteredPacks([&](Bytes& body) { flip_in_frame(body, f.type, f.offset); });
    EXPECT_EQ(st.code(), Code::kCorruption) << "frame " << f.type << " offset " << f.offset;
    EXPECT_EQ(st.message(), f.named);
    EXPECT_EQ(SizeOf(*b_, a_->id()), 0u);
  }
  DirectTransport bad_chunks(a_->store());
  bad_chunks.chunk_hook = [&](Bytes& body) { flip_in_frame(body, kFrameChunk, 40); };
  auto report = PullFromPeer(b_->store(), bad_chunks);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(ResultFor(*report, a_->id())->status.ok());
  EXPECT_EQ(SizeOf(*b_, a_->id()), 0u);
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
           Forgery{3, [](Record& r) { r.prev_case_record = Hash{}; },
                   "record 3 of " + o + ": prev_case_record is not the hash of the case's previous record "
                   "in this log (case chain broken)"},
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

TEST_F(SyncTest, FramesAreBounded) {
  Bytes body;
  AppendFrame(body, kFrameRecord, Bytes(kMaxRecordFrame + 1, 0));
  AppendFrame(body, kFrameEnd, {});
  EXPECT_FALSE(ParseFrames(body).ok());
  Bytes truncated;
  AppendFrame(truncated, kFrameEntry, Bytes(10, 1));
  truncated.resize(truncated.size() - 3);
  EXPECT_FALSE(ParseFrames(truncated).ok());
  Bytes no_end;
  AppendFrame(no_end, kFrameEntry, Bytes(10, 1));
  EXPECT_FALSE(ParseFrames(no_end).ok());
  Bytes trailing;
  AppendFrame(trailing, kFrameEnd, {});
  trailing.push_back(0);
  EXPECT_FALSE(ParseFrames(trailing).ok());
  Bytes unknown;
  AppendFrame(unknown, 'Q', {});
  AppendFrame(unknown, kFrameEnd, {});
  EXPECT_FALSE(ParseFrames(unknown).ok());
  Bytes huge{kFrameManifest, 0xff, 0xff, 0xff, 0xff};
  EXPECT_FALSE(ParseFrames(huge).ok());
  EXPECT_FALSE(HeadsFromJson("{\"protocol\":1,\"logs\":[{\"origin\":\"zz\"}]}").ok());
  EXPECT_FALSE(HeadsFromJson("{\"protocol\":2,\"logs\":[]}").ok());
}

}  // namespace
}  // namespace khronika
