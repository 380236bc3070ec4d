// Bad input through the real server: each gets its status code and a JSON error body with
// "error" and "message", nothing is written, the server keeps answering, and afterwards
// `khronika verify` is clean and the number of records has not changed.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "khronika/log/node.h"
#include "server_fixture.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

class ServerBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server().started());
    WriteFile(node_ / "one.txt", "first statement\n");
    WriteFile(node_ / "two.txt", "second statement\n");
    RunResult a = node_.Submit(admin(), "case-x", {node_ / "one.txt"});
    RunResult b = node_.Submit(admin(), "case-x", {node_ / "two.txt"});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    entry_id_ = json::parse(a.out)["entry_id"];
    records_before_ = LogJson(node_.data()).size();
    ASSERT_EQ(records_before_, 2u);
    objects_before_ = CountObjects();
    sealed_chunks_before_ = CountObjects(Table::kChunks);
  }

  void TearDown() override {
    // Whatever was thrown at it, the server still answers and the store is intact.
    HttpReply health = Get(server(), "/healthz");
    EXPECT_EQ(health.status, 200) << health.Describe() << "\nserver stderr:\n" << server().Stderr();
    EXPECT_TRUE(server().Running());
    RunResult verify = RunKhronika({"verify", "--data", node_.data().string()});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_EQ(LogJson(node_.data()).size(), records_before_);
    // Nor was any sealed entry or sealed chunk of a refused submission stored.
    EXPECT_EQ(CountObjects(), objects_before_);
    EXPECT_EQ(CountObjects(Table::kChunks), sealed_chunks_before_);
  }

  // Sealed entries (or, with kChunks, sealed chunks) in the store, read beside the running
  // server, as `khronika log` does.
  uint64_t CountObjects(Table table = Table::kObjects) {
    auto opened = Node::Open(node_.data());
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (!opened.ok()) return 0;
    uint64_t n = 0;
    Status st = (*opened)->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(n, txn.Count(table));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return n;
  }

  ServerProcess& server() { return node_.server(); }
  const std::string& admin() const { return node_.admin().secret; }

  // Sends `r` (with the admin token unless it has one) and checks the status is one of
  // `statuses` and the body a JSON error.
  HttpReply Expect(HttpRequest r, std::set<int> statuses, const std::string& label) {
    if (r.token.empty()) r.token = admin();
    HttpReply reply = Curl(server(), r);
    EXPECT_TRUE(statuses.count(reply.status)) << label << ": " << reply.Describe();
    EXPECT_TRUE(reply.IsJsonError()) << label << ": not a JSON error: " << reply.body;
    EXPECT_EQ(reply.Header("Content-Type"), "application/json") << label;
    return reply;
  }
  HttpReply PostEntry(const std::string& body, std::set<int> statuses, const std::string& label) {
    HttpRequest r;
    r.method = "POST";
    r.path = "/v1/entries";
    r.body = body;
    return Expect(r, statuses, label);
  }
  HttpReply PostMissing(const std::string& body, std::set<int> statuses, const std::string& label) {
    HttpRequest r;
    r.method = "POST";
    r.path = "/v1/chunks/missing";
    r.body = body;
    return Expect(r, statuses, label);
  }
  bool ChunkStored(const std::string& id) {
    HttpRequest r;
    r.method = "POST";
    r.path = "/v1/chunks/missing";
    r.token = admin();
    r.body = json{{"ids", {id}}}.dump();
    HttpReply reply = Curl(server(), r);
    EXPECT_EQ(reply.status, 200) << reply.Describe();
    return reply.Json()["missing"].empty();
  }

  ServedNode node_;
  std::string entry_id_;
  size_t records_before_ = 0;
  uint64_t objects_before_ = 0;
  uint64_t sealed_chunks_before_ = 0;
};

// Inline content (a small file's plaintext in the POST) that is malformed, over the limit,
// beside upload chunks, or not what the author signed: a JSON error, nothing written (TearDown).
TEST_F(ServerBadInputTest, BadInlineContent) {
  auto inline_submission = [&](const std::string& content) {
    BuiltSubmission s = BuildSubmission(node_.key(), "case-x", "inline.txt", content);
    json& file = s.body["files"][0];
    file.erase("chunks");
    file["content"] = Base64Encode(AsBytes(content));
    return s.body;
  };
  const std::string content = "an inline statement\n";
  json both = inline_submission(content);
  both["files"][0]["chunks"] = json::array({HexSha256(content)});
  PostEntry(both.dump(), {400}, "content and chunks");
  json malformed = inline_submission(content);
  malformed["files"][0]["content"] = "@@@@";
  PostEntry(malformed.dump(), {400}, "malformed base64");
  json shorter = inline_submission(content);
  shorter["files"][0]["content"] = Base64Encode(AsBytes(content.substr(2)));
  PostEntry(shorter.dump(), {400}, "fewer bytes than the descriptor's size");
  PostEntry(inline_submission(std::string(64 * 1024 + 1, 'x')).dump(), {400}, "over 64 KiB");
  json altered = inline_submission(content);
  std::string other = content;
  other[0] = 'A';
  altered["files"][0]["content"] = Base64Encode(AsBytes(other));
  PostEntry(altered.dump(), {422}, "content not matching the signed SHA-256");
}

TEST_F(ServerBadInputTest, MalformedJson) {
  for (const std::string& body :
       {std::string("{\"entry\": "), std::string("not json"), std::string(""),
        std::string("{\"entry\": {}, \"files\": [}"), std::string("\xff\xfe{}"),
        std::string("{\"entry\": \"\\ud800\", \"files\": []}")}) {
    PostEntry(body, {400}, "POST /v1/entries " + body);
    PostMissing(body, {400}, "POST /v1/chunks/missing " + body);
  }
  // Valid JSON of the wrong shape.
  for (const std::string& body : {std::string("[]"), std::string("null"), std::string("{}"),
                                  std::string("{\"entry\": {}, \"files\": []}"),
                                  std::string("{\"entry\": {}, \"manifests\": []}"),
                                  std::string("{\"entry\": 1, \"files\": [], \"extra\": 2}"),
                                  std::string("{\"entry\": {}, \"files\": {}}"),
                                  std::string("{\"entry\": {}, \"files\": [{}]}")}) {
    PostEntry(body, {400, 422}, "POST /v1/entries " + body);
  }
  PostMissing("{\"ids\": \"abc\"}", {400}, "ids not an array");
  PostMissing("{\"ids\": [1, 2]}", {400}, "ids not strings");
  PostMissing("{\"ids\": [], \"more\": 1}", {400}, "extra field");
}

TEST_F(ServerBadInputTest, DeeplyNestedJson) {
  const size_t kDepth = 100000;
  std::string open(kDepth, '[');
  std::string balanced = open + std::string(kDepth, ']');
  std::string objects;
  for (size_t i = 0; i < kDepth; ++i) objects += "{\"a\":";
  for (const std::string* body : {&open, &balanced, &objects}) {
    PostEntry(*body, {400}, "nested " + body->substr(0, 10));
    PostMissing(*body, {400}, "nested " + body->substr(0, 10));
    EXPECT_EQ(Get(server(), "/healthz").status, 200);
  }
  // Nested inside a well-formed envelope, and inside a string (which is not nesting at all).
  PostEntry("{\"entry\": " + balanced + ", \"files\": []}", {400}, "nested entry");
  PostEntry("{\"entry\": \"" + open + "\", \"files\": []}", {400, 422}, "brackets in a string");
  EXPECT_TRUE(server().Running());
}

TEST_F(ServerBadInputTest, BadSignatureAndUnknownAuthor) {
  BuiltSubmission s = BuildSubmission(node_.key(), "case-x", "tampered.txt", "tampered evidence\n");
  ASSERT_TRUE(UploadChunks(server(), admin(), s));

  // A signature with one bit flipped.
  json flipped = s.body;
  std::string sig = flipped["entry"]["signature"];
  sig[10] = sig[10] == '0' ? '1' : '0';
  flipped["entry"]["signature"] = sig;
  HttpReply r = PostEntry(flipped.dump(), {422}, "flipped signature");
  // A field changed after signing.
  json moved = s.body;
  moved["entry"]["case"] = "case-y";
  PostEntry(moved.dump(), {422}, "case changed after signing");
  json meta = s.body;
  meta["entry"]["metadata"] = {{"place", "elsewhere"}};
  PostEntry(meta.dump(), {422}, "metadata added after signing");
  // A signature of all zeros.
  json zeros = s.body;
  zeros["entry"]["signature"] = std::string(128, '0');
  PostEntry(zeros.dump(), {422}, "zero signature");

  // Correctly signed by a key the node does not know.
  ASSERT_EQ(RunKhronika({"keygen", "--out", (node_ / "stranger.key").string()}).exit_code, 0);
  BuiltSubmission stranger =
      BuildSubmission(node_ / "stranger.key", "case-x", "stranger.txt", "from a stranger\n");
  ASSERT_TRUE(UploadChunks(server(), admin(), stranger));
  PostEntry(stranger.body.dump(), {422}, "unknown author");
  // And through the CLI.
  WriteFile(node_ / "stranger.txt", "from a stranger, by CLI\n");
  RunResult cli = RunKhronika({"submit", "--node", server().url(), "--pin", server().pin(),
                               "--token", admin(), "--key", (node_ / "stranger.key").string(),
                               "--case", "case-x", (node_ / "stranger.txt").string()});
  EXPECT_NE(cli.exit_code, 0);
  EXPECT_FALSE(cli.err.empty());

  // A well-signed entry whose chunks never arrived.
  BuiltSubmission no_chunks =
      BuildSubmission(node_.key(), "case-x", "ghost.txt", "content never uploaded\n");
  PostEntry(no_chunks.body.dump(), {422}, "missing chunks");
  // A descriptor that does not match the entry's signed commitment (its size changed after
  // signing), then one that the author signed but that lies about the content.
  BuiltSubmission liar = BuildSubmission(node_.key(), "case-x", "liar.txt", "short\n");
  ASSERT_TRUE(UploadChunks(server(), admin(), liar));
  json lie = liar.body;
  lie["files"][0]["descriptor"]["size"] = 7;
  PostEntry(lie.dump(), {422}, "descriptor not matching its commitment");
  liar.body = lie;
  Resign(node_.key(), liar);
  PostEntry(liar.body.dump(), {422}, "signed size not matching the content");
  json hash_lie = liar.body;
  hash_lie["files"][0]["descriptor"]["size"] = 6;
  hash_lie["files"][0]["descriptor"]["sha256"] = HexSha256("other\n");
  liar.body = hash_lie;
  Resign(node_.key(), liar);
  PostEntry(liar.body.dump(), {422}, "signed SHA-256 not matching the content");
  // The salt of another commitment.
  BuiltSubmission salted = BuildSubmission(node_.key(), "case-x", "salted.txt", "salted\n");
  ASSERT_TRUE(UploadChunks(server(), admin(), salted));
  json resalted = salted.body;
  resalted["files"][0]["salt"] = std::string(64, '0');
  PostEntry(resalted.dump(), {422}, "salt not matching the commitment");
}

TEST_F(ServerBadInputTest, BadFileNamesInDescriptors) {
  std::vector<std::string> names = {
      "a/b.txt",
      "../../etc/passwd",
      "..",
      "x..y",
      ".",
      "dir\\file.txt",
      std::string("nul\0byte.txt", 12),
      "bell\x07.txt",
      "line\nbreak.txt",
      "tab\tname.txt",
      "esc\x1b[31m.txt",
      "del\x7f.txt",
      "",
      std::string(256, 'n'),
      "evil\xE2\x80\xAEgpj.exe",      // U+202E right-to-left override
      "a\xD8\x9C" "b.txt",             // U+061C Arabic letter mark
      "zero\xE2\x80\x8Bwidth.txt",     // U+200B zero width space
      "\xEF\xBB\xBF" "bom.txt",          // U+FEFF byte order mark
      "word\xE2\x81\xA0joiner.txt",    // U+2060 word joiner
      "tag\xF3\xA0\x81\xA1.txt",       // U+E0061 tag
  };
  // Each invisible or text-direction character is named in the error.
  const std::map<std::string, std::string> named = {
      {"evil\xE2\x80\xAEgpj.exe", "U+202E"},      {"a\xD8\x9C" "b.txt", "U+061C"},
      {"zero\xE2\x80\x8Bwidth.txt", "U+200B"},     {"\xEF\xBB\xBF" "bom.txt", "U+FEFF"},
      {"word\xE2\x81\xA0joiner.txt", "U+2060"},    {"tag\xF3\xA0\x81\xA1.txt", "U+E0061"}};
  int i = 0;
  for (const std::string& name : names) {
    std::string content = "content " + std::to_string(i++) + "\n";
    BuiltSubmission s = BuildSubmission(node_.key(), "case-x", name, content);
    ASSERT_TRUE(UploadChunks(server(), admin(), s));
    std::string body = s.body.dump();
    HttpReply r = PostEntry(body, {400, 422}, "file name '" + json(name).dump() + "'");
    auto it = named.find(name);
    if (it != named.end()) {
      EXPECT_NE(r.body.find("file name contains " + it->second +
                            ", an invisible or text-direction control character"),
                std::string::npos)
          << r.body;
    }
  }
  // A name with NUL spelled \u0000 in the JSON text itself.
  BuiltSubmission s = BuildSubmission(node_.key(), "case-x", "plain.txt", "plain\n");
  ASSERT_TRUE(UploadChunks(server(), admin(), s));
  std::string body = s.body.dump();
  size_t at = body.find("\"plain.txt\"");
  ASSERT_NE(at, std::string::npos);
  body.replace(at, 11, "\"pla\\u0000in.txt\"");
  PostEntry(body, {400, 422}, "\\u0000 in the JSON");
}

TEST_F(ServerBadInputTest, IdsThatAreNotLowercaseHex) {
  std::string good = HexSha256("whatever");
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  std::vector<std::string> bad_ids = {
      upper, good.substr(0, 63),         good + "0",           std::string(64, 'g'),
      "abc", good.substr(0, 62) + "%41", "-" + good.substr(1), " " + good.substr(1)};
  for (const std::string& id : bad_ids) {
    std::string url_id = id;
    if (url_id[0] == ' ') url_id = "%20" + url_id.substr(1);
    HttpRequest r;
    r.path = "/v1/entries/" + url_id;
    Expect(r, {400}, "GET entry " + id);
    r.path = "/v1/entries/" + good + "/files/" + url_id + "/content";
    Expect(r, {400}, "GET file " + id);
    r.path = "/v1/entries/" + url_id + "/files/0/content";
    Expect(r, {400}, "GET file through entry " + id);
    r.path = "/v1/logs/" + url_id + "/records";
    Expect(r, {400}, "GET records " + id);
    HttpRequest put;
    put.method = "PUT";
    put.path = "/v1/chunks/" + url_id;
    put.body = "whatever";
    Expect(put, {400}, "PUT chunk " + id);
    PostMissing(json{{"ids", {good, id}}}.dump(), {400}, "missing " + id);
  }
  // Ids inside an entry and its files.
  BuiltSubmission s = BuildSubmission(node_.key(), "case-x", "ids.txt", "ids\n");
  ASSERT_TRUE(UploadChunks(server(), admin(), s));
  json b1 = s.body;
  std::string commitment = b1["entry"]["files"][0];
  for (char& c : commitment) c = static_cast<char>(std::toupper(c));
  b1["entry"]["files"][0] = commitment;
  PostEntry(b1.dump(), {400}, "uppercase commitment in entry");
  json b2 = s.body;
  std::string cid = b2["files"][0]["chunks"][0];
  b2["files"][0]["chunks"][0] = cid.substr(0, 63);
  PostEntry(b2.dump(), {400}, "short upload chunk id");
  json b4 = s.body;
  std::string salt = b4["files"][0]["salt"];
  for (char& c : salt) c = static_cast<char>(std::toupper(c));
  b4["files"][0]["salt"] = salt;
  PostEntry(b4.dump(), {400}, "uppercase salt");
  json b5 = s.body;
  b5["files"][0]["descriptor"]["sha256"] = "not hex";
  PostEntry(b5.dump(), {400}, "content hash not hex");
  json b3 = s.body;
  b3["entry"]["author"] = "not hex";
  PostEntry(b3.dump(), {400}, "author not hex");
}

TEST_F(ServerBadInputTest, ChunkBodyNotMatchingItsId) {
  std::string id = HexSha256("the real content");
  HttpRequest put;
  put.method = "PUT";
  put.path = "/v1/chunks/" + id;
  put.body = "forged content";
  Expect(put, {422}, "chunk hash mismatch");
  put.body = "";
  Expect(put, {422}, "empty chunk hash mismatch");
  EXPECT_FALSE(ChunkStored(id));
  // The genuine content is then accepted.
  put.body = "the real content";
  put.token = admin();
  HttpReply ok = Curl(server(), put);
  EXPECT_EQ(ok.status, 201) << ok.Describe();
  EXPECT_TRUE(ChunkStored(id));
}

TEST_F(ServerBadInputTest, UnknownRoutesAndWrongMethods) {
  for (const std::string& path :
       {std::string("/v1/nothing"), std::string("/v2/entries"), std::string("/console/nothing.js"),
        "/v1/entries/" + entry_id_ + "/extra", std::string("/v1/cases/case-x"),
        std::string("/v1/proof"), std::string("/v1"), std::string("/healthz/x")}) {
    HttpRequest r;
    r.path = path;
    Expect(r, {404}, "GET " + path);
  }
  // "/" is the web console's page, not an API route.
  HttpRequest root;
  root.path = "/";
  HttpReply page = Curl(server(), root);
  EXPECT_EQ(page.status, 200) << page.Describe();
  EXPECT_EQ(page.Header("Content-Type"), "text/html; charset=utf-8");
  HttpRequest anon;
  anon.path = "/nothing";
  anon.token = "khr_unknown";  // not the admin: a route that does not exist needs no token
  HttpReply nothing = Curl(server(), anon);
  EXPECT_EQ(nothing.status, 404) << nothing.Describe();
  EXPECT_TRUE(nothing.IsJsonError()) << nothing.body;

  struct Wrong {
    std::string method, path;
  };
  for (const Wrong& w : std::vector<Wrong>{{"DELETE", "/v1/entries/" + entry_id_},
                                           {"PUT", "/v1/entries/" + entry_id_},
                                           {"GET", "/v1/entries"},
                                           {"GET", "/v1/chunks/missing"},
                                           {"GET", "/v1/chunks/" + HexSha256("x")},
                                           {"DELETE", "/v1/chunks/" + HexSha256("x")},
                                           {"POST", "/v1/checkpoint"},
                                           {"POST", "/metrics"},
                                           {"PATCH", "/v1/cases/case-x/entries"},
                                           {"POST", "/v1/proof/inclusion?index=0"}}) {
    HttpRequest r;
    r.method = w.method;
    r.path = w.path;
    HttpReply reply = Expect(r, {405}, w.method + " " + w.path);
    EXPECT_FALSE(reply.Header("Allow").empty()) << w.method << " " << w.path << ": no Allow header";
  }
  HttpRequest put_health;
  put_health.method = "PUT";
  put_health.path = "/healthz";
  put_health.token = "none";
  HttpReply health = Curl(server(), put_health);
  EXPECT_EQ(health.status, 405) << health.Describe();
  EXPECT_TRUE(health.IsJsonError()) << health.body;
}

// A 405 names the allowed method (RFC 9110 section 15.5.6), /healthz included.
TEST_F(ServerBadInputTest, HealthzWrongMethodNamesTheAllowedMethod) {
  for (const char* method : {"PUT", "POST", "DELETE"}) {
    HttpRequest r;
    r.method = method;
    r.path = "/healthz";
    HttpReply reply = Curl(server(), r);
    EXPECT_EQ(reply.status, 405) << method << ": " << reply.Describe();
    EXPECT_EQ(reply.Header("Allow"), "GET") << method;
  }
}

TEST_F(ServerBadInputTest, BadQueryParameters) {
  for (const std::string& path :
       {std::string("/v1/proof/inclusion"), std::string("/v1/proof/inclusion?index=abc"),
        std::string("/v1/proof/inclusion?index=-1"),
        std::string("/v1/proof/inclusion?index=0&index=1"),
        std::string("/v1/proof/inclusion?index=5"),
        std::string("/v1/proof/inclusion?index=0&size=9"),
        std::string("/v1/proof/consistency?from=2&to=1"),
        std::string("/v1/proof/consistency?from=0&to=99"),
        std::string("/v1/proof/inclusion?index=99999999999999999999999"),
        std::string("/v1/cases/case-x/entries?limit=%27"),
        std::string("/v1/cases/..%2f/entries")}) {
    HttpRequest r;
    r.path = path;
    Expect(r, {400, 404, 416, 422}, "GET " + path);
  }
}

}  // namespace
}  // namespace khronika::testing
