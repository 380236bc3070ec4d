// Three NGOs' nodes on loopback, peered over mutual TLS: logs replicate, a log outlives its
// origin, a raided node is rebuilt from its peers with nothing acknowledged lost, and the sync
// endpoints answer only configured peers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/schemas/note.h"
#include "server_fixture.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

std::vector<std::string> EntryIds(const std::filesystem::path& data, const std::string& origin) {
  RunResult r = RunKhronika({"log", "--data", data.string(), "--origin", origin, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> ids;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) ids.push_back(json::parse(line)["entry_id"]);
  return ids;
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
  EXPECT_EQ(json::parse(after.out)["index"], 4);
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
  EXPECT_NE(metrics.body.find("khronika_records_replicated_total 1"), std::string::npos) << metrics.body;
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
  EXPECT_NE(too_many.err.find("is recorded at index 1 but not yet replicated"), std::string::npos)
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
      EXPECT_EQ(log["records"], 2) << st.out;
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
    EXPECT_NE(pulled.out.find("received records " + std::to_string(i) + " to " + std::to_string(i)),
              std::string::npos)
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

