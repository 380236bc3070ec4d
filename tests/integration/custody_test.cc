// Custody events in the log itself (docs/format.md section 7.3): a read of content over HTTPS
// and an export become custody events, which `serve` seals into custody records of its own log;
// `access-log` and GET /v1/access-log read them from there; a partner that synced holds the
// records, opens none of them, and keeps the original when the origin's operator edits one.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

#include "khronika/schemas/bytes.h"
#include "server_fixture.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

// The events of GET /v1/access-log, newest first, once none is pending (or after 30 s).
json LoggedEvents(ServedNode& node, size_t at_least) {
  json events;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    HttpReply r = Get(node.server(), "/v1/access-log?limit=1000", node.admin().secret);
    EXPECT_EQ(r.status, 200) << r.Describe();
    events = r.Json()["events"];
    bool all_logged = events.size() >= at_least;
    for (const json& e : events) all_logged = all_logged && !e["logged"].is_null();
    if (all_logged) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return events;
}

std::vector<json> OriginLog(const std::filesystem::path& data, const std::string& origin) {
  RunResult r = RunKhronika({"log", "--data", data.string(), "--origin", origin, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return JsonLines(r.out);
}

TEST(CustodyLogTest, ReadsAndExportsAreSealedIntoTheLogAndAPartnerKeepsTheOriginal) {
  ServedNode a("custody_interval_ms = 100\n"), b;
  Federate({&a, &b});
  const std::string origin_a = IdOf(a.data())["node_id"];
  WriteFile(a / "statement.txt", "statement\n");
  WriteFile(a / "other.txt", "other case\n");
  ASSERT_EQ(a.Submit(a.admin().secret, "case-a", {a / "statement.txt"}).exit_code, 0);
  ASSERT_EQ(a.Submit(a.admin().secret, "case-b", {a / "other.txt"}).exit_code, 0);
  std::string id_a, id_b;
  for (const json& r : LogJson(a.data())) (r["case"] == "case-a" ? id_a : id_b) = r["entry_id"];
  ASSERT_FALSE(id_a.empty());
  ASSERT_FALSE(id_b.empty());

  // A lawyer of case A reads its file over HTTPS; the admin exports case A and reads case B.
  const Token lawyer = MakeToken(a.data(), "reader", {"case-a"});
  HttpReply read = Get(a.server(), "/v1/entries/" + id_a + "/files/0/content", lawyer.secret);
  ASSERT_EQ(read.status, 200) << read.Describe();
  EXPECT_EQ(read.body, "statement\n");
  ASSERT_EQ(Get(a.server(), "/v1/cases/case-a/bundle", a.admin().secret).status, 200);
  ASSERT_EQ(Get(a.server(), "/v1/entries/" + id_b + "/files/0/content", a.admin().secret).status,
            200);

  // Newest first: the three acts, then the grants of the lawyer's token and of the admin's.
  json events = LoggedEvents(a, 5);
  ASSERT_EQ(events.size(), 5u) << events.dump();
  EXPECT_EQ(events[3]["action"], "token-grant");
  EXPECT_EQ(events[3]["object"], "token " + lawyer.id + " (reader)");
  EXPECT_EQ(events[3]["case"], "case-a");
  EXPECT_EQ(events[3]["token_id"], "local");
  EXPECT_EQ(events[4]["action"], "token-grant");
  EXPECT_EQ(events[4]["object"], "token " + a.admin().id + " (admin)");
  EXPECT_EQ(events[4]["case"], "");
  for (const json& e : events) EXPECT_FALSE(e["logged"].is_null()) << e.dump();
  EXPECT_EQ(events[2]["action"], "read-content");
  EXPECT_EQ(events[2]["object"], id_a + "/0");
  EXPECT_EQ(events[2]["case"], "case-a");
  EXPECT_EQ(events[2]["token_id"], lawyer.id);
  EXPECT_EQ(events[2]["role"], "reader");
  EXPECT_EQ(events[1]["action"], "export");
  EXPECT_EQ(events[1]["case"], "case-a");
  EXPECT_EQ(events[0]["object"], id_b + "/0");

  // The custody records are records of A's log, after the two entries.
  std::vector<json> log_a = OriginLog(a.data(), origin_a);
  // Those after the entries: the lawyer's grant, the reads and the export (the admin token's
  // grant came before the entries).
  uint64_t last_entry = 0;
  for (const json& r : log_a) {
    if (r["object_type"] == "sealed_entry") last_entry = r["index"].get<uint64_t>();
  }
  std::vector<json> custody;
  for (const json& r : log_a) {
    if (r["object_type"] == "custody_record" && r["index"].get<uint64_t>() > last_entry) {
      custody.push_back(r);
    }
  }
  ASSERT_GE(custody.size(), 1u);
  EXPECT_EQ(log_a[0]["object_type"], "custody_record");
  RunResult verify_a = RunKhronika({"verify", "--data", a.data().string()});
  EXPECT_EQ(verify_a.exit_code, 0) << verify_a.out;
  // The CLI shows the same events, from the log.
  RunResult access = RunKhronika({"access-log", "--data", a.data().string(), "--json"});
  ASSERT_EQ(access.exit_code, 0) << access.err;
  std::vector<json> lines = JsonLines(access.out);
  ASSERT_EQ(lines.size(), 5u);
  for (const json& l : lines) EXPECT_TRUE(l["logged"].is_object()) << l.dump();

  // B takes A's log, custody records included; it verifies them without a key.
  RunResult sync = RunKhronika({"sync", "--data", b.data().string(), "--peer", origin_a});
  ASSERT_EQ(sync.exit_code, 0) << sync.out << sync.err;
  std::vector<json> held = OriginLog(b.data(), origin_a);
  ASSERT_EQ(held.size(), log_a.size());
  const json& original = held[custody[0]["index"].get<size_t>()];
  EXPECT_EQ(original["object_type"], "custody_record");
  EXPECT_EQ(original["object_hex"], custody[0]["object_hex"]);
  EXPECT_FALSE(original.contains("case"));

  // A's operator edits the custody record of the lawyer's grant in the store, to hide that the
  // lawyer was ever given access.
  const std::string edited = custody[0]["entry_id"];
  // Objects are kept at the place of the record that logs them (keys::Object).
  Bytes place = *FromHex(origin_a);
  AppendBigEndian64(place, custody[0]["index"].get<uint64_t>());
  ASSERT_TRUE(FlipStoredValueBit(a.data() / "store", "objects", std::string(AsChars(place))));
  RunResult tampered = RunKhronika({"verify", "--data", a.data().string()});
  EXPECT_EQ(tampered.exit_code, 1) << tampered.out;
  EXPECT_NE(tampered.out.find(edited), std::string::npos) << tampered.out;
  // A partner keeps the original, which still verifies there, and a new sync changes nothing
  // of it.
  RunResult again = RunKhronika({"sync", "--data", b.data().string(), "--peer", origin_a});
  std::vector<json> still = OriginLog(b.data(), origin_a);
  ASSERT_GT(still.size(), custody[0]["index"].get<size_t>());
  EXPECT_EQ(still[custody[0]["index"].get<size_t>()]["object_hex"], custody[0]["object_hex"]);
  RunResult verify_b = RunKhronika({"verify", "--data", b.data().string()});
  EXPECT_EQ(verify_b.exit_code, 0) << verify_b.out;
}

// A court bundle of case A carries the custody records that hold A's reads and exports, with
// the key of each of those events only: verify-bundle opens and checks them, REPORT.md lists them
// in the order the log recorded them, and nothing in the bundle names case B or B's entry,
// although B's read shares a custody record with A's events.
TEST(CustodyLogTest, ABundleShowsItsCaseReadsAndExportsInOrderAndNothingOfAnotherCase) {
  ServedNode a("custody_interval_ms = 60000\n");  // sealed here by the exports and at stop
  WriteFile(a / "statement.txt", "statement\n");
  WriteFile(a / "other.txt", "other case\n");
  ASSERT_EQ(a.Submit(a.admin().secret, "case-a", {a / "statement.txt"}).exit_code, 0);
  ASSERT_EQ(a.Submit(a.admin().secret, "case-b", {a / "other.txt"}).exit_code, 0);
  std::string id_a, id_b;
  for (const json& r : LogJson(a.data())) (r["case"] == "case-a" ? id_a : id_b) = r["entry_id"];
  const Token lawyer = MakeToken(a.data(), "reader", {"case-a"});
  ASSERT_EQ(Get(a.server(), "/v1/entries/" + id_a + "/files/0/content", lawyer.secret).status, 200);
  ASSERT_EQ(Get(a.server(), "/v1/entries/" + id_b + "/files/0/content", a.admin().secret).status,
            200);
  // The operator's export seals what is pending (both reads and itself) into one record.
  RunResult first = RunKhronika({"export", "--data", a.data().string(), "--case", "case-a",
                                 "--out", (a / "first").string()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(Get(a.server(), "/v1/entries/" + id_a + "/files/0/content", lawyer.secret).status, 200);
  RunResult second = RunKhronika({"export", "--data", a.data().string(), "--case", "case-a",
                                  "--out", (a / "second").string()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  // The lawyer's token was granted for case A: `token create` logged that at once, in a record
  // of its own. A bundle is planned before its own export is logged: the second holds that
  // record and the next (the lawyer's read and the first export); the third holds all three.
  json second_index = json::parse(ReadFile(a / "second" / "bundle.json"));
  ASSERT_EQ(second_index["custody"].size(), 2u) << second_index.dump();
  RunResult third = RunKhronika({"export", "--data", a.data().string(), "--case", "case-a",
                                 "--out", (a / "third").string()});
  ASSERT_EQ(third.exit_code, 0) << third.err;

  RunResult checked = RunKhronika({"verify-bundle", (a / "third").string()});
  ASSERT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_NE(checked.out.find("custody: 5 events of the case"), std::string::npos)
      << checked.out;
  const std::string report = ReadFile(a / "third" / "REPORT.md");
  std::vector<size_t> at;
  const std::string lawyer_read =
      "read-content of " + id_a + "/0 by token " + lawyer.id + " (reader)";
  const std::string operator_export = "export of case bundle by the node's operator (admin)";
  const std::string grant = "token-grant of token " + lawyer.id + " (reader) by the node's operator";
  for (const std::string& line : std::vector<std::string>{grant, lawyer_read, operator_export,
                                                          lawyer_read, operator_export}) {
    at.push_back(report.find(line, at.empty() ? 0 : at.back() + 1));
    ASSERT_NE(at.back(), std::string::npos) << line << "\n" << report;
  }
  // Nothing of case B: not its case id, not its entry, in any file of the bundle.
  for (const auto& e : std::filesystem::recursive_directory_iterator(a / "third")) {
    if (!e.is_regular_file()) continue;
    const std::string bytes = ReadFile(e.path());
    EXPECT_EQ(bytes.find("case-b"), std::string::npos) << e.path();
    EXPECT_EQ(bytes.find(id_b), std::string::npos) << e.path();
  }
  // One key per event of the case: B's read shares the first record, and has no key here.
  json index = json::parse(ReadFile(a / "third" / "bundle.json"));
  ASSERT_EQ(index["custody"].size(), 3u) << index.dump();
  EXPECT_EQ(index["custody"][0]["events"], json::array({0})) << index.dump();
  EXPECT_EQ(index["custody"][1]["events"], json::array({0, 2})) << index.dump();

  // An event key that opens another slot, or a changed event view, is named.
  const std::string dir =
      (a / "third").string() + "/" + index["custody"][1]["folder"].get<std::string>();
  WriteFile(dir + "/events/2.json", ReadFile(dir + "/events/0.json"));
  RunResult bad = RunKhronika({"verify-bundle", (a / "third").string()});
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_NE(bad.err.find("events/2.json"), std::string::npos) << bad.err;
}

// The operator's own acts that are no reads: a token granted and revoked, the node's keys
// exported. Each is in the custody log at once (the commands seal it into the log themselves),
// named by token id or what left the node; a second revocation adds nothing.
TEST(CustodyLogTest, TokenGrantsRevocationsAndKeyExportsAreLogged) {
  ServedNode a("custody_interval_ms = 60000\n");  // nothing sealed by serve during the test
  const Token lawyer = MakeToken(a.data(), "reader", {"case-a", "case-b"});
  RunResult revoked = RunKhronika({"token", "revoke", "--data", a.data().string(), lawyer.id});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  RunResult again = RunKhronika({"token", "revoke", "--data", a.data().string(), lawyer.secret});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already revoked"), std::string::npos) << again.out;
  WriteFile(a / "export-passphrase", "a long export passphrase\na long export passphrase\n");
  RunResult exported = RunKhronikaWithFd3(
      a / "export-passphrase",
      {"key", "export", "--data", a.data().string(), "--out", (a / "keys.sealed").string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;

  auto events = [&](const std::string& action) {
    RunResult r = RunKhronika({"access-log", "--data", a.data().string(), "--action", action,
                               "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return JsonLines(r.out);
  };
  const std::vector<json> grants = events("token-grant"), revocations = events("token-revoke"),
                          exports = events("key-export");
  ASSERT_EQ(grants.size(), 3u);  // the admin's (every case), the lawyer's two cases
  ASSERT_EQ(revocations.size(), 2u);
  ASSERT_EQ(exports.size(), 1u);
  const std::string object = "token " + lawyer.id + " (reader)";
  EXPECT_EQ(grants[1]["object"], object);
  EXPECT_EQ(grants[1]["case"], "case-a");
  EXPECT_EQ(grants[2]["case"], "case-b");
  EXPECT_EQ(revocations[0]["object"], object);
  EXPECT_EQ(revocations[0]["case"], "case-a");
  EXPECT_EQ(revocations[1]["case"], "case-b");
  EXPECT_EQ(exports[0]["object"], "node, witness and archive keys, sealed under a passphrase");
  for (const auto* list : {&grants, &revocations, &exports}) {
    for (const json& e : *list) {
      EXPECT_EQ(e["token_id"], "local") << e.dump();
      EXPECT_TRUE(e["logged"].is_object()) << e.dump();  // sealed into the log already
    }
  }
  // They are custody records of the node's own log, which verifies.
  size_t custody_records = 0;
  for (const json& r : LogRecordsJson(a.data())) {
    custody_records += r["object_type"] == "custody_record";
  }
  EXPECT_GE(custody_records, 4u);  // one per command: admin grant, lawyer grant, revoke, export
  RunResult verify = RunKhronika({"verify", "--data", a.data().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
}

}  // namespace
}  // namespace khronika::testing
