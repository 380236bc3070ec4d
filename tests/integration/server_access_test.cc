// Who may do what: every role on every endpoint (allowed and denied, with the status code),
// case-limited tokens, revocation taking effect at once, token secrets never on disk in the
// clear, and every read of evidence content in the access log under the reading token's id.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "khronika/schemas/bytes.h"
#include "server_fixture.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

struct Endpoint {
  std::string name;
  std::string method;
  std::string path;
  std::optional<std::string> body;
  // Roles allowed; the others get 403.
  std::set<std::string> allowed;
  // Status when allowed (0: 200 or 201).
  int ok_status = 0;
};

class ServerAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(node_.server().started());
    // Evidence in case-a and case-b.
    WriteFile(node_ / "a.txt", "case a evidence\n");
    WriteFile(node_ / "b.txt", "case b evidence\n");
    RunResult a = node_.Submit(node_.admin().secret, "case-a", {node_ / "a.txt"});
    RunResult b = node_.Submit(node_.admin().secret, "case-b", {node_ / "b.txt"});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    entry_a_ = json::parse(a.out)["entry_id"];
    entry_b_ = json::parse(b.out)["entry_id"];
    HttpReply ea = Get(server(), "/v1/entries/" + entry_a_, node_.admin().secret);
    HttpReply eb = Get(server(), "/v1/entries/" + entry_b_, node_.admin().secret);
    ASSERT_EQ(ea.status, 200) << ea.Describe();
    ASSERT_EQ(eb.status, 200) << eb.Describe();
    ASSERT_EQ(ea.Json()["files"].size(), 1u);
    ASSERT_EQ(eb.Json()["files"].size(), 1u);
    origin_ = ea.Json()["record"]["origin"];
  }

  ServerProcess& server() { return node_.server(); }
  // POST `body` to `path` with `token`.
  HttpReply Post(const std::string& path, const std::string& token, const std::string& body) {
    HttpRequest r;
    r.method = "POST";
    r.path = path;
    r.token = token;
    r.body = body;
    return Curl(server(), r);
  }
  std::string FileA() const { return "/v1/entries/" + entry_a_ + "/files/0/content"; }
  std::string FileB() const { return "/v1/entries/" + entry_b_ + "/files/0/content"; }
  // How the access log names a read of file 0 of an entry: "ENTRY_ID/0".
  std::string ReadA() const { return entry_a_ + "/0"; }
  std::string ReadB() const { return entry_b_ + "/0"; }

  HttpReply Call(const Endpoint& e, const std::string& token) {
    HttpRequest r;
    r.method = e.method;
    r.path = e.path;
    r.token = token;
    r.body = e.body;
    return Curl(server(), r);
  }

  ServedNode node_;
  std::string entry_a_, entry_b_, origin_;
};

TEST_F(ServerAccessTest, EveryRoleOnEveryEndpoint) {
  std::map<std::string, Token> tokens = {
      {"admin", node_.admin()},
      {"submitter", MakeToken(node_.data(), "submitter")},
      {"reader", MakeToken(node_.data(), "reader")},
      {"auditor", MakeToken(node_.data(), "auditor")},
  };
  // A fresh signed entry for case-a whose chunk the test uploads first, so that POST /v1/entries
  // succeeds for the roles allowed to append.
  BuiltSubmission s = BuildSubmission(node_.key(), "case-a", "matrix.txt", "appended by role\n");
  ASSERT_TRUE(UploadChunks(server(), node_.admin().secret, s));
  std::string chunk = "a chunk of evidence";
  std::string chunk_id = HexSha256(chunk);

  const std::set<std::string> all = {"admin", "submitter", "reader", "auditor"};
  std::vector<Endpoint> endpoints = {
      {"chunks/missing",
       "POST",
       "/v1/chunks/missing",
       json{{"ids", {chunk_id}}}.dump(),
       {"admin", "submitter"}},
      {"put chunk", "PUT", "/v1/chunks/" + chunk_id, chunk, {"admin", "submitter"}},
      {"post entry", "POST", "/v1/entries", s.body.dump(), {"admin", "submitter"}},
      {"get entry", "GET", "/v1/entries/" + entry_a_, std::nullopt, {"admin", "reader"}},
      {"case entries", "GET", "/v1/cases/case-a/entries", std::nullopt, {"admin", "reader"}},
      {"file content",
       "GET",
       "/v1/entries/" + entry_a_ + "/files/0/content",
       std::nullopt,
       {"admin", "reader"}},
      {"records", "GET", "/v1/logs/" + origin_ + "/records", std::nullopt, {"admin", "auditor"}},
      {"metrics", "GET", "/metrics", std::nullopt, {"admin", "auditor"}},
      {"checkpoint", "GET", "/v1/checkpoint", std::nullopt, all},
      {"inclusion proof", "GET", "/v1/proof/inclusion?index=0&size=2", std::nullopt, all},
      {"consistency proof", "GET", "/v1/proof/consistency?from=1&to=2", std::nullopt, all},
  };
  for (const Endpoint& e : endpoints) {
    // No token, a bad token, a token-shaped but unknown token: 401, with a JSON error.
    for (const std::string& bad :
         {std::string(), std::string("nonsense"), "khr_" + std::string(64, '0')}) {
      HttpReply r = Call(e, bad);
      EXPECT_EQ(r.status, 401) << e.name << " with token '" << bad << "': " << r.Describe();
      EXPECT_TRUE(r.IsJsonError()) << e.name << ": " << r.body;
    }
    HttpRequest basic;
    basic.method = e.method;
    basic.path = e.path;
    basic.body = e.body;
    basic.headers = {"Authorization: Basic YWRtaW46YWRtaW4="};
    EXPECT_EQ(Curl(server(), basic).status, 401) << e.name << " with Basic auth";

    for (const auto& [role, token] : tokens) {
      HttpReply r = Call(e, token.secret);
      if (e.allowed.count(role)) {
        EXPECT_TRUE(r.status == 200 || r.status == 201)
            << role << " on " << e.name << ": " << r.Describe();
      } else {
        EXPECT_EQ(r.status, 403) << role << " on " << e.name << ": " << r.Describe();
        EXPECT_TRUE(r.IsJsonError()) << role << " on " << e.name << ": " << r.body;
      }
    }
  }
  // Auditors see records but never entries or content; what they see verifies nothing secret.
  HttpReply records = Get(server(), "/v1/logs/" + origin_ + "/records", tokens["auditor"].secret);
  ASSERT_EQ(records.status, 200);
  // The three entries, then the custody records of the reads above (sealed by serve).
  EXPECT_GE(records.Json()["records"].size(), 3u);
  // /healthz needs no token at all.
  EXPECT_EQ(Get(server(), "/healthz").status, 200);
}

TEST_F(ServerAccessTest, CaseLimitedTokens) {
  Token reader_a = MakeToken(node_.data(), "reader", {"case-a"});
  Token submitter_a = MakeToken(node_.data(), "submitter", {"case-a"});

  // The reader of case-a reads case-a...
  EXPECT_EQ(Get(server(), "/v1/entries/" + entry_a_, reader_a.secret).status, 200);
  EXPECT_EQ(Get(server(), "/v1/cases/case-a/entries", reader_a.secret).status, 200);
  HttpReply content = Get(server(), FileA(), reader_a.secret);
  EXPECT_EQ(content.status, 200);
  EXPECT_EQ(content.body, "case a evidence\n");
  // ...and nothing of case-b: its entries and files are "not found", exactly as if they did not
  // exist, and no answer names case-b.
  for (const std::string& path : {"/v1/entries/" + entry_b_, FileB()}) {
    HttpReply r = Get(server(), path, reader_a.secret);
    EXPECT_EQ(r.status, 404) << path << ": " << r.Describe();
    EXPECT_TRUE(r.IsJsonError()) << r.body;
    EXPECT_EQ(r.body.find("case b evidence"), std::string::npos);
    EXPECT_EQ(r.body.find("case-b"), std::string::npos) << r.body;
    HttpReply none = Get(server(), path.substr(0, 12) + std::string(64, '7') + path.substr(76), reader_a.secret);
    EXPECT_EQ(none.status, 404) << none.Describe();
  }
  // Files are named by their index in an entry; an index the entry lacks is not found.
  EXPECT_EQ(Get(server(), "/v1/entries/" + entry_a_ + "/files/1/content", reader_a.secret).status,
            404);
  HttpReply listing = Get(server(), "/v1/cases/case-b/entries", reader_a.secret);
  EXPECT_EQ(listing.status, 403) << listing.Describe();
  // khronika get of a case-b entry fails and writes nothing.
  RunResult get = RunKhronika({"get", "--node", server().url(), "--pin", server().pin(), "--token",
                               reader_a.secret, entry_b_, "--out", (node_ / "got").string()});
  EXPECT_NE(get.exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(node_ / "got" / "b.txt"));

  // The submitter of case-a submits to case-a, not to case-b.
  WriteFile(node_ / "more.txt", "more evidence\n");
  RunResult ok = node_.Submit(submitter_a.secret, "case-a", {node_ / "more.txt"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  size_t records = LogJson(node_.data()).size();
  WriteFile(node_ / "other.txt", "evidence for another case\n");
  RunResult refused = node_.Submit(submitter_a.secret, "case-b", {node_ / "other.txt"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("case-b"), std::string::npos) << refused.err;
  BuiltSubmission s = BuildSubmission(node_.key(), "case-b", "other.txt", "by hand\n");
  ASSERT_TRUE(UploadChunks(server(), submitter_a.secret, s));
  HttpReply r = Post("/v1/entries", submitter_a.secret, s.body.dump());
  EXPECT_EQ(r.status, 403) << r.Describe();
  EXPECT_TRUE(r.IsJsonError()) << r.body;
  EXPECT_EQ(LogJson(node_.data()).size(), records);
}

// A small file inline in the POST (no upload first), over real HTTPS: the submitter of case-a
// writes into case-a in one request and the file reads back; into case-b it cannot, inline or
// not, and nothing is written.
TEST_F(ServerAccessTest, InlineContentIsBoundToTheTokensCases) {
  Token submitter_a = MakeToken(node_.data(), "submitter", {"case-a"});
  Token reader_a = MakeToken(node_.data(), "reader", {"case-a"});
  Token reader_b = MakeToken(node_.data(), "reader", {"case-b"});
  auto inline_body = [&](const std::string& case_id, const std::string& content) {
    BuiltSubmission s = BuildSubmission(node_.key(), case_id, "inline.txt", content);
    json& file = s.body["files"][0];
    file.erase("chunks");
    file["content"] = Base64Encode(AsBytes(content));
    return s.body.dump();
  };
  const size_t records = LogJson(node_.data()).size();
  const std::string content = "sent inline, in one request\n";
  HttpReply ok = Post("/v1/entries", submitter_a.secret, inline_body("case-a", content));
  ASSERT_EQ(ok.status, 201) << ok.Describe();
  const std::string id = ok.Json()["entry_id"];
  HttpReply read = Get(server(), "/v1/entries/" + id + "/files/0/content", reader_a.secret);
  EXPECT_EQ(read.status, 200) << read.Describe();
  EXPECT_EQ(read.body, content);
  EXPECT_EQ(Get(server(), "/v1/entries/" + id + "/files/0/content", reader_b.secret).status, 404);
  EXPECT_EQ(LogJson(node_.data()).size(), records + 1);

  HttpReply refused = Post("/v1/entries", submitter_a.secret, inline_body("case-b", content));
  EXPECT_EQ(refused.status, 403) << refused.Describe();
  EXPECT_TRUE(refused.IsJsonError()) << refused.body;
  EXPECT_EQ(LogJson(node_.data()).size(), records + 1);
  RunResult verify = RunKhronika({"verify", "--data", node_.data().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST_F(ServerAccessTest, RevokedTokenIsRefusedAtOnce) {
  Token reader = MakeToken(node_.data(), "reader");
  Token submitter = MakeToken(node_.data(), "submitter");
  std::string path = FileA();
  ASSERT_EQ(Get(server(), path, reader.secret).status, 200);

  RunResult revoke = RunKhronika({"token", "revoke", "--data", node_.data().string(), reader.id});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  // The very next request is refused, by the same running server.
  HttpReply r = Get(server(), path, reader.secret);
  EXPECT_EQ(r.status, 401) << r.Describe();
  EXPECT_TRUE(r.IsJsonError()) << r.body;
  EXPECT_EQ(Get(server(), "/v1/checkpoint", reader.secret).status, 401);
  EXPECT_TRUE(server().Running());

  // The same for a submitter in the middle of its work, and for the CLI.
  WriteFile(node_ / "late.txt", "late evidence\n");
  ASSERT_EQ(node_.Submit(submitter.secret, "case-a", {node_ / "late.txt"}).exit_code, 0);
  ASSERT_EQ(
      RunKhronika({"token", "revoke", "--data", node_.data().string(), submitter.id}).exit_code, 0);
  WriteFile(node_ / "later.txt", "later evidence\n");
  RunResult refused = node_.Submit(submitter.secret, "case-a", {node_ / "later.txt"});
  EXPECT_NE(refused.exit_code, 0);

  // token list shows both revoked; the others still work.
  RunResult list = RunKhronika({"token", "list", "--data", node_.data().string(), "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  int revoked = 0;
  std::istringstream in(list.out);
  for (std::string line; std::getline(in, line);) {
    json t = json::parse(line);
    if (t["id"] == reader.id || t["id"] == submitter.id) {
      EXPECT_EQ(t["revoked"], true) << line;
      ++revoked;
    }
    EXPECT_EQ(line.find("khr_"), std::string::npos) << "token list shows a secret: " << line;
  }
  EXPECT_EQ(revoked, 2);
  EXPECT_EQ(Get(server(), path, node_.admin().secret).status, 200);
  EXPECT_EQ(Get(server(), "/healthz").status, 200);
  EXPECT_TRUE(server().Running());
}

TEST_F(ServerAccessTest, NoTokenSecretOnDisk) {
  std::vector<Token> tokens = {node_.admin(), MakeToken(node_.data(), "reader", {"case-a"}),
                               MakeToken(node_.data(), "submitter"),
                               MakeToken(node_.data(), "auditor")};
  // Use them, revoke one, so that every path that touches tokens has run.
  for (const Token& t : tokens) Get(server(), "/v1/checkpoint", t.secret);
  ASSERT_EQ(
      RunKhronika({"token", "revoke", "--data", node_.data().string(), tokens[3].id}).exit_code, 0);
  // Stop the server so that everything it holds has reached the disk.
  ASSERT_EQ(server().Stop(), 0) << server().Stderr();
  for (const Token& t : tokens) {
    ASSERT_EQ(t.secret.size(), 68u);
    std::string bare = t.secret.substr(4);
    for (const std::string& needle : {t.secret, bare, bare.substr(0, 32), bare.substr(32)}) {
      // -a: binary files (the LMDB data file) are searched as text; -c: counts per file.
      RunResult g = RunProgram({"grep", "-rac", needle, node_.data().string()});
      EXPECT_EQ(g.exit_code, 1) << "grep found (part of) a token secret:\n" << g.out << g.err;
      RunResult l = RunProgram({"grep", "-rl", needle, node_.dir().path().string()});
      EXPECT_EQ(l.exit_code, 1) << l.out;
    }
    // Nor in hex-decoded binary form.
    auto raw = FromHex(bare);
    ASSERT_TRUE(raw.ok());
    std::string bytes(AsChars(*raw));
    for (const auto& f : std::filesystem::recursive_directory_iterator(node_.data())) {
      if (!f.is_regular_file()) continue;
      EXPECT_EQ(ReadFile(f.path()).find(bytes), std::string::npos) << f.path();
    }
  }
}

TEST_F(ServerAccessTest, ContentReadsAreInTheAccessLog) {
  Token reader = MakeToken(node_.data(), "reader", {"case-a"});
  Token reader_b = MakeToken(node_.data(), "reader", {"case-b"});
  Token auditor = MakeToken(node_.data(), "auditor");

  ASSERT_EQ(Get(server(), FileA(), reader.secret).status, 200);
  HttpRequest range;
  range.path = FileA();
  range.token = reader.secret;
  range.headers = {"Range: bytes=0-3"};
  ASSERT_EQ(Curl(server(), range).status, 206);
  RunResult get = RunKhronika({"get", "--node", server().url(), "--pin", server().pin(), "--token",
                               reader_b.secret, entry_b_, "--out", (node_ / "got").string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  ASSERT_EQ(Get(server(), FileB(), node_.admin().secret).status, 200);
  // Refused reads are not reads of content.
  ASSERT_EQ(Get(server(), FileB(), reader.secret).status, 404);
  ASSERT_EQ(Get(server(), FileB(), auditor.secret).status, 403);

  RunResult log = RunKhronika({"access-log", "--data", node_.data().string(), "--json", "--action",
                              "read-content"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  std::vector<json> events;
  std::istringstream in(log.out);
  for (std::string line; std::getline(in, line);) events.push_back(json::parse(line));
  auto count = [&](const std::string& token_id, const std::string& object, const std::string& role,
                   const std::string& case_id) {
    int n = 0;
    for (const json& e : events) {
      if (e["token_id"] == token_id && e["object"] == object) {
        EXPECT_EQ(e["role"], role) << e.dump();
        EXPECT_EQ(e["case"], case_id) << e.dump();
        EXPECT_GT(e["time_ms"].get<int64_t>(), 1600000000000) << e.dump();
        ++n;
      }
    }
    return n;
  };
  EXPECT_EQ(count(reader.id, ReadA(), "reader", "case-a"), 2) << log.out;    // whole + range
  EXPECT_EQ(count(reader_b.id, ReadB(), "reader", "case-b"), 1) << log.out;  // khronika get
  EXPECT_EQ(count(node_.admin().id, ReadB(), "admin", "case-b"), 1) << log.out;
  EXPECT_EQ(count(reader.id, ReadB(), "reader", "case-b"), 0) << log.out;
  EXPECT_EQ(count(auditor.id, ReadB(), "auditor", "case-b"), 0) << log.out;
  EXPECT_EQ(events.size(), 4u) << log.out;
  for (const json& e : events) EXPECT_EQ(e.dump().find("khr_"), std::string::npos);
}

// The "adopting" attack: a submitter limited to case-b signs a descriptor of case-a's one-chunk
// file (sizes show on a seized disk; for a one-chunk file the file's SHA-256 is the chunk id) and
// posts it to case-b without the bytes. It must be refused, and no reader of case-b may ever get
// case-a's bytes. In format 2 logged content exists only sealed under case-a's keys, and upload
// chunks belong to the token that sent them.
TEST_F(ServerAccessTest, AFileOfAnotherCaseCannotBeAdoptedByNamingItsChunks) {
  Token submitter_b = MakeToken(node_.data(), "submitter", {"case-b"});
  Token reader_b = MakeToken(node_.data(), "reader", {"case-b"});
  const size_t records = LogJson(node_.data()).size();
  // Everything the attacker needs is structural: name, size, SHA-256 = chunk id.
  BuiltSubmission adopt = BuildSubmission(node_.key(), "case-b", "adopted.txt", "case a evidence\n");
  ASSERT_EQ(adopt.chunk_ids.size(), 1u);
  HttpReply r = Post("/v1/entries", submitter_b.secret, adopt.body.dump());
  EXPECT_EQ(r.status, 422) << r.Describe();
  EXPECT_EQ(r.Json()["error"], "missing_chunks") << r.body;
  EXPECT_EQ(r.body.find("case-a"), std::string::npos) << r.body;
  EXPECT_EQ(LogJson(node_.data()).size(), records);
  // Nothing of case-a reaches a reader of case-b, by any path.
  for (const std::string& path :
       {"/v1/entries/" + entry_a_, FileA(), std::string("/v1/cases/case-b/entries"),
        std::string("/v1/cases/case-b/bundle"), "/v1/cases/case-b/bundle?entry=" + entry_a_}) {
    HttpReply got = Get(server(), path, reader_b.secret);
    EXPECT_EQ(got.body.find("case a evidence"), std::string::npos) << path;
  }
  // The same attack by the node's own admin token, which may write to every case, is refused too:
  // the rule is about content, not roles.
  EXPECT_EQ(Post("/v1/entries", node_.admin().secret, adopt.body.dump()).status, 422);
  // Whoever does hold the bytes may submit them to its own case: uploading proves it.
  ASSERT_TRUE(UploadChunks(server(), submitter_b.secret, adopt));
  HttpReply ok = Post("/v1/entries", submitter_b.secret, adopt.body.dump());
  EXPECT_EQ(ok.status, 201) << ok.Describe();
  // Sealing deleted the plaintext: a later submission of the same bytes uploads them again.
  BuiltSubmission again = BuildSubmission(node_.key(), "case-b", "again.txt", "case a evidence\n");
  EXPECT_EQ(Post("/v1/entries", submitter_b.secret, again.body.dump()).status, 422);
  ASSERT_TRUE(UploadChunks(server(), submitter_b.secret, again));
  EXPECT_EQ(Post("/v1/entries", submitter_b.secret, again.body.dump()).status, 201);
}

// POST /v1/chunks/missing and PUT /v1/chunks answer only from the token's own uploads: a chunk of
// another case looks exactly like one no node ever saw.
TEST_F(ServerAccessTest, UploadAnswersSayNothingAboutOtherCases) {
  Token submitter_b = MakeToken(node_.data(), "submitter", {"case-b"});
  const std::string chunk_a = HexSha256("case a evidence\n");
  const std::string chunk_b = HexSha256("case b evidence\n");
  const std::string never = HexSha256("no node ever held this");
  auto missing = [&](const json& body) {
    HttpReply reply = Post("/v1/chunks/missing", submitter_b.secret, body.dump());
    EXPECT_EQ(reply.status, 200) << reply.Describe();
    return reply.Json()["missing"];
  };
  // Logged content, of this case or another, is held only sealed: every id is "missing".
  EXPECT_EQ(missing({{"ids", {chunk_a, never, chunk_b}}}), json::array({chunk_a, never, chunk_b}));
  // Format 1's "case" field is refused.
  EXPECT_EQ(Post("/v1/chunks/missing", submitter_b.secret,
                 json{{"ids", {chunk_a}}, {"case", "case-b"}}.dump()).status, 400);
  // A PUT of case-a's chunk and of a chunk nobody holds get the same answer.
  auto put = [&](const std::string& bytes) {
    HttpRequest r;
    r.method = "PUT";
    r.path = "/v1/chunks/" + HexSha256(bytes);
    r.token = submitter_b.secret;
    r.body = bytes;
    HttpReply reply = Curl(server(), r);
    json body = reply.Json();
    body.erase("id");
    return std::make_pair(reply.status, body.dump());
  };
  EXPECT_EQ(put("case a evidence\n"), put("a chunk no node held before"));
  EXPECT_EQ(put("case a evidence\n").first, 201);
  // After its own upload the token may name it; another token has still sent nothing.
  EXPECT_EQ(missing({{"ids", {chunk_a, never}}}), json::array({never}));
  Token submitter_a = MakeToken(node_.data(), "submitter", {"case-a"});
  HttpReply theirs = Post("/v1/chunks/missing", submitter_a.secret,
                          json{{"ids", {chunk_a, never}}}.dump());
  EXPECT_EQ(theirs.Json()["missing"], json::array({chunk_a, never}));
}

// A file may repeat one chunk id (a disk image of zeros), but the list cannot stand for more than
// it holds: every place is read against the declared size, and a short chunk named 3072 times
// for "3 GiB" is refused at its first place, with nothing logged (docs/api.md, 7.4).
TEST_F(ServerAccessTest, AFileRepeatingAShortChunkCannotStandForGigabytes) {
  Token submitter_a = MakeToken(node_.data(), "submitter", {"case-a"});
  const size_t records = LogJson(node_.data()).size();
  BuiltSubmission s = BuildSubmission(node_.key(), "case-a", "huge.bin", "case a evidence\n");
  json& f = s.body["files"][0];
  ASSERT_TRUE(UploadChunks(server(), submitter_a.secret, s));
  const std::string chunk = f["chunks"][0];
  f["chunks"] = json::array();
  for (int i = 0; i < 3072; ++i) f["chunks"].push_back(chunk);  // "3 GiB" from 200 KB of JSON
  f["descriptor"]["size"] = uint64_t{3072} << 20;
  Resign(node_.key(), s);
  HttpReply r = Post("/v1/entries", submitter_a.secret, s.body.dump());
  EXPECT_EQ(r.status, 422) << r.Describe();
  EXPECT_NE(r.body.find("wrong length for the declared size"), std::string::npos) << r.body;
  EXPECT_EQ(LogJson(node_.data()).size(), records);
}

std::vector<std::string> OutputLines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// "YYYY-MM-DDTHH:MM:SSZ" for `--since`.
std::string IsoSeconds(int64_t secs) {
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// What an operator asks of the access log: when (in UTC, readable), which file, which case; only
// one case, only since a time.
TEST_F(ServerAccessTest, AccessLogShowsTimesFilesAndCasesAndFilters) {
  Token reader = MakeToken(node_.data(), "reader", {"case-a"});
  ASSERT_EQ(Get(server(), FileA(), reader.secret).status, 200);
  ASSERT_EQ(Get(server(), FileB(), node_.admin().secret).status, 200);
  ASSERT_EQ(Get(server(), "/v1/cases/case-a/bundle", reader.secret).status, 200);
  // The tokens' grants are custody events too; this test is about reads and exports.
  auto access_log = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {"access-log", "--data",   node_.data().string(), "--action",
                                     "read-content", "--action", "export"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    RunResult r = RunKhronika(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return OutputLines(r.out);
  };

  // JSON: the fields it always had, plus the readable time and the file name of each read, and
  // where the event is (sealed into a custody record of the log within custody_interval_ms:
  // waited for, so that every listing below sees the same).
  std::vector<json> events;
  for (int tries = 0; tries < 300; ++tries) {
    events.clear();
    for (const std::string& line : access_log({"--json"})) events.push_back(json::parse(line));
    bool logged = events.size() == 3;
    for (const json& e : events) logged = logged && e["logged"].is_object();
    if (logged) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(events.size(), 3u);
  for (const json& e : events) ASSERT_TRUE(e["logged"].is_object()) << e.dump();
  auto where = [&](size_t i) {
    return "  logged at record " + std::to_string(events[i]["logged"]["record"].get<uint64_t>());
  };
  const std::regex utc(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)");
  for (const json& e : events) {
    for (const char* key : {"time_ms", "token_id", "role", "action", "object", "case", "time"}) {
      EXPECT_TRUE(e.contains(key)) << key << " in " << e.dump();
    }
    std::string time = e["time"];
    EXPECT_TRUE(std::regex_match(time, utc)) << time;
    std::string iso = IsoSeconds(e["time_ms"].get<int64_t>() / 1000);
    EXPECT_EQ(time, iso.substr(0, 10) + " " + iso.substr(11, 8) + " UTC");
  }
  EXPECT_EQ(events[0]["object"], ReadA());
  EXPECT_EQ(events[0]["file"], "a.txt");
  EXPECT_EQ(events[0]["case"], "case-a");
  EXPECT_EQ(events[1]["object"], ReadB());
  EXPECT_EQ(events[1]["file"], "b.txt");
  EXPECT_EQ(events[1]["case"], "case-b");
  EXPECT_EQ(events[2]["action"], "export");
  EXPECT_EQ(events[2]["object"], "case bundle");
  EXPECT_FALSE(events[2].contains("file")) << events[2].dump();

  // Text: time, token, role, action, file (or "case bundle"), case, where in the log.
  std::vector<std::string> text = access_log({});
  ASSERT_EQ(text.size(), 3u);
  EXPECT_EQ(text[0], events[0]["time"].get<std::string>() + "  " + reader.id +
                         "  reader  read-content  a.txt  case case-a" + where(0));
  EXPECT_EQ(text[1], events[1]["time"].get<std::string>() + "  " + node_.admin().id +
                         "  admin  read-content  b.txt  case case-b" + where(1));
  EXPECT_EQ(text[2], events[2]["time"].get<std::string>() + "  " + reader.id +
                         "  reader  export  case bundle  case case-a" + where(2));

  // --action token-grant: the grants of the fixture's admin token (every case) and the reader's
  // (case-a), by the operator's own command.
  std::vector<std::string> grants = access_log({"--action", "token-grant", "--json"});
  std::vector<std::string> grants_only;
  {
    RunResult r = RunKhronika({"access-log", "--data", node_.data().string(), "--action",
                               "token-grant", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    grants_only = OutputLines(r.out);
  }
  ASSERT_EQ(grants_only.size(), 2u);
  EXPECT_EQ(json::parse(grants_only[0])["object"], "token " + node_.admin().id + " (admin)");
  EXPECT_EQ(json::parse(grants_only[0])["case"], "");
  EXPECT_EQ(json::parse(grants_only[1])["object"], "token " + reader.id + " (reader)");
  EXPECT_EQ(json::parse(grants_only[1])["case"], "case-a");
  EXPECT_EQ(json::parse(grants_only[1])["token_id"], "local");
  EXPECT_TRUE(grants.size() == 5u) << grants.size();  // with --action read-content and export

  // --case: the reads and exports of one case only.
  std::vector<std::string> case_a = access_log({"--case", "case-a"});
  EXPECT_EQ(case_a, std::vector<std::string>({text[0], text[2]}));
  EXPECT_EQ(access_log({"--case", "case-b"}), std::vector<std::string>({text[1]}));
  EXPECT_TRUE(access_log({"--case", "case-zz"}).empty());

  // --since: a time after every event gives nothing, one before (or at) the first gives all.
  int64_t first = events[0]["time_ms"].get<int64_t>() / 1000;
  int64_t last = events[2]["time_ms"].get<int64_t>() / 1000;
  EXPECT_TRUE(access_log({"--since", IsoSeconds(last + 1)}).empty());
  EXPECT_EQ(access_log({"--since", IsoSeconds(first)}), text);
  EXPECT_EQ(access_log({"--since", "2000-01-01"}), text);
  EXPECT_TRUE(access_log({"--since", "2999-01-01"}).empty());
  EXPECT_EQ(access_log({"--since", IsoSeconds(first), "--case", "case-b"}),
            std::vector<std::string>({text[1]}));
  for (const char* bad : {"yesterday", "2026-13-01", "2026-12-06 10:00:00", "2026-12-06T10:00:00"}) {
    RunResult r = RunKhronika({"access-log", "--data", node_.data().string(), "--since", bad});
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.err.find("--since"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace khronika::testing
