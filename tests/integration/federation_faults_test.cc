// Federation under faults, each node a real `khronika serve` on 127.0.0.1 with no pull schedule
// (sync_interval_s = 0: only `khronika sync` and the origin's notifications move data):
//  - relay: a log reaches C through B after its origin A is gone for good;
//  - a hostile peer serving a tampered record is refused and nothing of its pack is kept;
//  - a forked origin (its data directory and key copied, then both copies appended to) is
//    refused, both signed checkpoints are kept as proof, and the node keeps serving what it held;
//  - `khronika sync` killed with SIGKILL in the middle of a multi-pack pull leaves a clean store,
//    and the next sync resumes where the killed one stopped.
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealing.h"
#include "server_fixture.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

constexpr const char* kNoSchedule = "sync_interval_s = 0\n";

// A node whose server can be stopped and started again (on a new port each time).
class FedNode {
 public:
  // Encrypted unless `encrypted` is false (a node whose disk the test edits by content).
  explicit FedNode(bool encrypted = true) : node_(MakeNodeWithAuthor(dir_, encrypted)) {
    WriteFile(node_.data / "khronika.conf", kNoSchedule);
    RunResult r = RunKhronika({"id", "--data", node_.data.string(), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    id_ = json::parse(r.out);
  }
  // A node made from a copy of another node's data directory (same key, same certificate).
  explicit FedNode(const std::filesystem::path& copy_of) {
    node_ = {dir_ / "node", dir_ / "author.key"};
    std::filesystem::copy(copy_of, node_.data, std::filesystem::copy_options::recursive);
    RunResult r = RunKhronika({"id", "--data", node_.data.string(), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    id_ = json::parse(r.out);
  }

  void Start() {
    server_ = std::make_unique<ServerProcess>(node_.data);
    ASSERT_TRUE(server_->started());
  }
  void Stop() {
    if (server_) {
      EXPECT_EQ(server_->Stop(), 0) << server_->Stderr();
    }
  }
  ServerProcess& server() { return *server_; }
  bool serving() const { return server_ && server_->started(); }
  std::string url() const { return serving() ? server_->url() : "https://127.0.0.1:1"; }

  const TempDir& dir() const { return dir_; }
  std::filesystem::path operator/(const std::string& name) const { return dir_ / name; }
  std::string data() const { return node_.data.string(); }
  const std::filesystem::path& key() const { return node_.key; }
  std::string node_id() const { return id_["node_id"]; }
  const json& id() const { return id_; }

  RunResult Submit(const std::string& token, const std::string& case_id,
                   const std::vector<std::filesystem::path>& files) const {
    std::vector<std::string> args{"submit", "--node",  server_->url(),     "--pin",
                                  server_->pin(), "--token", token,        "--key",
                                  node_.key.string(), "--case", case_id,   "--json"};
    for (const auto& f : files) args.push_back(f.string());
    return RunKhronika(args);
  }

 private:
  TempDir dir_;
  LocalNode node_;
  json id_;
  std::unique_ptr<ServerProcess> server_;
};

// `x` accepts `y`'s log.
void Member(FedNode& x, const FedNode& y) {
  RunResult m = RunKhronika({"member", "add", "--data", x.data(), "--vkey", y.id()["vkey"],
                             "--cosigner-vkey", y.id()["cosigner_vkey"]});
  ASSERT_EQ(m.exit_code, 0) << m.err;
}

// `x` knows `y` as a peer, at y's current URL (replacing any earlier entry for y).
void PeerOf(FedNode& x, const FedNode& y) {
  (void)RunKhronika({"peer", "remove", "--data", x.data(), y.node_id()});
  RunResult p = RunKhronika({"peer", "add", "--data", x.data(), "--url", y.url(), "--id",
                             y.node_id(), "--cert-sha256", y.id()["cert_sha256"]});
  ASSERT_EQ(p.exit_code, 0) << p.err;
}

void Peers(FedNode& x, FedNode& y) {
  PeerOf(x, y);
  PeerOf(y, x);
}

std::vector<std::string> EntryIds(const FedNode& n, const std::string& origin) {
  RunResult r = RunKhronika({"log", "--data", n.data(), "--origin", origin, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> ids;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    json record = json::parse(line);
    // Evidence only: custody records (token grants, reads) have their own tests.
    if (record["object_type"] == "sealed_entry") ids.push_back(record["entry_id"]);
  }
  return ids;
}

std::vector<json> LogOf(const FedNode& n, const std::string& origin) {
  RunResult r = RunKhronika({"log", "--data", n.data(), "--origin", origin, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

std::string CheckpointOf(const FedNode& n, const std::string& origin) {
  RunResult r = RunKhronika({"checkpoint", "--data", n.data(), "--origin", origin});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

json StatusOf(const FedNode& n) {
  RunResult r = RunKhronika({"status", "--data", n.data(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

uint64_t RecordsHeld(const FedNode& n, const std::string& origin) {
  json status = StatusOf(n);
  for (const auto& log : status["logs"]) {
    if (log["origin"] == origin) return log["records"].get<uint64_t>();
  }
  return 0;
}

// Waits (up to 10 s) until `n` holds `count` records of `origin`.
// Waits until `n` holds `count` entries of `origin`'s log (custody records, such as the grants of
// the origin's tokens, come on top).
void WaitForRecords(const FedNode& n, const std::string& origin, uint64_t count) {
  for (int i = 0; i < 200 && EntryIds(n, origin).size() < count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void ExpectVerifyClean(const FedNode& n) {
  RunResult v = RunKhronika({"verify", "--data", n.data()});
  EXPECT_EQ(v.exit_code, 0) << n.data() << ":\n" << v.out << v.err;
}

// A logical dump of the store: every named LMDB database (`mdb_dump -a`), without the
// "peer_status/..." keys of the meta table, where each pull records its outcome for
// `khronika status` (expected to change: that is where the refusal's reason is kept).
std::string LogicalDump(const FedNode& n) {
  RunResult r = RunProgram({"mdb_dump", "-a", (std::filesystem::path(n.data()) / "store").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string peer_status_hex;
  for (unsigned char ch : std::string("peer_status/")) {
    const char* digits = "0123456789abcdef";
    peer_status_hex += digits[ch >> 4];
    peer_status_hex += digits[ch & 15];
  }
  std::istringstream in(r.out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out;
  bool in_data = false, is_key = true;
  int databases = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line == "HEADER=END") {
      in_data = true;
      is_key = true;
      ++databases;
    } else if (line == "DATA=END") {
      in_data = false;
    } else if (in_data) {
      // Data lines alternate key, value (each a space and hex).
      if (is_key && line.rfind(" " + peer_status_hex, 0) == 0) {
        ++i;  // skip its value too
        continue;
      }
      is_key = !is_key;
    }
    out += line + "\n";
  }
  EXPECT_GE(databases, 10) << r.out.substr(0, 2000);
  return out;
}

// Appends `count` entries to the node's own log through the library (the node's server must not
// be running), each with one small file of its own; `batch` entries per transaction.
void AppendDirect(const FedNode& n, int count, int batch, const std::string& tag) {
  auto node = Node::Open(n.data());
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  auto author = SigningKey::FromPem(ReadFile(n.key()));
  ASSERT_TRUE(author.ok());
  for (int done = 0; done < count;) {
    std::vector<Submission> subs;
    std::vector<std::string> contents;
    for (int i = 0; i < batch && done < count; ++i, ++done) {
      contents.push_back(tag + " statement " + std::to_string(done) + "\n" +
                         std::string(4000 + done % 97, static_cast<char>('a' + done % 26)));
      SubmittedFile f;
      f.opening.descriptor = {"s" + std::to_string(done) + ".txt", "text/plain",
                              contents.back().size(), Sha256(contents.back())};
      RandomBytes(f.opening.salt.data(), f.opening.salt.size());
      Submission s;
      s.entry.case_id = "case-" + std::to_string(done % 5);
      s.entry.author = author->public_key();
      s.entry.kind = "evidence";
      s.entry.created_at_ms = SystemClock().NowMs();
      s.entry.files = {FileCommitment(f.opening.salt, Encode(f.opening.descriptor))};
      SignEntry(s.entry, *author);
      s.files = {std::move(f)};
      subs.push_back(std::move(s));
    }
    // The plaintext upload chunks, as `add` stores them (no uploader), one transaction a batch.
    Status put = (*node)->store().Update([&](WriteTxn& txn) -> Status {
      for (size_t i = 0; i < subs.size(); ++i) {
        KH_ASSIGN_OR_RETURN(Hash id, PutUploadChunk(txn, "", AsBytes(contents[i])));
        subs[i].files[0].upload_chunks = {id};
      }
      return Status::Ok();
    });
    ASSERT_TRUE(put.ok()) << put.ToString();
    auto receipts = (*node)->log().Append(subs);
    ASSERT_TRUE(receipts.ok()) << receipts.status().ToString();
  }
}

// The plaintext of file `name` of entry `entry_id` of `origin`'s log as `holder` holds it,
// opened with `origin`'s archive key (read from its data directory: its server must be stopped):
// what only the origin can do with a partner's copy.
std::string OpenHeldFile(const FedNode& holder, const FedNode& origin, const std::string& entry_id,
                         const std::string& name) {
  auto owner = Node::Open(origin.data(), StoreOptions{.read_only = true});
  auto held = Node::Open(holder.data(), StoreOptions{.read_only = true});
  auto id = ParseHashHex(entry_id);
  auto origin_id = ParseHashHex(origin.node_id());
  if (!owner.ok() || !held.ok() || !id.ok() || !origin_id.ok()) {
    ADD_FAILURE() << "cannot open " << origin.data() << " or " << holder.data();
    return "";
  }
  std::string out;
  Status st = (*held)->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(OpenedEntry e, OpenEntry(txn, *origin_id,
                                                 EntryKey::Archive((*owner)->archive_key()), *id));
    for (uint32_t i = 0; i < e.files.size(); ++i) {
      if (e.files[i].descriptor.name != name) continue;
      KH_ASSIGN_OR_RETURN(SealedFileReader reader,
                          SealedFileReader::Open(ChunksIn(txn), e.sealed, e.files[i].descriptor,
                                                 DeriveFileKey(e.case_key, e.sealed.nonce, i), i));
      while (out.size() < reader.size()) {
        KH_ASSIGN_OR_RETURN(Bytes piece, reader.Read(out.size(), kChunkSize));
        if (piece.empty()) return Status::Corruption("short file");
        out.append(AsChars(piece));
      }
      return Status::Ok();
    }
    return Status::NotFound("no file " + name);
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

// ---------------------------------------------------------------------------------------------

TEST(FederationFaultsTest, RelayCarriesALogPastItsStoppedOrigin) {
  FedNode a, b, c;
  for (FedNode* x : {&a, &b, &c}) {
    for (FedNode* y : {&a, &b, &c}) {
      if (x != y) Member(*x, *y);
    }
  }
  for (FedNode* n : {&a, &b, &c}) n->Start();
  Peers(a, b);  // B and C are peered only once A is gone; A and C never are
  Token submitter = MakeToken(a.data(), "submitter");
  std::vector<std::string> acknowledged;
  WritePseudoRandomFile(a / "photo.jpg", 1024 * 1024 + 77, 3);
  for (int i = 0; i < 5; ++i) {
    std::filesystem::path note = a / ("n" + std::to_string(i) + ".txt");
    WriteFile(note, "relayed statement " + std::to_string(i));
    std::vector<std::filesystem::path> files = {note};
    if (i == 2) files.push_back(a / "photo.jpg");
    RunResult r = a.Submit(submitter.secret, "case-r", files);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    acknowledged.push_back(json::parse(r.out)["entry_id"]);
  }
  // B pulls from A. Its server pulls by itself after A's notifications: let that settle first,
  // since two concurrent pulls of one log can fail each other (see ConcurrentPullsOfOneLog...).
  WaitForRecords(b, a.node_id(), acknowledged.size());
  RunResult sb = RunKhronika({"sync", "--data", b.data(), "--peer", a.node_id()});
  ASSERT_EQ(sb.exit_code, 0) << sb.out << sb.err;
  std::string checkpoint_a = RunKhronika({"checkpoint", "--data", a.data()}).out;
  ASSERT_FALSE(checkpoint_a.empty());
  a.Stop();  // for good
  Peers(b, c);

  RunResult sc = RunKhronika({"sync", "--data", c.data(), "--peer", b.node_id()});
  ASSERT_EQ(sc.exit_code, 0) << sc.out << sc.err;
  EXPECT_EQ(EntryIds(c, a.node_id()), acknowledged);
  EXPECT_EQ(RecordsHeld(c, a.node_id()), RecordsHeld(b, a.node_id()));
  ExpectVerifyClean(c);
  EXPECT_EQ(CheckpointOf(c, a.node_id()), checkpoint_a);
  // The file content crossed too, sealed: C cannot read it, but A's archive key opens what C
  // holds, byte for byte.
  RunResult cat = RunKhronika({"cat", "--data", c.data(), acknowledged[2], "photo.jpg"});
  EXPECT_NE(cat.exit_code, 0) << "a partner read another member's file";
  EXPECT_EQ(cat.out, "");
  EXPECT_EQ(OpenHeldFile(c, a, acknowledged[2], "photo.jpg"), ReadFile(a / "photo.jpg"));
  // A second round finds nothing more to move and no error with A gone (C only peers with B).
  RunResult again = RunKhronika({"sync", "--data", c.data()});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

// ---------------------------------------------------------------------------------------------

TEST(FederationFaultsTest, HostilePeerServingATamperedRecordIsRefusedAndNothingIsKept) {
  FedNode a, q;
  FedNode p(/*encrypted=*/false);  // its record is found in data.mdb by its bytes
  Member(p, a);
  Member(q, a);
  a.Start();
  p.Start();
  Peers(a, p);
  Token submitter = MakeToken(a.data(), "submitter");
  std::vector<std::string> acknowledged;
  for (int i = 0; i < 3; ++i) {
    std::filesystem::path note = a / ("t" + std::to_string(i) + ".txt");
    WriteFile(note, "statement kept by a partner " + std::to_string(i));
    RunResult r = a.Submit(submitter.secret, "case-h", {note});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    acknowledged.push_back(json::parse(r.out)["entry_id"]);
  }
  WaitForRecords(p, a.node_id(), acknowledged.size());  // P's server pulls after notifications
  RunResult sp = RunKhronika({"sync", "--data", p.data(), "--peer", a.node_id()});
  ASSERT_EQ(sp.exit_code, 0) << sp.out << sp.err;
  ASSERT_EQ(EntryIds(p, a.node_id()), acknowledged);

  // P's disk is tampered with while its server is down: one byte of A's record 1.
  p.Stop();
  std::vector<json> records = LogOf(p, a.node_id());
  ASSERT_GE(records.size(), 3u);  // the entries, after the grants of A's tokens
  auto record = FromHex(records[1]["record_hex"].get<std::string>());
  ASSERT_TRUE(record.ok());
  std::string needle(AsChars(*record));
  std::filesystem::path mdb = std::filesystem::path(p.data()) / "store" / "data.mdb";
  std::string db = ReadFile(mdb);
  int flipped = 0;
  for (size_t pos = db.find(needle); pos != std::string::npos; pos = db.find(needle, pos + 1)) {
    db[pos + needle.size() - 3] = static_cast<char>(db[pos + needle.size() - 3] ^ 0x01);
    ++flipped;
  }
  ASSERT_GE(flipped, 1);
  WriteFile(mdb, db);
  p.Start();

  // Q, a fresh node, pulls A's log from P only.
  Peers(p, q);
  std::string before = LogicalDump(q);
  RunResult sq = RunKhronika({"sync", "--data", q.data(), "--peer", p.node_id()});
  EXPECT_EQ(sq.exit_code, 1) << sq.out << sq.err;
  EXPECT_NE(sq.out.find("failed: "), std::string::npos) << sq.out;
  EXPECT_NE(sq.out.find("record"), std::string::npos) << "no reason naming the record: " << sq.out;
  EXPECT_EQ(LogicalDump(q), before) << "a refused pack left something in Q's store";
  EXPECT_EQ(RecordsHeld(q, a.node_id()), 0u);
  json status = StatusOf(q);
  bool reason_kept = false;
  for (const auto& peer : status["peers"]) {
    if (peer["node_id"] == p.node_id() && peer.contains("last_error")) {
      reason_kept = !peer["last_error"].get<std::string>().empty();
    }
  }
  EXPECT_TRUE(reason_kept) << status.dump();
  EXPECT_EQ(status["conflicts"], 0) << "a tampered record at a replica is not the origin's fork";
  ExpectVerifyClean(q);

  // The refusal poisoned nothing: the same node then gets the genuine log from A.
  Peers(a, q);
  RunResult sa = RunKhronika({"sync", "--data", q.data(), "--peer", a.node_id()});
  ASSERT_EQ(sa.exit_code, 0) << sa.out << sa.err;
  EXPECT_EQ(EntryIds(q, a.node_id()), acknowledged);
  ExpectVerifyClean(q);
}

// ---------------------------------------------------------------------------------------------

TEST(FederationFaultsTest, ForkedOriginIsRefusedAndBothCheckpointsAreKeptAsProof) {
  FedNode a, q, r;
  Member(q, a);
  Member(r, a);
  Member(r, q);
  a.Start();
  q.Start();
  Peers(a, q);
  Token submitter = MakeToken(a.data(), "submitter");
  for (int i = 0; i < 3; ++i) {
    std::filesystem::path note = a / ("f" + std::to_string(i) + ".txt");
    WriteFile(note, "before the fork " + std::to_string(i));
    RunResult s = a.Submit(submitter.secret, "case-f", {note});
    ASSERT_EQ(s.exit_code, 0) << s.err;
  }
  WaitForRecords(q, a.node_id(), 3);  // Q's server pulls after A's notifications

  // A's operator copies the whole data directory, key included, and runs two histories from
  // record 3 on: one more entry on each, different ones. (Same size, other root: a proof that
  // stands on its own. A fork that is only ahead of what Q holds is refused without accusing
  // anyone, since the failing consistency proof comes from the peer, not the origin.)
  a.Stop();
  FedNode a2(std::filesystem::path(a.data()));
  ASSERT_EQ(a2.node_id(), a.node_id());
  WriteFile(a / "one.txt", "history one");
  WriteFile(a / "two.txt", "history two, first");
  WriteFile(a / "three.txt", "history two, second");
  RunResult add1 = RunKhronika({"add", "--data", a.data(), "--key", a.key().string(), "--case",
                                "case-f", (a / "one.txt").string()});
  ASSERT_EQ(add1.exit_code, 0) << add1.err;
  for (const char* f : {"two.txt"}) {
    RunResult add2 = RunKhronika({"add", "--data", a2.data(), "--key", a.key().string(), "--case",
                                  "case-f", (a / f).string()});
    ASSERT_EQ(add2.exit_code, 0) << add2.err;
  }
  // Q pulls history one from A (serving again, at a new address), then A is gone.
  a.Start();
  PeerOf(q, a);
  RunResult s1 = RunKhronika({"sync", "--data", q.data(), "--peer", a.node_id()});
  ASSERT_EQ(s1.exit_code, 0) << s1.out << s1.err;
  a.Stop();
  std::vector<json> held_log = LogOf(q, a.node_id());
  ASSERT_EQ(EntryIds(q, a.node_id()).size(), 4u);
  std::string held_checkpoint = CheckpointOf(q, a.node_id());

  a2.Start();
  PeerOf(q, a2);  // Q now reaches "A" at A2's address (same id, same certificate)
  RunResult s2 = RunKhronika({"sync", "--data", q.data(), "--peer", a.node_id()});
  EXPECT_EQ(s2.exit_code, 1) << s2.out << s2.err;
  EXPECT_NE(s2.out.find("CONFLICT"), std::string::npos) << s2.out;

  // One proof: two checkpoints, both signed with A's key, that no append-only log can both have.
  RunResult cj = RunKhronika({"conflicts", "--data", q.data(), "--json"});
  ASSERT_EQ(cj.exit_code, 0) << cj.err;
  std::vector<json> proofs;
  {
    std::istringstream in(cj.out);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) proofs.push_back(json::parse(line));
    }
  }
  ASSERT_EQ(proofs.size(), 1u) << cj.out;
  EXPECT_EQ(proofs[0]["origin"], a.node_id());
  auto verifier = ParseVerifierKey(a.id()["vkey"].get<std::string>());
  ASSERT_TRUE(verifier.ok());
  std::string held = proofs[0]["held_checkpoint"], presented = proofs[0]["presented_checkpoint"];
  EXPECT_NE(held, presented);
  std::vector<Checkpoint> bodies;
  for (const std::string& note_text : {held, presented}) {
    auto note = ParseSignedNote(note_text);
    ASSERT_TRUE(note.ok()) << note_text;
    EXPECT_TRUE(NoteSignedBy(*note, *verifier)) << note_text;
    auto body = ParseCheckpointBody(note->text);
    ASSERT_TRUE(body.ok());
    bodies.push_back(*body);
  }
  EXPECT_EQ(bodies[0].size, held_log.size());
  EXPECT_EQ(bodies[1].size, held_log.size());
  EXPECT_NE(bodies[0].root, bodies[1].root);
  EXPECT_EQ(held, held_checkpoint);
  EXPECT_EQ(StatusOf(q)["conflicts"], 1);
  HttpReply metrics = Get(q.server(), "/metrics", MakeToken(q.data(), "admin").secret);
  EXPECT_NE(metrics.body.find("khronika_conflicting_checkpoints 1"), std::string::npos)
      << metrics.Describe();

  // Q keeps A's log as it held it, and keeps serving it: R gets exactly that from Q.
  EXPECT_EQ(LogOf(q, a.node_id()), held_log);
  EXPECT_EQ(CheckpointOf(q, a.node_id()), held_checkpoint);
  ExpectVerifyClean(q);
  Peers(q, r);
  RunResult sr = RunKhronika({"sync", "--data", r.data(), "--peer", q.node_id()});
  ASSERT_EQ(sr.exit_code, 0) << sr.out << sr.err;
  EXPECT_EQ(LogOf(r, a.node_id()), held_log);
  EXPECT_EQ(CheckpointOf(r, a.node_id()), held_checkpoint);
}

// ---------------------------------------------------------------------------------------------

TEST(FederationFaultsTest, SyncKilledMidPullLeavesACleanStoreAndResumes) {
  constexpr int kEntries = 1500;  // three packs of at most 512 records
  FedNode a, b;
  Member(b, a);
  AppendDirect(a, kEntries, 250, "bulk");
  a.Start();
  Peers(a, b);
  std::string origin = a.node_id();

  // Kill `khronika sync` once B holds some but not all of A's log. If a run finishes before the
  // kill (a very fast machine), B is rebuilt and the kill comes sooner.
  uint64_t held_at_kill = 0;
  std::unique_ptr<FedNode> b_owner;
  FedNode* target = &b;
  for (int attempt = 0; attempt < 3 && held_at_kill == 0; ++attempt) {
    if (attempt > 0) {
      b_owner = std::make_unique<FedNode>();
      target = b_owner.get();
      Member(*target, a);
      Peers(a, *target);
    }
    pid_t pid = SpawnProgram({KHRONIKA_BINARY, "sync", "--data", target->data(), "--peer", origin},
                             *target / "sync1.out", *target / "sync1.err");
    bool killed = false;
    // Watch B's store from here (a read-only LMDB handle sees each commit of the sync at once).
    std::unique_ptr<Node> watch;
    auto origin_hash = ParseHashHex(origin);
    ASSERT_TRUE(origin_hash.ok());
    for (int i = 0; i < 200000; ++i) {
      if (!watch) {
        auto opened = Node::Open(target->data(), StoreOptions{.read_only = true});
        if (opened.ok()) watch = std::move(*opened);
      }
      uint64_t held = 0;
      if (watch) {
        Status st = watch->store().View([&](ReadTxn& txn) -> Status {
          KH_ASSIGN_OR_RETURN(held, LogSize(txn, *origin_hash));
          return Status::Ok();
        });
        EXPECT_TRUE(st.ok()) << st.ToString();
      }
      if (held > 0 && held < kEntries) {
        ::kill(pid, SIGKILL);
        killed = true;
        break;
      }
      if (held >= kEntries) break;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (pid > 0) {
      int code = WaitProgram(pid);
      if (killed) {
        EXPECT_EQ(code, 128 + SIGKILL);
      }
    }
    watch.reset();
    if (killed) held_at_kill = RecordsHeld(*target, origin);
    if (killed && held_at_kill == kEntries) held_at_kill = 0;  // the kill came too late
  }
  ASSERT_GT(held_at_kill, 0u) << "could not kill the sync in the middle of the pull";
  ASSERT_LT(held_at_kill, static_cast<uint64_t>(kEntries));

  // No corruption: what was committed is whole and verifies.
  ExpectVerifyClean(*target);
  EXPECT_EQ(EntryIds(*target, origin).size(), held_at_kill);

  // The next sync starts where the killed one stopped and completes.
  RunResult s2 = RunKhronika({"sync", "--data", target->data(), "--peer", origin});
  ASSERT_EQ(s2.exit_code, 0) << s2.out << s2.err;
  EXPECT_NE(s2.out.find("received records " + std::to_string(held_at_kill) + " to " +
                        std::to_string(kEntries - 1)),
            std::string::npos)
      << s2.out;
  EXPECT_EQ(RecordsHeld(*target, origin), static_cast<uint64_t>(kEntries));
  EXPECT_EQ(EntryIds(*target, origin), EntryIds(a, origin));
  EXPECT_EQ(CheckpointOf(*target, origin), RunKhronika({"checkpoint", "--data", a.data()}).out);
  ExpectVerifyClean(*target);
}

// ---------------------------------------------------------------------------------------------

// Two pulls of one log at once (the server's own, started by the origin's notification, and a
// `khronika sync`): the second must carry on from what the first committed. Before the fix, the
// batch failed with "case chain broken" because the case tip it checked against was the newest
// held, not the newest before the batch.
TEST(FederationFaultsTest, SyncRacingTheServersOwnPullSucceeds) {
  FedNode a, b;
  Member(b, a);
  a.Start();
  b.Start();
  Peers(a, b);
  Token submitter = MakeToken(a.data(), "submitter");
  int failures = 0;
  std::string outputs;
  for (int round = 0; round < 8; ++round) {
    for (int i = 0; i < 3; ++i) {
      std::filesystem::path note = a / ("r" + std::to_string(round) + "-" + std::to_string(i));
      WriteFile(note, "statement " + std::to_string(round) + "/" + std::to_string(i));
      RunResult r = a.Submit(submitter.secret, "case-" + std::to_string(i % 2), {note});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    // B's server is pulling now, after A's notifications; the operator syncs at the same time.
    RunResult s = RunKhronika({"sync", "--data", b.data(), "--peer", a.node_id()});
    if (s.exit_code != 0) {
      ++failures;
      outputs += s.out;
    }
    WaitForRecords(b, a.node_id(), 3 * (round + 1));
  }
  EXPECT_EQ(failures, 0) << outputs;
  EXPECT_EQ(EntryIds(b, a.node_id()).size(), 24u);
  ExpectVerifyClean(b);
}

}  // namespace
}  // namespace khronika::testing
