// Three NGOs' nodes on loopback, peered over mutual TLS: logs replicate, a log outlives its
// origin, a raided node is rebuilt from its peers with nothing acknowledged lost, and the sync
// endpoints answer only configured peers.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/recovery.h"
#include "khronika/schemas/recovery_objects.h"
#include "server_fixture.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

std::vector<std::string> EntryIds(const std::filesystem::path& data, const std::string& origin) {
  RunResult r = RunKhronika({"log", "--data", data.string(), "--origin", origin, "--json"});
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

// The ids of the objects every record of `origin`'s log held in `data` logs: entries, custody
// records and recovery objects alike.
std::vector<std::string> RecordIds(const std::filesystem::path& data, const std::string& origin) {
  RunResult r = RunKhronika({"log", "--data", data.string(), "--origin", origin, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> ids;
  for (const json& record : JsonLines(r.out)) ids.push_back(record["entry_id"]);
  return ids;
}

// The size (line 2) of `origin`'s checkpoint held in `data`.
uint64_t CheckpointSize(const std::filesystem::path& data, const std::string& origin) {
  RunResult cp = RunKhronika({"checkpoint", "--data", data.string(), "--origin", origin});
  EXPECT_EQ(cp.exit_code, 0) << cp.err;
  std::istringstream lines(cp.out);
  std::string first, size;
  std::getline(lines, first);
  std::getline(lines, size);
  return std::stoull(size);
}

TEST(FederationTest, LogsReplicateAndARaidedNodeIsRebuiltFromItsPeers) {
  ServedNode a, b, c;
  Federate({&a, &b, &c});
  std::string origin_a = IdOf(a.data())["node_id"];
  Token submitter = MakeToken(a.data(), "submitter");

  // NGO A records evidence through its server; every receipt is an acknowledged entry.
  std::vector<std::string> acknowledged;
  WritePseudoRandomFile(a / "video.mp4", 3 * 1024 * 1024 + 5, 11);
  for (int i = 0; i < 4; ++i) {
    WriteFile(a / ("note" + std::to_string(i) + ".txt"), "statement " + std::to_string(i));
    std::vector<std::filesystem::path> files = {a / ("note" + std::to_string(i) + ".txt")};
    if (i == 0) files.push_back(a / "video.mp4");
    // Acknowledged as replicated: at least one partner has cosigned a checkpoint holding it.
    RunResult r = a.Submit(submitter.secret, "case-" + std::to_string(i % 2), files,
                           {"--replicas", "1", "--replicas-timeout", "60"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    acknowledged.push_back(json::parse(r.out)["entry_id"]);
  }

  // B pulls from A (its server may already have, when A's notifications arrived); C has no
  // link to A's data except through B.
  RunResult sb = RunKhronika({"sync", "--data", b.data().string(), "--peer", origin_a});
  ASSERT_EQ(sb.exit_code, 0) << sb.out << sb.err;
  std::string origin_b = IdOf(b.data())["node_id"];
  RunResult sc = RunKhronika({"sync", "--data", c.data().string(), "--peer", origin_b});
  ASSERT_EQ(sc.exit_code, 0) << sc.out << sc.err;
  EXPECT_EQ(EntryIds(b.data(), origin_a), acknowledged);
  EXPECT_EQ(EntryIds(c.data(), origin_a), acknowledged);
  for (ServedNode* n : {&b, &c}) {
    RunResult v = RunKhronika({"verify", "--data", n->data().string()});
    EXPECT_EQ(v.exit_code, 0) << v.out;
  }
  // The replica serves the same checkpoint, signed by A.
  RunResult cp_a = RunKhronika({"checkpoint", "--data", a.data().string()});
  RunResult cp_c = RunKhronika({"checkpoint", "--data", c.data().string(), "--origin", origin_a});
  EXPECT_EQ(cp_a.out, cp_c.out);

  // The raid: A's disk is seized. Only its keys, sealed by `key export`, were kept off-site.
  WriteFile(a / "export-passphrase", "kept apart from the sealed keys\n");
  RunResult exported = RunKhronikaWithFd3(a / "export-passphrase", {"key", "export", "--data", a.data().string(),
                                                                    "--out", (a / "offsite.keys").string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::filesystem::path restored = a / "restored";
  a.server().Stop();
  RunResult init = RunKhronikaWithFd3(a / "export-passphrase",
                                      {"init", "--data", restored.string(), "--name", "ngo-a", "--keys",
                                       (a / "offsite.keys").string(), "--key-file", (a / "restored.key-file").string()});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_EQ(IdOf(restored)["node_id"], origin_a);
  // The authors came back with the keys (docs/operator.md, "After a raid", step 1): nobody
  // registers them by hand. Tokens did not: the init says to create new ones.
  EXPECT_NE(init.err.find("registered 1 author(s)"), std::string::npos) << init.err;
  EXPECT_NE(init.err.find("create new ones"), std::string::npos) << init.err;
  RunResult authors = RunKhronika({"author", "list", "--data", restored.string(), "--json"});
  ASSERT_EQ(authors.exit_code, 0) << authors.err;
  EXPECT_EQ(authors.out, RunKhronika({"author", "list", "--data", a.data().string(), "--json"}).out);
  EXPECT_EQ(RunKhronika({"token", "list", "--data", restored.string()}).out, "");
  // Until its own log is back, the restored node refuses to append (it would fork its log).
  RunResult early = RunKhronika({"add", "--data", restored.string(), "--key", a.key().string(),
                                 "--case", "case-0", (a / "note0.txt").string()});
  EXPECT_EQ(early.exit_code, 1);
  EXPECT_NE(early.err.find("khronika sync"), std::string::npos) << early.err;

  json id_c = IdOf(c.data());
  ASSERT_EQ(RunKhronika({"member", "add", "--data", restored.string(), "--vkey", id_c["vkey"]}).exit_code, 0);
  // Step 2: members and peers again. The restored node has its old certificate back, so C's pin
  // still holds; C only learns where the node is now.
  RunResult fresh_cert = RunKhronika({"id", "--data", restored.string(), "--json"});
  std::string restored_fp = json::parse(fresh_cert.out)["cert_sha256"];
  EXPECT_EQ(restored_fp, IdOf(a.data())["cert_sha256"]);
  ASSERT_EQ(RunKhronika({"peer", "remove", "--data", c.data().string(), origin_a}).exit_code, 0);
  ASSERT_EQ(RunKhronika({"peer", "add", "--data", c.data().string(), "--url", "https://127.0.0.1:1",
                         "--id", origin_a, "--cert-sha256", restored_fp}).exit_code, 0);
  ASSERT_EQ(RunKhronika({"peer", "add", "--data", restored.string(), "--url", c.server().url(),
                         "--id", id_c["node_id"], "--cert-sha256", id_c["cert_sha256"]}).exit_code, 0);
  RunResult back = RunKhronika({"sync", "--data", restored.string()});
  ASSERT_EQ(back.exit_code, 0) << back.out << back.err;
  EXPECT_EQ(EntryIds(restored, origin_a), acknowledged);  // zero acknowledged entries lost
  RunResult v = RunKhronika({"verify", "--data", restored.string()});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  RunResult cat = RunKhronika({"cat", "--data", restored.string(), acknowledged[0], "video.mp4"});
  ASSERT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(cat.out, ReadFile(a / "video.mp4"));
  // And it carries on where it stopped, with the author it had (no `author add`).
  RunResult after = RunKhronika({"add", "--data", restored.string(), "--key", a.key().string(),
                                 "--case", "case-0", "--json", (a / "note0.txt").string()});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  // Right after what it held (four entries and its tokens' custody records).
  EXPECT_EQ(json::parse(after.out)["index"], CheckpointSize(restored, origin_a) - 1);
  EXPECT_EQ(EntryIds(restored, origin_a).size(), 5u);
}

TEST(FederationTest, SyncEndpointsAnswerOnlyConfiguredPeers) {
  ServedNode a, b;
  // Not peered yet: B's certificate is unknown to A.
  json id_a = IdOf(a.data());
  ASSERT_EQ(RunKhronika({"member", "add", "--data", b.data().string(), "--vkey", id_a["vkey"]}).exit_code, 0);
  ASSERT_EQ(RunKhronika({"peer", "add", "--data", b.data().string(), "--url", a.server().url(),
                         "--id", id_a["node_id"], "--cert-sha256", id_a["cert_sha256"]}).exit_code, 0);
  RunResult refused = RunKhronika({"sync", "--data", b.data().string()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.out.find("only for configured peers"), std::string::npos) << refused.out;
  // Tokens do not open the sync endpoints either, even an admin's.
  HttpReply heads = Get(a.server(), "/v1/sync/heads", a.admin().secret);
  EXPECT_EQ(heads.status, 403) << heads.Describe();
  // A peer pinned with the wrong fingerprint is refused by the client side.
  Federate({&a, &b});
  RunResult ok = RunKhronika({"sync", "--data", b.data().string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  ASSERT_EQ(RunKhronika({"peer", "remove", "--data", b.data().string(), id_a["node_id"]}).exit_code, 0);
  ASSERT_EQ(RunKhronika({"peer", "add", "--data", b.data().string(), "--url", a.server().url(), "--id",
                         id_a["node_id"], "--cert-sha256", std::string(64, 'a')}).exit_code, 0);
  RunResult wrong_pin = RunKhronika({"sync", "--data", b.data().string()});
  EXPECT_EQ(wrong_pin.exit_code, 1);
  EXPECT_NE(wrong_pin.out.find("does not match the pinned"), std::string::npos) << wrong_pin.out;
}

}  // namespace
}  // namespace khronika::testing

namespace khronika::testing {
namespace {

TEST(FederationTest, ServePullsPeersOnItsOwnSchedule) {
  ServedNode a;
  ServedNode b("sync_interval_s = 1\n");
  Federate({&a, &b});
  std::string origin_a = IdOf(a.data())["node_id"];
  Token submitter = MakeToken(a.data(), "submitter");
  WriteFile(a / "note.txt", "seen from a window");
  RunResult r = a.Submit(submitter.secret, "case-1", {a / "note.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string entry = json::parse(r.out)["entry_id"];
  // No `khronika sync`: B's server pulls by itself within a couple of intervals.
  std::vector<std::string> seen;
  for (int i = 0; i < 100 && seen.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = EntryIds(b.data(), origin_a);
  }
  ASSERT_EQ(seen, std::vector<std::string>{entry});
  HttpReply metrics = Get(b.server(), "/metrics", b.admin().secret);
  // The entry and the custody records before it (A's tokens' grants).
  EXPECT_NE(metrics.body.find("khronika_records_replicated_total " +
                              std::to_string(CheckpointSize(b.data(), origin_a))),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("khronika_conflicting_checkpoints 0"), std::string::npos);
}

// /metrics has each peer's lag, as `khronika status` shows it: 0 once a pull took everything,
// and the records left behind when a pull could not take them (here: a log no longer accepted).
TEST(FederationTest, MetricsShowEachPeersLag) {
  ServedNode a;
  ServedNode b;
  Federate({&a, &b});
  std::string origin_a = IdOf(a.data())["node_id"];
  const std::string gauge = "khronika_peer_lag_records{peer=\"" + origin_a.substr(0, 16) + "\"} ";
  HttpReply before = Get(b.server(), "/metrics", b.admin().secret);
  ASSERT_EQ(before.status, 200) << before.Describe();
  EXPECT_NE(before.body.find("# TYPE khronika_peer_lag_records gauge"), std::string::npos);
  EXPECT_EQ(before.body.find(gauge), std::string::npos) << "no pull yet, no lag known";

  Token submitter = MakeToken(a.data(), "submitter");
  WriteFile(a / "one.txt", "first");
  ASSERT_EQ(a.Submit(submitter.secret, "case-1", {a / "one.txt"}).exit_code, 0);
  RunResult synced = RunKhronika({"sync", "--data", b.data().string()});
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  HttpReply caught_up = Get(b.server(), "/metrics", b.admin().secret);
  EXPECT_NE(caught_up.body.find(gauge + "0\n"), std::string::npos) << caught_up.body;

  ASSERT_EQ(RunKhronika({"member", "remove", "--data", b.data().string(), origin_a}).exit_code, 0);
  WriteFile(a / "two.txt", "second");
  WriteFile(a / "three.txt", "third");
  ASSERT_EQ(a.Submit(submitter.secret, "case-1", {a / "two.txt"}).exit_code, 0);
  ASSERT_EQ(a.Submit(submitter.secret, "case-1", {a / "three.txt"}).exit_code, 0);
  RunResult behind = RunKhronika({"sync", "--data", b.data().string()});
  RunResult status = RunKhronika({"status", "--data", b.data().string(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  uint64_t lag = json::parse(status.out)["peers"][0]["lag_records"];
  EXPECT_GT(lag, 0u) << behind.out << behind.err << status.out;
  HttpReply lagging = Get(b.server(), "/metrics", b.admin().secret);
  EXPECT_NE(lagging.body.find(gauge + std::to_string(lag) + "\n"), std::string::npos) << lagging.body;
}

}  // namespace
}  // namespace khronika::testing

namespace khronika::testing {
namespace {

TEST(FederationTest, SubmitWithReplicasWaitsForPartnersCosignatures) {
  // No schedule: only the origin's notifications make the partners pull, cosign and answer.
  ServedNode a("sync_interval_s = 0\n"), b("sync_interval_s = 0\n"), c("sync_interval_s = 0\n");
  Federate({&a, &b, &c});
  Token submitter = MakeToken(a.data(), "submitter");
  WriteFile(a / "statement.txt", "what the witness saw");
  RunResult r = a.Submit(submitter.secret, "case-9", {a / "statement.txt"},
                         {"--replicas", "2", "--replicas-timeout", "60"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json receipt = json::parse(r.out);
  ASSERT_TRUE(receipt.contains("replicated")) << r.out;
  const json& rep = receipt["replicated"];
  EXPECT_EQ(rep["cosigners"].size(), 2u);
  std::set<std::string> members;
  for (const auto& m : rep["cosigners"]) members.insert(m["member"]);
  EXPECT_EQ(members, (std::set<std::string>{IdOf(b.data())["node_id"], IdOf(c.data())["node_id"]}));
  // The cosigned checkpoint is a C2SP note: the origin's signature, then the two cosignatures,
  // each checkable with the partner's published witness key.
  auto note = ParseSignedNote(rep["checkpoint"].get<std::string>());
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(note->signatures.size(), 3u);
  for (ServedNode* n : {&b, &c}) {
    auto vkey = ParseCosignerVerifierKey(IdOf(n->data())["cosigner_vkey"].get<std::string>());
    ASSERT_TRUE(vkey.ok());
    bool found = false;
    for (const auto& line : note->signatures) found |= VerifyCosignature(note->text, line, *vkey).has_value();
    EXPECT_TRUE(found);
  }
  // With more partners asked for than exist, the answer is a clear "recorded, not replicated".
  WriteFile(a / "second.txt", "later");
  RunResult too_many = a.Submit(submitter.secret, "case-9", {a / "second.txt"},
                                {"--replicas", "3", "--replicas-timeout", "3"});
  EXPECT_EQ(too_many.exit_code, 1);
  EXPECT_NE(too_many.err.find("is recorded at index " +
                              std::to_string(CheckpointSize(a.data(), IdOf(a.data())["node_id"]) - 1) +
                              " but not yet replicated"),
            std::string::npos)
      << too_many.err;
  // --witnesses: only cosignatures by keys the submitter trusts count. B's key alone gives 1 of 2;
  // a key nobody cosigned with gives 0; B's and C's keys give the two again.
  WriteFile(a / "only-b.keys", "# from Rights Watch, in person\n" + IdOf(b.data())["cosigner_vkey"].get<std::string>() + "\n");
  WriteFile(a / "b-and-c.keys", IdOf(b.data())["cosigner_vkey"].get<std::string>() + "\n" +
                                    IdOf(c.data())["cosigner_vkey"].get<std::string>() + "\n");
  WriteFile(a / "third.txt", "checked against our own keys");
  RunResult only_b = a.Submit(submitter.secret, "case-9", {a / "third.txt"},
                              {"--replicas", "2", "--replicas-timeout", "3", "--witnesses",
                               (a / "only-b.keys").string()});
  EXPECT_EQ(only_b.exit_code, 1) << only_b.out << only_b.err;
  EXPECT_NE(only_b.err.find("1 of 2 partner nodes had cosigned"), std::string::npos) << only_b.err;
  RunResult trusted = a.Submit(submitter.secret, "case-9", {a / "third.txt"},
                               {"--replicas", "2", "--replicas-timeout", "60", "--witnesses",
                                (a / "b-and-c.keys").string()});
  ASSERT_EQ(trusted.exit_code, 0) << trusted.out << trusted.err;
  json trusted_receipt = json::parse(trusted.out);
  EXPECT_EQ(trusted_receipt["replicated"]["cosigners"].size(), 2u);
  for (const auto& m : trusted_receipt["replicated"]["cosigners"]) EXPECT_EQ(m["trusted"], true);
  WriteFile(a / "stranger.keys", FormatCosignerVerifierKey("khronika/" + std::string(64, 'e') + "/witness",
                                                           SigningKey::Generate().public_key()) + "\n");
  RunResult stranger = a.Submit(submitter.secret, "case-9", {a / "third.txt"},
                                {"--replicas", "1", "--replicas-timeout", "2", "--witnesses",
                                 (a / "stranger.keys").string()});
  EXPECT_EQ(stranger.exit_code, 1);
  EXPECT_NE(stranger.err.find("0 of 1 partner nodes"), std::string::npos) << stranger.err;
}

}  // namespace
}  // namespace khronika::testing

namespace khronika::testing {
namespace {

TEST(FederationTest, FullMeshConvergesWithTwoCosignaturesOnEveryCheckpoint) {
  ServedNode a("sync_interval_s = 0\n"), b("sync_interval_s = 0\n"), c("sync_interval_s = 0\n");
  std::vector<ServedNode*> nodes = {&a, &b, &c};
  Federate(nodes);
  for (ServedNode* n : nodes) {
    Token t = MakeToken(n->data(), "submitter");
    for (int i = 0; i < 2; ++i) {
      WriteFile(*n / ("e" + std::to_string(i) + ".txt"), n->data().string() + std::to_string(i));
      RunResult r = n->Submit(t.secret, "case-m", {*n / ("e" + std::to_string(i) + ".txt")});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
  // Two rounds: the first moves records and makes cosignatures, the second spreads them.
  for (int round = 0; round < 2; ++round) {
    for (ServedNode* n : nodes) {
      RunResult s = RunKhronika({"sync", "--data", n->data().string()});
      ASSERT_EQ(s.exit_code, 0) << s.out << s.err;
    }
  }
  std::vector<std::string> origins;
  for (ServedNode* n : nodes) origins.push_back(IdOf(n->data())["node_id"]);
  for (const std::string& origin : origins) {
    std::string reference;
    for (ServedNode* n : nodes) {
      RunResult cp = RunKhronika({"checkpoint", "--data", n->data().string(), "--origin", origin});
      ASSERT_EQ(cp.exit_code, 0) << cp.err;
      if (reference.empty()) reference = cp.out;
      EXPECT_EQ(cp.out, reference) << "node " << n->data() << " log " << origin;
      EXPECT_EQ(EntryIds(n->data(), origin).size(), 2u);
    }
  }
  for (ServedNode* n : nodes) {
    RunResult st = RunKhronika({"status", "--data", n->data().string(), "--json"});
    ASSERT_EQ(st.exit_code, 0) << st.err;
    json status = json::parse(st.out);
    ASSERT_EQ(status["logs"].size(), 3u);
    for (const auto& log : status["logs"]) {
      // Two entries, and the custody records of the tokens granted before them: as many
      // records as the log's checkpoint, which every node holds alike.
      EXPECT_EQ(log["records"], CheckpointSize(n->data(), log["origin"])) << st.out;
      EXPECT_EQ(EntryIds(n->data(), log["origin"]).size(), 2u) << st.out;
      EXPECT_EQ(log["cosigners"].size(), 2u) << "node " << n->data() << ": " << log.dump();
    }
    for (const auto& peer : status["peers"]) {
      EXPECT_EQ(peer["lag_records"], 0) << st.out;
      EXPECT_EQ(peer["last_error"], "") << st.out;
    }
    EXPECT_EQ(status["conflicts"], 0);
    RunResult v = RunKhronika({"verify", "--data", n->data().string()});
    EXPECT_EQ(v.exit_code, 0) << v.out;
  }
}

}  // namespace
}  // namespace khronika::testing

namespace khronika::testing {
namespace {

// Replicating a large file keeps both ends' memory flat: the serving node once kept every
// worker thread's chunk answers (630 MB resident after serving 512 MiB).
TEST(FederationTest, ReplicatingALargeFileKeepsMemoryFlat) {
  ServedNode a("sync_interval_s = 0\n"), b("sync_interval_s = 0\n");
  Federate({&a, &b});
  WritePseudoRandomFile(a / "archive.bin", uint64_t{320} << 20, 3);
  Token submitter = MakeToken(a.data(), "submitter");
  RunResult r = a.Submit(submitter.secret, "big", {a / "archive.bin"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  long before = ProcStatusKiB(a.server().pid(), "VmHWM");
  RunResult s = RunKhronika({"sync", "--data", b.data().string()});
  ASSERT_EQ(s.exit_code, 0) << s.out << s.err;
  long after = ProcStatusKiB(a.server().pid(), "VmHWM");
  std::cout << "serving 320 MiB: server VmHWM " << before / 1024 << " -> " << after / 1024
            << " MiB; pulling process peak " << s.peak_rss_kib / 1024 << " MiB\n";
  EXPECT_LT(after - before, 96 * 1024);
  EXPECT_LT(s.peak_rss_kib, 96 * 1024);
  std::string origin = IdOf(a.data())["node_id"];
  EXPECT_EQ(EntryIds(b.data(), origin).size(), 1u);
  RunResult v = RunKhronika({"verify", "--data", b.data().string()});
  EXPECT_EQ(v.exit_code, 0) << v.out;
}

}  // namespace
}  // namespace khronika::testing

namespace khronika::testing {
namespace {

// A case belongs to the log that created it. On partner B, a token for "case-A" reaches nothing
// of node A's case-A; and a "confession" that B's submitter logs under the same case id at B
// never enters A's court bundle of case-A, even after A has pulled B's log.
TEST(FederationTest, CasesBelongToTheLogThatCreatedThem) {
  ServedNode a, b;
  Federate({&a, &b});
  const std::string origin_a = IdOf(a.data())["node_id"];
  const std::string origin_b = IdOf(b.data())["node_id"];
  WriteFile(a / "statement.txt", "what only case-A's lawyers may read\n");
  RunResult submitted = a.Submit(a.admin().secret, "case-A", {a / "statement.txt"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string entry_a = json::parse(submitted.out)["entry_id"];
  ASSERT_EQ(RunKhronika({"sync", "--data", b.data().string(), "--peer", origin_a}).exit_code, 0);
  ASSERT_EQ(EntryIds(b.data(), origin_a), std::vector<std::string>{entry_a});

  // B holds A's log, but B's tokens for "case-A" do not reach it.
  Token reader_on_b = MakeToken(b.data(), "reader", {"case-A"});
  HttpReply entry = Get(b.server(), "/v1/entries/" + entry_a, reader_on_b.secret);
  EXPECT_EQ(entry.status, 404) << entry.Describe();
  HttpReply via_admin = Get(b.server(), "/v1/entries/" + entry_a, b.admin().secret);
  EXPECT_EQ(via_admin.status, 404) << via_admin.Describe();
  HttpReply listing = Get(b.server(), "/v1/cases/case-A/entries", reader_on_b.secret);
  ASSERT_EQ(listing.status, 200) << listing.Describe();
  EXPECT_TRUE(listing.Json()["entries"].empty()) << listing.body;
  HttpReply cases = Get(b.server(), "/v1/cases", b.admin().secret);
  EXPECT_EQ(cases.body.find("case-A"), std::string::npos) << cases.body;
  EXPECT_EQ(Get(b.server(), "/v1/cases/case-A/bundle", reader_on_b.secret).status, 404);
  RunResult get = RunKhronika({"get", "--node", b.server().url(), "--pin", b.server().pin(), "--token",
                               reader_on_b.secret, entry_a, "--out", (b / "got").string()});
  EXPECT_NE(get.exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(b / "got" / "statement.txt"));

  // B's submitter logs a forged "confession" under case-A at B; A pulls it.
  WriteFile(b / "confession.txt", "forged confession\n");
  RunResult forged = b.Submit(b.admin().secret, "case-A", {b / "confession.txt"});
  ASSERT_EQ(forged.exit_code, 0) << forged.err;
  ASSERT_EQ(RunKhronika({"sync", "--data", a.data().string(), "--peer", origin_b}).exit_code, 0);
  ASSERT_EQ(EntryIds(a.data(), origin_b).size(), 1u);

  // A's court bundle of case-A holds A's entry only, and verifies.
  Token lawyer = MakeToken(a.data(), "reader", {"case-A"});
  std::filesystem::path bundle = a / "bundle";
  RunResult exported = RunKhronika({"export", "--node", a.server().url(), "--pin", a.server().pin(),
                                    "--token", lawyer.secret, "--case", "case-A", "--out", bundle.string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  json index = json::parse(ReadFile(bundle / "bundle.json"));
  ASSERT_EQ(index["records"].size(), 1u) << index.dump();
  EXPECT_EQ(index["records"][0]["entry_id"], entry_a);
  EXPECT_EQ(index["records"][0]["origin"], origin_a);
  EXPECT_EQ(index["logs"].size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(bundle / "records" / origin_b));
  RunResult verified = RunKhronika({"verify-bundle", bundle.string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.out;
  // Also the local operator's export. And the reader's listing on A shows A's entry only.
  RunResult local = RunKhronika({"export", "--data", a.data().string(), "--case", "case-A", "--out",
                                 (a / "local-bundle").string()});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(json::parse(ReadFile(a / "local-bundle" / "bundle.json"))["records"].size(), 1u);
  HttpReply own = Get(a.server(), "/v1/cases/case-A/entries", lawyer.secret);
  ASSERT_EQ(own.Json()["entries"].size(), 1u) << own.body;

  // A bundle that mixes logs (B's entries grafted into A's bundle of case-A) is refused.
  std::filesystem::path b_bundle = b / "bundle";
  ASSERT_EQ(RunKhronika({"export", "--data", b.data().string(), "--case", "case-A", "--out",
                         b_bundle.string()}).exit_code, 0);
  std::filesystem::copy(b_bundle / "records" / origin_b, bundle / "records" / origin_b,
                        std::filesystem::copy_options::recursive);
  std::filesystem::copy(b_bundle / "logs" / origin_b, bundle / "logs" / origin_b,
                        std::filesystem::copy_options::recursive);
  RunResult mixed = RunKhronika({"verify-bundle", bundle.string()});
  EXPECT_EQ(mixed.exit_code, 1) << mixed.out;
  EXPECT_NE(mixed.err.find("a case belongs to the one log that created it"), std::string::npos) << mixed.err;
}

}  // namespace
}  // namespace khronika::testing

namespace khronika::testing {
namespace {

// A TCP listener on 127.0.0.1 that accepts and closes every connection, and counts them: the
// address an operator may have written down for a peer it must never call.
class ConnectionCounter {
 public:
  ConnectionCounter() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~ConnectionCounter() { ::close(fd_); }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  // Accepts (and closes) what is waiting; the number of connections so far.
  int Accepted() {
    for (int c; (c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
      ::close(c);
      ++count_;
    }
    return count_;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  int count_ = 0;
};

// issue 17 item 6: an auditor's node, with no public address, is a serve-only peer of the
// organisation's node. The auditor pulls every log over pinned mutual TLS; the organisation's
// node never connects to it (not `sync`, not serve's schedule, not its notifications, not when
// the auditor pokes it), logs no failure, and the auditor's certificate opens nothing that any
// peer's does not. Then the same peer made an ordinary one is called at once: the skip is what
// kept it away.
TEST(FederationTest, ServeOnlyPeerPullsAndIsNeverCalled) {
  ServedNode a("sync_interval_s = 1\npeer_connect_timeout_ms = 2000\n");
  TempDir audit_dir;
  LocalNode auditor = MakeNodeWithAuthor(audit_dir);  // never served
  const std::string audit = auditor.data.string();
  json id_a = IdOf(a.data()), id_x = IdOf(auditor.data);
  const std::string origin_a = id_a["node_id"], x = id_x["node_id"], x_fp = id_x["cert_sha256"];
  ConnectionCounter where_x_lives;

  // Bad input: a clear error, exit 2, and no peer added.
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--id", x, "--cert-sha256",
                                 x_fp},  // neither --url nor --serve-only
        {"--serve-only", "--url", "http://127.0.0.1:1", "--id", x, "--cert-sha256", x_fp},
        {"--serve-only", "--id", x, "--cert-sha256", "sha256:xyz"},
        {"--serve-only", "--id", "not-an-id", "--cert-sha256", x_fp},
        {"--serve-only", "--cert-sha256", x_fp}}) {
    std::vector<std::string> argv = {"peer", "add", "--data", a.data().string()};
    argv.insert(argv.end(), bad.begin(), bad.end());
    RunResult r = RunKhronika(argv);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("khronika peer add: "), std::string::npos) << r.err;
  }
  EXPECT_EQ(RunKhronika({"peer", "list", "--data", a.data().string()}).out, "");

  // The organisation adds the auditor's node, serve only, without a URL.
  RunResult added = RunKhronika({"peer", "add", "--data", a.data().string(), "--serve-only", "--id",
                                 x, "--cert-sha256", x_fp});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_NE(added.out.find("serve only"), std::string::npos) << added.out;
  RunResult list = RunKhronika({"peer", "list", "--data", a.data().string(), "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const json listed = {{"node_id", x}, {"url", ""}, {"cert_sha256", x_fp}, {"serve_only", true}};
  EXPECT_EQ(JsonLines(list.out), std::vector<json>{listed});
  RunResult text = RunKhronika({"peer", "list", "--data", a.data().string()});
  EXPECT_EQ(text.out,
            x + "  -  sha256:" + x_fp + "  serve only (pulls from this node, never pulled)\n");

  // The auditor: A as a member and as a peer it pulls from.
  ASSERT_EQ(RunKhronika({"member", "add", "--data", audit, "--vkey", id_a["vkey"],
                         "--cosigner-vkey", id_a["cosigner_vkey"]})
                .exit_code,
            0);
  ASSERT_EQ(RunKhronika({"peer", "add", "--data", audit, "--url", a.server().url(), "--id",
                         origin_a, "--cert-sha256", id_a["cert_sha256"]})
                .exit_code,
            0);
  Token submitter = MakeToken(a.data(), "submitter");
  std::vector<std::string> acknowledged;
  for (int i = 0; i < 2; ++i) {
    WriteFile(a / ("n" + std::to_string(i) + ".txt"), "statement " + std::to_string(i));
    RunResult r = a.Submit(submitter.secret, "case-1", {a / ("n" + std::to_string(i) + ".txt")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    acknowledged.push_back(json::parse(r.out)["entry_id"]);
    RunResult pulled = RunKhronika({"sync", "--data", audit});
    ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
    const uint64_t last = json::parse(r.out)["index"];
    EXPECT_NE(pulled.out.find(" to " + std::to_string(last) + " ("), std::string::npos)
        << pulled.out;
  }
  EXPECT_EQ(EntryIds(auditor.data, origin_a), acknowledged);
  RunResult verified = RunKhronika({"verify", "--data", audit});
  EXPECT_EQ(verified.exit_code, 0) << verified.out;

  // The organisation's `sync`: the auditor is skipped, said so, and that is a success.
  RunResult skipped = RunKhronika({"sync", "--data", a.data().string()});
  EXPECT_EQ(skipped.exit_code, 0) << skipped.out << skipped.err;
  EXPECT_EQ(skipped.out, "peer " + x.substr(0, 16) +
                             ": serve only, skipped (it pulls from this node; this node does not "
                             "pull from it)\n");
  RunResult named = RunKhronika({"sync", "--data", a.data().string(), "--peer", x});
  EXPECT_EQ(named.exit_code, 1);
  EXPECT_NE(named.err.find("is serve only"), std::string::npos) << named.err;

  // Now with the address the operator had for it: still never called, although A appends (and
  // so notifies its peers), pulls on a 1 s schedule, and the auditor itself pokes A with a
  // notification over mutual TLS.
  ASSERT_EQ(RunKhronika({"peer", "add", "--data", a.data().string(), "--serve-only", "--url",
                         where_x_lives.url(), "--id", x, "--cert-sha256", x_fp})
                .exit_code,
            0);
  WriteFile(a / "n2.txt", "statement 2");
  ASSERT_EQ(a.Submit(submitter.secret, "case-1", {a / "n2.txt"}).exit_code, 0);
  const std::vector<std::string> as_x = {"--cert", (auditor.data / "tls.crt").string(), "--key",
                                         (auditor.data / "tls.key").string()};
  HttpRequest poke;
  poke.method = "POST";
  poke.path = "/v1/sync/notify";
  poke.body = "{}";
  poke.extra_args = as_x;
  HttpReply poked = Curl(a.server(), poke);
  EXPECT_EQ(poked.status, 202) << poked.Describe();
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_EQ(where_x_lives.Accepted(), 0);
  RunResult skipped_again = RunKhronika({"sync", "--data", a.data().string()});
  EXPECT_EQ(skipped_again.exit_code, 0) << skipped_again.out;
  EXPECT_EQ(where_x_lives.Accepted(), 0);
  EXPECT_EQ(a.server().Stderr().find("sync"), std::string::npos) << a.server().Stderr();
  HttpReply metrics = Get(a.server(), "/metrics", a.admin().secret);
  EXPECT_NE(metrics.body.find("khronika_sync_failures_total 0\n"), std::string::npos)
      << metrics.body;
  EXPECT_EQ(metrics.body.find("khronika_peer_lag_records{peer=\"" + x.substr(0, 16)),
            std::string::npos);
  RunResult status = RunKhronika({"status", "--data", a.data().string(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  json peer = json::parse(status.out)["peers"][0];
  EXPECT_EQ(peer["serve_only"], true);
  EXPECT_EQ(peer["url"], where_x_lives.url());
  EXPECT_FALSE(peer.contains("last_attempt_ms")) << peer.dump();
  RunResult status_text = RunKhronika({"status", "--data", a.data().string()});
  EXPECT_NE(
      status_text.out.find("  " + x.substr(0, 16) + "  " + where_x_lives.url() +
                           "  serve only: it pulls from this node, which never pulls from it\n"),
      std::string::npos)
      << status_text.out;

  // Its certificate is a peer's, nothing more: the sync endpoints, and no token endpoint.
  for (const std::string& path : std::vector<std::string>{
           "/v1/node/status", "/metrics", "/v1/checkpoint", "/v1/logs/" + origin_a + "/records"}) {
    HttpRequest r;
    r.path = path;
    r.extra_args = as_x;
    EXPECT_EQ(Curl(a.server(), r).status, 401) << path;
  }
  HttpRequest heads;
  heads.path = "/v1/sync/heads";
  heads.extra_args = as_x;
  EXPECT_EQ(Curl(a.server(), heads).status, 200);
  RunResult third = RunKhronika({"sync", "--data", audit});
  EXPECT_EQ(third.exit_code, 0) << third.out;
  EXPECT_EQ(EntryIds(auditor.data, origin_a).size(), 3u);

  // Removed, it is refused like any stranger.
  ASSERT_EQ(RunKhronika({"peer", "remove", "--data", a.data().string(), x}).exit_code, 0);
  EXPECT_EQ(Curl(a.server(), heads).status, 403);
  RunResult refused = RunKhronika({"sync", "--data", audit});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.out.find("only for configured peers"), std::string::npos) << refused.out;

  // The control: the same address as an ordinary peer is called within the schedule's interval
  // (and `sync` fails on it, as it did for every auditor before serve-only peers).
  ASSERT_EQ(RunKhronika({"peer", "add", "--data", a.data().string(), "--url", where_x_lives.url(),
                         "--id", x, "--cert-sha256", x_fp})
                .exit_code,
            0);
  for (int i = 0; i < 100 && where_x_lives.Accepted() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GT(where_x_lives.Accepted(), 0);
  RunResult pulls = RunKhronika({"sync", "--data", a.data().string()});
  EXPECT_EQ(pulls.exit_code, 1) << pulls.out;
  RunResult pulled_status = RunKhronika({"status", "--data", a.data().string(), "--json"});
  EXPECT_TRUE(json::parse(pulled_status.out)["peers"][0].contains("last_attempt_ms"))
      << pulled_status.out;
  // Made serve-only again, it keeps no stale record of those pulls.
  ASSERT_EQ(RunKhronika({"peer", "add", "--data", a.data().string(), "--serve-only", "--id", x,
                         "--cert-sha256", x_fp})
                .exit_code,
            0);
  RunResult again = RunKhronika({"status", "--data", a.data().string(), "--json"});
  EXPECT_FALSE(json::parse(again.out)["peers"][0].contains("last_attempt_ms")) << again.out;
}

}  // namespace
}  // namespace khronika::testing

namespace khronika::testing {
namespace {

// `khronika ARGS --recovery-passphrase-fd 3`, descriptor 3 reading `file`: how an operator's
// script gives the passphrase of a recovery key file.
RunResult RunWithRecoveryPassphrase(const std::filesystem::path& file,
                                    const std::vector<std::string>& args) {
  std::string cmd = "exec \"$0\"";
  for (size_t i = 0; i < args.size(); ++i) cmd += " \"${" + std::to_string(i + 1) + "}\"";
  cmd += " --recovery-passphrase-fd 3 3<\"" + file.string() + "\"";
  std::vector<std::string> argv = {"bash", "-c", cmd, KHRONIKA_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv);
}

// The private half of a file written by `recovery keygen`, opened with Python's own scrypt and
// AES-GCM (as recovery_test.cc does): the test computes each partner's share by itself.
Result<RecoveryKey> OpenRecoveryKeyFile(const std::filesystem::path& file,
                                        const std::string& passphrase) {
  const std::string script = R"PY(
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
text = open(sys.argv[1]).read().splitlines()
blob = base64.b64decode("".join(text[1:-1]))
n, r, p = 1 << blob[8], blob[9], blob[10]
salt, nonce, body = blob[11:27], blob[27:39], blob[39:]
key = hashlib.scrypt(sys.argv[2].encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=1 << 30)
print(json.loads(AESGCM(key).decrypt(nonce, body, blob[:27]))["private"])
)PY";
  RunResult r = RunProgram({"python3", "-c", script, file.string(), passphrase});
  if (r.exit_code != 0) return Status::InvalidArgument("python3: " + r.err);
  KH_ASSIGN_OR_RETURN(Bytes raw, FromHex(r.out.substr(0, 64)));
  return RecoveryKey::FromRaw(raw);
}

// Where any of `needles` (raw bytes) occurs in a node's data directory: in any file's bytes,
// and in every key and value of every table as the node itself reads them (its at-rest
// encryption opened, so that an encrypted store hides nothing from this search). One line per
// finding, "" if none.
std::string FindInNode(const std::filesystem::path& data, const std::vector<std::string>& needles) {
  std::string found;
  auto look = [&](std::string_view where, std::string_view bytes) {
    for (size_t i = 0; i < needles.size(); ++i) {
      if (bytes.find(needles[i]) != std::string_view::npos) {
        found += "needle " + std::to_string(i) + " in " + std::string(where) + "\n";
      }
    }
  };
  for (const auto& f : std::filesystem::recursive_directory_iterator(data)) {
    if (f.is_regular_file()) look(f.path().string(), ReadFile(f.path()));
  }
  auto node = Node::Open(data, StoreOptions{.read_only = true});
  if (!node.ok()) return "cannot open " + data.string() + ": " + node.status().ToString();
  Status st = (*node)->store().View([&](ReadTxn& txn) -> Status {
    for (int t = 0; t < kTableCount; ++t) {
      const std::string table = TableName(static_cast<Table>(t));
      KH_RETURN_IF_ERROR(txn.Scan(static_cast<Table>(t), {},
                                  [&](ByteView k, ByteView v) -> Result<bool> {
                                    look("key of table " + table, AsChars(k));
                                    look("value in table " + table, AsChars(v));
                                    return true;
                                  }));
    }
    return Status::Ok();
  });
  if (!st.ok()) found += "scan failed: " + st.ToString() + "\n";
  return found;
}

// Which of `needles` occur in the anonymous memory (heap, stacks, anonymous maps) of the
// running process `pid`, read through /proc/PID/mem. Files it maps are searched on disk.
std::string FindInMemory(pid_t pid, const std::vector<std::string>& needles) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::istringstream maps(ReadFile(proc + "/maps"));
  int fd = ::open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot open " + proc + "/mem";
  std::string found;
  uint64_t scanned = 0;
  for (std::string line; std::getline(maps, line);) {
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode, path;
    fields >> range >> perms >> offset >> dev >> inode >> path;
    if (perms.empty() || perms[0] != 'r') continue;
    if (!path.empty() && path != "[heap]" && path.rfind("[stack", 0) != 0) continue;
    const uint64_t begin = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    const uint64_t end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
    // In pieces of 4 MiB that overlap by more than a needle, so none is cut in two unseen.
    constexpr uint64_t kPiece = 4 << 20, kOverlap = 128;
    std::set<size_t> here;
    std::string piece;
    for (uint64_t at = begin; at < end; at += kPiece - kOverlap) {
      piece.resize(std::min(kPiece, end - at));
      ssize_t n = ::pread(fd, piece.data(), piece.size(), static_cast<off_t>(at));
      if (n <= 0) break;
      piece.resize(static_cast<size_t>(n));
      scanned += piece.size();
      for (size_t i = 0; i < needles.size(); ++i) {
        if (piece.find(needles[i]) != std::string::npos) here.insert(i);
      }
      if (at + piece.size() >= end) break;
    }
    for (size_t i : here) {
      found += "needle " + std::to_string(i) + " at " + range + " " + path + "\n";
    }
  }
  ::close(fd);
  if (scanned == 0) return "nothing of " + proc + "/mem could be read";
  return found;
}

std::string Raw(ByteView b) { return std::string(AsChars(b)); }

// issue 14: the origin A and its key export are both destroyed; its archive key was split 2 of
// 3 among its partners B, C and D. The node rebuilt in its place (A2) recovers the key from two
// partners' releases and reads every old entry again, byte for byte, through the CLI, the API
// and a court bundle. One release opens nothing; a release to another node, or to another
// recovery key, does not count; and no partner's disk or running server ever holds a share in
// the clear (the test computes each share itself, from the recovery key files, to look for it).
TEST(FederationTest, RecoveryByTwoOfThreePartnersAfterTheOriginAndItsKeysAreGone) {
  namespace fs = std::filesystem;
  ServedNode a, b, c, d;
  Federate({&a, &b, &c, &d});
  const std::vector<ServedNode*> partners = {&b, &c, &d};
  const std::string kPass = "a recovery passphrase kept by one operator";
  TempDir offline;  // the operators' USB sticks
  WriteFile(offline / "pass", kPass + "\n" + kPass + "\n");
  const fs::path pass = offline / "pass";

  // Each partner makes its recovery key; A learns the public halves.
  std::map<ServedNode*, fs::path> recovery_file;
  for (ServedNode* p : partners) {
    recovery_file[p] = offline / ("partner" + std::to_string(recovery_file.size()) + ".rk");
    RunResult made = RunKhronikaWithFd3(pass, {"recovery", "keygen", "--data", p->data().string(),
                                               "--out", recovery_file[p].string()});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    json id = IdOf(p->data());
    ASSERT_EQ(RunKhronika({"member", "add", "--data", a.data().string(), "--vkey", id["vkey"],
                           "--cosigner-vkey", id["cosigner_vkey"], "--recovery-pubkey",
                           id["recovery_pubkey"]})
                  .exit_code,
              0);
  }
  const json id_a = IdOf(a.data());
  const std::string origin_a = id_a["node_id"];
  RunResult split = RunKhronika({"recovery", "split", "--data", a.data().string(), "--k", "2",
                                 "--json"});
  ASSERT_EQ(split.exit_code, 0) << split.err;
  EXPECT_EQ(json::parse(split.out)["holders"].size(), 3u) << split.out;

  // A records evidence; the partners pull it (sealed: they hold ciphertext only).
  Token submitter = MakeToken(a.data(), "submitter");
  WritePseudoRandomFile(a / "video.mp4", 2 * 1024 * 1024 + 333, 21);
  WriteFile(a / "statement.txt", "what the witness saw, before the raid\n");
  WriteFile(a / "other.txt", "another case altogether\n");
  RunResult r1 = a.Submit(submitter.secret, "case-r", {a / "statement.txt", a / "video.mp4"});
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  RunResult r2 = a.Submit(submitter.secret, "case-o", {a / "other.txt"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  const std::string entry_r = json::parse(r1.out)["entry_id"];
  const std::string entry_o = json::parse(r2.out)["entry_id"];
  for (ServedNode* p : partners) {
    RunResult s = RunKhronika({"sync", "--data", p->data().string(), "--peer", origin_a});
    ASSERT_EQ(s.exit_code, 0) << s.out << s.err;
  }
  const std::vector<std::string> log_a = RecordIds(b.data(), origin_a);
  ASSERT_EQ(EntryIds(b.data(), origin_a).size(), 2u);  // the two entries
  for (ServedNode* p : {&c, &d}) EXPECT_EQ(RecordIds(p->data(), origin_a), log_a);

  // What must never be found unsealed on a partner: A's archive key and each partner's share of
  // it, computed here from the recovery set and the partners' own recovery key files.
  std::vector<std::string> secrets;
  std::string sealed_share_of_b;
  {
    auto node = Node::Open(a.data(), StoreOptions{.read_only = true});
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    const SymmetricKey& key = (*node)->archive_key();
    secrets.push_back(Raw(key));
    secrets.push_back(ToHex(key));
  }
  {
    json set_line;
    for (const json& line : JsonLines(RunKhronika({"log", "--data", b.data().string(), "--origin",
                                                   origin_a, "--json"}).out)) {
      if (line["object_type"] == "recovery_set") set_line = line;
    }
    ASSERT_EQ(set_line["object_type"], "recovery_set");
    auto set = DecodeRecoverySet(FromHex(set_line["object_hex"].get<std::string>()).value());
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    EXPECT_EQ(set->threshold, 2);
    for (ServedNode* p : partners) {
      auto key = OpenRecoveryKeyFile(recovery_file[p], kPass);
      ASSERT_TRUE(key.ok()) << key.status().ToString();
      const Hash me = ParseHashHex(IdOf(p->data())["node_id"].get<std::string>()).value();
      auto share = OpenOwnShare(*set, ParseHashHex(origin_a).value(), me, *key);
      ASSERT_TRUE(share.ok()) << share.status().ToString();
      ASSERT_EQ(share->y.size(), 32u);
      secrets.push_back(Raw(share->y));
      secrets.push_back(ToHex(share->y));
      for (const ShareHolder& h : set->holders) {
        if (h.node_id == me && p == &b) sealed_share_of_b = Raw(h.sealed);
      }
    }
  }
  ASSERT_EQ(secrets.size(), 8u);

  // The raid: A's disk and its key export are both gone (none was kept).
  a.server().Stop();
  fs::remove_all(a.data());

  // A2, the node rebuilt in A's place, and E, some other node; each makes its recovery key.
  TempDir a2_dir, e_dir;
  LocalNode a2 = MakeNodeWithAuthor(a2_dir);
  LocalNode e = MakeNodeWithAuthor(e_dir);
  const fs::path a2_key = offline / "a2.rk", e_key = offline / "e.rk";
  ASSERT_EQ(RunKhronikaWithFd3(pass, {"recovery", "keygen", "--data", a2.data.string(), "--out",
                                      a2_key.string()})
                .exit_code,
            0);
  ASSERT_EQ(RunKhronikaWithFd3(pass, {"recovery", "keygen", "--data", e.data.string(), "--out",
                                      e_key.string()})
                .exit_code,
            0);
  const json id_a2 = IdOf(a2.data), id_e = IdOf(e.data);
  const std::string a2_id = id_a2["node_id"];
  // The partners add A2 (as a member, and as a peer that pulls from them); A2 adds A's old
  // identity and the partners.
  for (ServedNode* p : partners) {
    ASSERT_EQ(RunKhronika({"member", "add", "--data", p->data().string(), "--vkey", id_a2["vkey"],
                           "--cosigner-vkey", id_a2["cosigner_vkey"], "--recovery-pubkey",
                           id_a2["recovery_pubkey"]})
                  .exit_code,
              0);
    ASSERT_EQ(RunKhronika({"peer", "add", "--data", p->data().string(), "--serve-only", "--id",
                           a2_id, "--cert-sha256", id_a2["cert_sha256"]})
                  .exit_code,
              0);
    json id = IdOf(p->data());
    ASSERT_EQ(RunKhronika({"member", "add", "--data", a2.data.string(), "--vkey", id["vkey"],
                           "--cosigner-vkey", id["cosigner_vkey"]})
                  .exit_code,
              0);
    ASSERT_EQ(RunKhronika({"peer", "add", "--data", a2.data.string(), "--url", p->server().url(),
                           "--id", id["node_id"], "--cert-sha256", id["cert_sha256"]})
                  .exit_code,
              0);
  }
  ASSERT_EQ(RunKhronika({"member", "add", "--data", a2.data.string(), "--vkey", id_a["vkey"],
                         "--cosigner-vkey", id_a["cosigner_vkey"]})
                .exit_code,
            0);
  RunResult pulled = RunKhronika({"sync", "--data", a2.data.string()});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_EQ(RecordIds(a2.data, origin_a), log_a);
  const std::vector<std::string> combine = {"recovery", "combine", "--data", a2.data.string(),
                                            "--recovery-key", a2_key.string(), "--origin",
                                            origin_a};
  RunResult none = RunWithRecoveryPassphrase(pass, combine);
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("holds 0 release(s)"), std::string::npos) << none.err;

  // B releases to A2. D releases to E, and to A2's node id but sealed to E's recovery key: a
  // release to the wrong node and one to the wrong key.
  auto release = [&](ServedNode& p, const std::string& to, const std::string& to_pubkey) {
    std::vector<std::string> argv = {"recovery", "release", "--data", p.data().string(),
                                     "--recovery-key", recovery_file[&p].string(), "--origin",
                                     origin_a, "--to", to};
    if (!to_pubkey.empty()) argv.insert(argv.end(), {"--to-pubkey", to_pubkey});
    return RunWithRecoveryPassphrase(pass, argv);
  };
  RunResult from_b = release(b, a2_id, "");
  ASSERT_EQ(from_b.exit_code, 0) << from_b.err;
  // The release is an explicit act of B's operator, in B's custody log as well.
  RunResult b_custody = RunKhronika({"access-log", "--data", b.data().string(), "--action",
                                     "recovery-release", "--json"});
  ASSERT_EQ(b_custody.exit_code, 0) << b_custody.err;
  std::vector<json> released = JsonLines(b_custody.out);
  ASSERT_EQ(released.size(), 1u) << b_custody.out;
  EXPECT_EQ(released[0]["object"], "share of origin " + origin_a + " released to " + a2_id);
  EXPECT_EQ(released[0]["token_id"], "local");
  EXPECT_TRUE(released[0]["logged"].is_object()) << b_custody.out;
  RunResult to_e = release(d, id_e["node_id"], id_e["recovery_pubkey"]);
  ASSERT_EQ(to_e.exit_code, 0) << to_e.err;
  RunResult wrong_key = release(d, a2_id, id_e["recovery_pubkey"]);
  ASSERT_EQ(wrong_key.exit_code, 0) << wrong_key.err;
  RunResult synced = RunKhronika({"sync", "--data", a2.data.string()});
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;

  // One release (and two that do not count) opens nothing, and changes nothing.
  auto dump = [&]() {
    RunResult r = RunProgram({"mdb_dump", "-a", (a2.data / "store").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string keyring;
    for (const auto& f : fs::directory_iterator(a2.data)) {
      if (f.is_regular_file()) keyring += f.path().filename().string() + ReadFile(f.path());
    }
    return r.out + keyring;
  };
  const std::string before = dump();
  RunResult one = RunWithRecoveryPassphrase(pass, combine);
  EXPECT_NE(one.exit_code, 0);
  EXPECT_NE(one.err.find("holds 1 release(s)"), std::string::npos) << one.err;
  EXPECT_NE(one.err.find("does not open with this recovery key: ignored"), std::string::npos)
      << one.err;
  EXPECT_EQ(dump(), before) << "a refused combine changed the node";
  RunResult unread = RunKhronika({"cat", "--data", a2.data.string(), entry_r, "statement.txt"});
  EXPECT_NE(unread.exit_code, 0);
  EXPECT_EQ(unread.out, "");

  // C's release makes two: A2 recovers A's key and adopts A's log.
  RunResult from_c = release(c, a2_id, "");
  ASSERT_EQ(from_c.exit_code, 0) << from_c.err;
  ASSERT_EQ(RunKhronika({"sync", "--data", a2.data.string()}).exit_code, 0);
  RunResult two = RunWithRecoveryPassphrase(pass, combine);
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;
  EXPECT_NE(two.out.find("from 2 released shares"), std::string::npos) << two.out;
  RunResult verified = RunKhronika({"verify", "--data", a2.data.string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;

  // Every old file, byte for byte, through `cat`; `log` opens A's entries again.
  for (const auto& [entry, name] : std::vector<std::pair<std::string, std::string>>{
           {entry_r, "statement.txt"}, {entry_r, "video.mp4"}, {entry_o, "other.txt"}}) {
    RunResult cat = RunKhronika({"cat", "--data", a2.data.string(), entry, name});
    ASSERT_EQ(cat.exit_code, 0) << name << ": " << cat.err;
    EXPECT_TRUE(cat.out == ReadFile(a / name)) << name;
  }
  std::vector<json> opened;
  for (json& r : JsonLines(RunKhronika({"log", "--data", a2.data.string(), "--origin", origin_a,
                                        "--json"}).out)) {
    if (r["object_type"] == "sealed_entry") opened.push_back(std::move(r));
  }
  ASSERT_EQ(opened.size(), 2u);
  EXPECT_EQ(opened[0]["case"], "case-r");
  EXPECT_EQ(opened[1]["case"], "case-o");
  RunResult by_case = RunKhronika({"log", "--data", a2.data.string(), "--origin", origin_a,
                                   "--case", "case-r", "--json"});
  ASSERT_EQ(by_case.exit_code, 0) << by_case.err;
  EXPECT_EQ(JsonLines(by_case.out).size(), 1u);

  // A court bundle of the old case, made on A2, verifies offline and holds the files.
  const fs::path bundle = a2_dir / "bundle";
  RunResult exported = RunKhronika({"export", "--data", a2.data.string(), "--case", "case-r",
                                    "--out", bundle.string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  RunResult checked = RunKhronika({"verify-bundle", bundle.string()});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  json index = json::parse(ReadFile(bundle / "bundle.json"));
  ASSERT_EQ(index["records"].size(), 1u) << index.dump();
  EXPECT_EQ(index["records"][0]["entry_id"], entry_r);
  EXPECT_EQ(index["records"][0]["origin"], origin_a);
  EXPECT_EQ(index["records"][0]["disclosed"], true);

  // The API serves them too: a lawyer's token of case-r reads the video, not case-o.
  {
    ServerProcess served(a2.data);
    ASSERT_TRUE(served.started());
    Token lawyer = MakeToken(a2.data, "reader", {"case-r"});
    HttpReply listing = Get(served, "/v1/cases/case-r/entries", lawyer.secret);
    ASSERT_EQ(listing.status, 200) << listing.Describe();
    ASSERT_EQ(listing.Json()["entries"].size(), 1u) << listing.body;
    EXPECT_EQ(listing.Json()["entries"][0]["entry_id"], entry_r);
    HttpReply video = Get(served, "/v1/entries/" + entry_r + "/files/1/content", lawyer.secret);
    EXPECT_EQ(video.status, 200);
    EXPECT_TRUE(video.body == ReadFile(a / "video.mp4"));
    EXPECT_EQ(Get(served, "/v1/entries/" + entry_o, lawyer.secret).status, 404);
  }

  // No partner holds A's archive key or any share unsealed: not on disk, not in the running
  // server. The controls show that each search finds what is there.
  for (ServedNode* p : partners) EXPECT_EQ(FindInNode(p->data(), secrets), "") << p->data();
  EXPECT_NE(FindInNode(b.data(), {sealed_share_of_b}), "");
  std::vector<std::string> with_control = secrets;
  with_control.push_back(Raw(ParseHashHex(IdOf(b.data())["node_id"].get<std::string>()).value()));
  const std::string control = "needle " + std::to_string(secrets.size()) + " ";
  std::istringstream in_memory(FindInMemory(b.server().pid(), with_control));
  bool control_found = false;
  for (std::string line; std::getline(in_memory, line);) {
    if (line.rfind(control, 0) == 0) {
      control_found = true;
    } else {
      ADD_FAILURE() << "in the memory of B's server: " << line;
    }
  }
  EXPECT_TRUE(control_found) << "B's own node id was not found in its server's memory";
}

}  // namespace
}  // namespace khronika::testing
