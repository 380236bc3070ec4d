// People and keys through the real khronika binary: authors listed and removed, members removed,
// token labels, tokens revoked by their secret, and --version.
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

TEST(PeopleTest, AuthorsAreListedAndRemovedWithoutTouchingTheirEntries) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  const std::string data = node.data.string();
  RunResult keygen = RunKhronika({"keygen", "--out", (dir / "bob.key").string()});
  ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
  const std::string bob = keygen.out.substr(0, 64);
  RunResult added = RunKhronika({"author", "add", "--data", data, "--name", "Bob Field", "--pubkey",
                                 (dir / "bob.key.pub").string()});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_NE(added.err.find("key export"), std::string::npos) << added.err;
  WriteFile(dir / "s.txt", "a statement");
  RunResult first = RunKhronika({"add", "--data", data, "--key", (dir / "bob.key").string(), "--case",
                                 "c1", (dir / "s.txt").string()});
  ASSERT_EQ(first.exit_code, 0) << first.err;

  RunResult list = RunKhronika({"author", "list", "--data", data, "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  std::vector<json> authors = JsonLines(list.out);
  ASSERT_EQ(authors.size(), 2u) << list.out;
  json bob_row;
  for (const json& a : authors) {
    if (a["name"] == "Bob Field") bob_row = a;
    EXPECT_EQ(a["pubkey"].get<std::string>().size(), 64u);
    EXPECT_EQ(a["removed"], false);
  }
  EXPECT_EQ(bob_row["pubkey"], bob);
  RunResult text = RunKhronika({"author", "list", "--data", data});
  EXPECT_NE(text.out.find(bob + "  Bob Field\n"), std::string::npos) << text.out;

  RunResult removed = RunKhronika({"author", "remove", "--data", data, bob});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  RunResult refused = RunKhronika({"add", "--data", data, "--key", (dir / "bob.key").string(), "--case",
                                   "c1", (dir / "s.txt").string()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("was removed"), std::string::npos) << refused.err;
  // The entry Bob signed before stays, and the node verifies.
  RunResult log = RunKhronika({"log", "--data", data, "--json"});
  EXPECT_EQ(JsonLines(log.out).size(), 1u);
  EXPECT_EQ(JsonLines(log.out)[0]["author"], bob);
  EXPECT_EQ(RunKhronika({"verify", "--data", data}).exit_code, 0);
  RunResult after = RunKhronika({"author", "list", "--data", data});
  EXPECT_NE(after.out.find(bob + "  Bob Field  REMOVED\n"), std::string::npos) << after.out;

  RunResult unknown = RunKhronika({"author", "remove", "--data", data, std::string(64, 'a')});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no author"), std::string::npos) << unknown.err;
  EXPECT_EQ(RunKhronika({"author", "remove", "--data", data, "not-a-key"}).exit_code, 2);
}

TEST(PeopleTest, MembersAreRemovedButNeverTheNodeItself) {
  TempDir a_dir, b_dir;
  LocalNode a = MakeNodeWithAuthor(a_dir), b = MakeNodeWithAuthor(b_dir);
  json id_a = IdOf(a.data), id_b = IdOf(b.data);
  ASSERT_EQ(RunKhronika({"member", "add", "--data", a.data.string(), "--vkey", id_b["vkey"],
                         "--cosigner-vkey", id_b["cosigner_vkey"]}).exit_code, 0);
  auto members = [&] { return JsonLines(RunKhronika({"member", "list", "--data", a.data.string(), "--json"}).out); };
  ASSERT_EQ(members().size(), 2u);
  RunResult self = RunKhronika({"member", "remove", "--data", a.data.string(), id_a["node_id"]});
  EXPECT_EQ(self.exit_code, 1);
  EXPECT_NE(self.err.find("this node itself"), std::string::npos) << self.err;
  RunResult removed = RunKhronika({"member", "remove", "--data", a.data.string(), id_b["node_id"]});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  std::vector<json> left = members();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["node_id"], id_a["node_id"]);
  RunResult again = RunKhronika({"member", "remove", "--data", a.data.string(), id_b["node_id"]});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("is not a member"), std::string::npos) << again.err;
  // Added back, it is a member again.
  ASSERT_EQ(RunKhronika({"member", "add", "--data", a.data.string(), "--vkey", id_b["vkey"]}).exit_code, 0);
  EXPECT_EQ(members().size(), 2u);
}

TEST(PeopleTest, TokensCarryLabelsAndAreRevokedByTheirSecret) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  const std::string data = node.data.string();
  RunResult made = RunKhronika({"token", "create", "--data", data, "--role", "reader", "--case", "c17",
                                "--label", "Lawyer Ivanova, case 17"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string secret = made.out.substr(0, made.out.find('\n'));
  ASSERT_EQ(secret.rfind("khr_", 0), 0u);
  RunResult list = RunKhronika({"token", "list", "--data", data});
  EXPECT_NE(list.out.find("reader  c17  Lawyer Ivanova, case 17\n"), std::string::npos) << list.out;
  std::vector<json> rows = JsonLines(RunKhronika({"token", "list", "--data", data, "--json"}).out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["label"], "Lawyer Ivanova, case 17");
  EXPECT_EQ(RunKhronika({"token", "create", "--data", data, "--role", "auditor", "--label",
                         "two\nlines"}).exit_code, 1);

  RunResult revoked = RunKhronika({"token", "revoke", "--data", data, secret});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_EQ(revoked.out, "revoked token " + rows[0]["id"].get<std::string>() + "\n");
  EXPECT_EQ(revoked.err.find(secret), std::string::npos);
  rows = JsonLines(RunKhronika({"token", "list", "--data", data, "--json"}).out);
  EXPECT_EQ(rows[0]["revoked"], true);
  std::string stranger = "khr_" + std::string(64, '0');
  RunResult unknown = RunKhronika({"token", "revoke", "--data", data, stranger});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no token of this node has that secret"), std::string::npos) << unknown.err;
  EXPECT_EQ(unknown.err.find(stranger), std::string::npos);
  EXPECT_EQ(unknown.out.find(stranger), std::string::npos);
}

TEST(PeopleTest, VersionIsTheProjectVersion) {
  RunResult v = RunKhronika({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out, std::string("khronika ") + KHRONIKA_PROJECT_VERSION + "\n");
  EXPECT_TRUE(std::regex_match(std::string(KHRONIKA_PROJECT_VERSION), std::regex(R"(\d+\.\d+\.\d+)")));
}

}  // namespace
}  // namespace khronika::testing
