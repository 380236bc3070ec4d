#include "khronika/http/api.h"

#include <cstdlib>
#include <filesystem>
#include <thread>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/bundle/verify_bundle.h"
#include "khronika/replication/roster.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/tlog_tiles.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/tlog_witness.h"

namespace khronika {
namespace {

using nlohmann::json;

static std::string HeaderOf(const ApiResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "api-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    if (Encrypted()) {
      ASSERT_TRUE(CreateKeyFile(dir_ / "key").ok());
      NodeInitOptions init;
      init.seal_with = Unlock{.passphrase = "", .key_file = dir_ / "key"};
      auto node = Node::Init(dir_ / "node", "api-test", std::move(init));
      ASSERT_TRUE(node.ok()) << node.status().ToString();
      node_ = std::move(node).value();
    } else {
      node_ = std::move(Node::Init(dir_ / "node", "api-test").value());
    }
    ASSERT_TRUE(RegisterAuthor(node_->store(), author_.public_key(), "Alice").ok());
    committer_ = std::make_unique<GroupCommitter>(node_->log());
    api_ = std::make_unique<Api>(*node_, *committer_, metrics_);
    admin_ = Token(Role::kAdmin, {});
    submitter_ = Token(Role::kSubmitter, {"case-1"});
    reader_ = Token(Role::kReader, {"case-1"});
    other_reader_ = Token(Role::kReader, {"case-2"});
    auditor_ = Token(Role::kAuditor, {});
  }
  void TearDown() override {
    api_.reset();
    committer_.reset();
    node_.reset();
    std::filesystem::remove_all(dir_);
  }

  virtual bool Encrypted() const { return false; }

  std::string Token(Role role, std::vector<std::string> cases) {
    return CreateToken(node_->store(), role, cases, 1).value().secret;
  }

  // The reads and exports on record: the access log without the grants of the tokens above
  // (custody events too, tested in auth_test and custody_test).
  Result<std::vector<AccessEvent>> ReadsOnRecord() {
    KH_ASSIGN_OR_RETURN(std::vector<AccessEvent> all, ListAccess(node_->store()));
    std::vector<AccessEvent> out;
    for (AccessEvent& e : all) {
      if (e.action != "token-grant") out.push_back(std::move(e));
    }
    return out;
  }

  ApiResponse Call(const std::string& method, const std::string& target, const std::string& token,
                   const std::string& body = "", const std::string& range = "",
                   const std::string& if_none_match = "") {
    ApiRequest r;
    r.method = method;
    r.target = target;
    if (!token.empty()) r.authorization = "Bearer " + token;
    r.body = body;
    r.range = range;
    r.if_none_match = if_none_match;
    return api_->Handle(r);
  }

  // Uploads `content` as plaintext chunks through the API with `uploader` (the submitter's token
  // unless given: a submission may name only chunks its own token uploaded) and returns a signed
  // format 2 submission body: the entry commits to the file's descriptor under a random salt.
  json MakeSubmission(const std::string& case_id, const std::string& content,
                      const std::string& name = "statement.txt", std::string uploader = "",
                      std::map<std::string, std::string> metadata = {}) {
    if (uploader.empty()) uploader = submitter_;
    FileDescriptor d;
    d.name = name;
    d.media_type = "text/plain";
    d.size = content.size();
    d.content_sha256 = Sha256(content);
    json chunks = json::array();
    for (size_t off = 0; off < content.size(); off += kChunkSize) {
      std::string piece = content.substr(off, kChunkSize);
      Hash id = ChunkId(AsBytes(piece));
      chunks.push_back(ToHex(id));
      ApiResponse put = Call("PUT", "/v1/chunks/" + ToHex(id), uploader, piece);
      EXPECT_EQ(put.status, 201) << put.body;
    }
    CommitmentSalt salt;
    RandomBytes(salt.data(), salt.size());
    SignedEntry e;
    e.case_id = case_id;
    e.kind = "evidence";
    e.created_at_ms = 1767225600000;
    e.files = {FileCommitment(salt, Encode(d))};
    e.metadata = std::move(metadata);
    SignEntry(e, author_);
    json file = {{"descriptor", ToJson(d)}, {"salt", ToHex(salt)}, {"chunks", chunks}};
    return {{"entry", ToJson(e)}, {"files", json::array({file})}};
  }

  // The whole body of an answer, streamed ones included.
  static std::string BodyText(const ApiResponse& r) {
    if (!r.source) return r.body;
    std::string out;
    for (;;) {
      auto piece = r.source->Next();
      EXPECT_TRUE(piece.ok()) << piece.status().ToString();
      if (!piece.ok() || piece->empty()) break;
      out.append(AsChars(*piece));
    }
    EXPECT_EQ(out.size(), r.source->size());
    return out;
  }

  uint64_t Count(Table table) {
    uint64_t n = 0;
    EXPECT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(n, txn.Count(table));
      return Status::Ok();
    }).ok());
    return n;
  }

  static json Body(const ApiResponse& r) { return json::parse(r.body); }

  std::filesystem::path dir_;
  SigningKey author_ = SigningKey::Generate();
  std::unique_ptr<Node> node_;
  Metrics metrics_;
  std::unique_ptr<GroupCommitter> committer_;
  std::unique_ptr<Api> api_;
  std::string admin_, submitter_, reader_, other_reader_, auditor_;
};

TEST_F(ApiTest, SubmitReturnsAVerifiableReceiptAndRetryIsIdempotent) {
  json submission = MakeSubmission("case-1", "what I saw");
  const Hash chunk = *ParseHashHex(submission["files"][0]["chunks"][0].get<std::string>());
  ApiResponse r = Call("POST", "/v1/entries", submitter_, submission.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  json receipt = Body(r);
  auto note = ParseSignedNote(receipt["checkpoint"].get<std::string>());
  ASSERT_TRUE(note.ok());
  auto cp = ParseCheckpointBody(note->text);
  ASSERT_TRUE(cp.ok());
  auto record_bytes = FromHex(receipt["record_hex"].get<std::string>());
  ASSERT_TRUE(record_bytes.ok());
  ASSERT_EQ(record_bytes->size(), 115u);
  std::vector<Hash> proof;
  for (const auto& h : receipt["inclusion_proof"]) proof.push_back(*ParseHashHex(h.get<std::string>()));
  EXPECT_TRUE(
      VerifyInclusion(LeafHash(*record_bytes), receipt["index"], cp->size, proof, cp->root));
  EXPECT_EQ(receipt["node_public_key"], ToHex(node_->key().public_key()));
  // The record names the sealed entry, whose id is the receipt's entry id.
  auto record = DecodeRecord(*record_bytes);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(ToHex(record->object_id), receipt["entry_id"]);
  // The plaintext upload chunk went with the sealing.
  EXPECT_FALSE(node_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(bool held, HasUploadChunk(txn, "", chunk));
    return held ? Status::Ok() : Status::NotFound("gone");
  }).ok());
  EXPECT_EQ(Count(Table::kUploadChunks), 0u);

  // The client lost the answer and sends the same body again, chunks long gone: the same receipt.
  ApiResponse again = Call("POST", "/v1/entries", submitter_, submission.dump());
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)["entry_id"], receipt["entry_id"]);
  EXPECT_EQ(Body(again)["index"], receipt["index"]);
  EXPECT_EQ(Body(again)["record_hex"], receipt["record_hex"]);
  EXPECT_EQ(*node_->log().Size(), 1u);
}

TEST_F(ApiTest, RolesAndCasesAreEnforced) {
  json submission = MakeSubmission("case-1", "evidence one");
  ApiResponse created = Call("POST", "/v1/entries", submitter_, submission.dump());
  ASSERT_EQ(created.status, 201);
  std::string entry_id = Body(created)["entry_id"];
  std::string origin = ToHex(node_->id());

  EXPECT_EQ(Call("GET", "/v1/entries/" + entry_id, "").status, 401);
  EXPECT_EQ(Call("GET", "/v1/entries/" + entry_id, "khr_" + std::string(64, '0')).status, 401);
  EXPECT_EQ(Call("GET", "/v1/entries/" + entry_id, reader_).status, 200);
  EXPECT_EQ(Call("GET", "/v1/entries/" + entry_id, admin_).status, 200);
  EXPECT_EQ(Call("GET", "/v1/entries/" + entry_id, auditor_).status, 403);
  EXPECT_EQ(Call("GET", "/v1/entries/" + entry_id, submitter_).status, 403);

  std::string content = "/v1/entries/" + entry_id + "/files/0/content";
  EXPECT_EQ(Call("GET", content, reader_).status, 200);
  EXPECT_EQ(Call("GET", "/v1/entries/" + entry_id + "/files/1/content", reader_).status, 404);
  EXPECT_EQ(Call("GET", content, auditor_).status, 403);

  EXPECT_EQ(Call("GET", "/v1/cases/case-1/entries", reader_).status, 200);
  EXPECT_EQ(Call("GET", "/v1/cases/case-1/entries", other_reader_).status, 403);
  EXPECT_EQ(Call("GET", "/v1/logs/" + origin + "/records", auditor_).status, 200);
  EXPECT_EQ(Call("GET", "/v1/logs/" + origin + "/records", reader_).status, 403);
  // from = 2^64 - 100: no records and no next page (from + limit used to wrap around to 0).
  ApiResponse far = Call("GET", "/v1/logs/" + origin + "/records?from=18446744073709551516", auditor_);
  EXPECT_EQ(far.status, 200) << far.body;
  EXPECT_NE(far.body.find("\"next_from\":null"), std::string::npos) << far.body;
  EXPECT_NE(far.body.find("\"records\":[]"), std::string::npos) << far.body;
  for (const std::string& t : {admin_, submitter_, reader_, auditor_}) {
    EXPECT_EQ(Call("GET", "/v1/checkpoint", t).status, 200);
    EXPECT_EQ(Call("GET", "/v1/proof/inclusion?index=0", t).status, 200);
  }
  EXPECT_EQ(Call("GET", "/metrics", auditor_).status, 200);
  EXPECT_EQ(Call("GET", "/metrics", reader_).status, 403);

  // A submitter limited to case-1 cannot write to case-2, nor read anything.
  json elsewhere = MakeSubmission("case-2", "evidence two", "statement.txt", admin_);
  EXPECT_EQ(Call("POST", "/v1/entries", submitter_, elsewhere.dump()).status, 403);
  EXPECT_EQ(Call("POST", "/v1/entries", reader_, elsewhere.dump()).status, 403);
  EXPECT_EQ(Call("POST", "/v1/entries", admin_, elsewhere.dump()).status, 201);
}

// GET /v1/entries/{id} and its content make no case check of their own: a token limited to cases
// opens entries with its cases' keys only (EntryKey::Case), so another case's entry does not open
// whatever the token says. The answer is word for word that of an id that does not exist.
TEST_F(ApiTest, AnotherCasesEntryIsNotFoundByKeyAsIfItDidNotExist) {
  ApiResponse created =
      Call("POST", "/v1/entries", submitter_, MakeSubmission("case-1", "evidence one").dump());
  ASSERT_EQ(created.status, 201);
  const std::string id = Body(created)["entry_id"];
  const std::string nowhere = ToHex(Sha256(std::string("no such entry")));
  auto same_as_absent = [&](const std::string& suffix) {
    ApiResponse theirs = Call("GET", "/v1/entries/" + id + suffix, other_reader_);
    ApiResponse absent = Call("GET", "/v1/entries/" + nowhere + suffix, other_reader_);
    EXPECT_EQ(theirs.status, 404) << suffix;
    EXPECT_EQ(absent.status, 404) << suffix;
    std::string body = theirs.body;
    body.replace(body.find(id), id.size(), nowhere);
    EXPECT_EQ(body, absent.body) << suffix;
    EXPECT_EQ(theirs.headers, absent.headers) << suffix;
  };
  same_as_absent("");
  same_as_absent("/files/0/content");
  // A reader of several cases opens each of them, and only them.
  std::string both = Token(Role::kReader, {"case-2", "case-1"});
  EXPECT_EQ(Call("GET", "/v1/entries/" + id, both).status, 200);
  EXPECT_EQ(BodyText(Call("GET", "/v1/entries/" + id + "/files/0/content", both)), "evidence one");
  // An admin's entry of case-2 is as absent for the case-1 reader.
  ApiResponse other = Call("POST", "/v1/entries", admin_,
                           MakeSubmission("case-2", "two", "statement.txt", admin_).dump());
  ASSERT_EQ(other.status, 201);
  const std::string theirs = "/v1/entries/" + Body(other)["entry_id"].get<std::string>();
  EXPECT_EQ(Call("GET", theirs, reader_).status, 404);
  EXPECT_EQ(Call("GET", theirs, both).status, 200);
  // No read of another case is on record: nothing was read.
  auto events = ReadsOnRecord();
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), 1u);
}

TEST_F(ApiTest, AnEntryReadsBackAsItsAuthorSignedIt) {
  json submission =
      MakeSubmission("case-1", "what I saw", "statement.txt", "", {{"place", "Kyiv"}});
  ApiResponse created = Call("POST", "/v1/entries", submitter_, submission.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = Body(created)["entry_id"];
  ApiResponse r = Call("GET", "/v1/entries/" + id, reader_);
  ASSERT_EQ(r.status, 200) << r.body;
  json e = Body(r);
  EXPECT_EQ(e["entry_id"], Body(created)["entry_id"]);
  EXPECT_EQ(e["entry"], submission["entry"]);
  auto signed_entry = DecodeSignedEntry(*FromHex(e["entry_hex"].get<std::string>()));
  ASSERT_TRUE(signed_entry.ok());
  EXPECT_TRUE(VerifyEntrySignature(*signed_entry));
  EXPECT_EQ(ToJson(*signed_entry), submission["entry"]);
  ASSERT_EQ(e["files"].size(), 1u);
  const json& f = e["files"][0];
  EXPECT_EQ(f["index"], 0);
  EXPECT_EQ(f["descriptor"], submission["files"][0]["descriptor"]);
  EXPECT_EQ(f["salt"], submission["files"][0]["salt"]);
  EXPECT_EQ(f["commitment"], submission["entry"]["files"][0]);
  // The commitment is checkable from the answer alone.
  CommitmentSalt salt;
  Bytes salt_bytes = *FromHex(f["salt"].get<std::string>());
  std::copy(salt_bytes.begin(), salt_bytes.end(), salt.begin());
  EXPECT_EQ(ToHex(FileCommitment(salt, *FromHex(f["descriptor_hex"].get<std::string>()))),
            f["commitment"]);
  EXPECT_EQ(e["record"]["record_hex"], Body(created)["record_hex"]);
  EXPECT_EQ(e["record"]["leaf_hash"], Body(created)["leaf_hash"]);
  EXPECT_EQ(e["record"]["origin"], ToHex(node_->id()));
  EXPECT_EQ(e["record"]["index"], 0);
}

TEST_F(ApiTest, ContentReadsAreRecordedAndRangesHonoured) {
  std::string text(3 * kChunkSize + 100, 'x');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 26 + (i >> 20));
  json submission = MakeSubmission("case-1", text, "long.txt");
  ApiResponse created = Call("POST", "/v1/entries", submitter_, submission.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string entry_id = Body(created)["entry_id"];
  std::string path = "/v1/entries/" + entry_id + "/files/0/content";
  ApiResponse whole = Call("GET", path, reader_);
  ASSERT_EQ(whole.status, 200);
  ASSERT_TRUE(whole.source);
  EXPECT_EQ(HeaderOf(whole, "X-Khronika-Sha256"), ToHex(Sha256(text)));
  EXPECT_EQ(BodyText(whole), text);
  ApiResponse part = Call("GET", path, reader_, "", "bytes=1048570-1048580");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(HeaderOf(part, "Content-Range"),
            "bytes 1048570-1048580/" + std::to_string(text.size()));
  EXPECT_EQ(BodyText(part), text.substr(1048570, 11));
  ApiResponse suffix = Call("GET", path, reader_, "", "bytes=-10");
  EXPECT_EQ(suffix.status, 206);
  EXPECT_EQ(BodyText(suffix), text.substr(text.size() - 10));
  EXPECT_EQ(Call("GET", path, reader_, "", "bytes=999999999-").status, 416);
  auto events = ReadsOnRecord();
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), 3u);  // the refused range read nothing
  EXPECT_EQ((*events)[0].object, entry_id + "/0");
  EXPECT_EQ((*events)[0].case_id, "case-1");
  for (const char* bad : {"00", "-1", "+0", "1000", "x", "4294967296"}) {
    EXPECT_EQ(Call("GET", "/v1/entries/" + entry_id + "/files/" + bad + "/content", reader_).status,
              400) << bad;
  }
}

// What is stored is ciphertext: a sealed chunk altered on disk is refused, never served.
TEST_F(ApiTest, AnAlteredSealedChunkIsNotServed) {
  json submission = MakeSubmission("case-1", std::string(5000, 'z'));
  ApiResponse created = Call("POST", "/v1/entries", submitter_, submission.dump());
  ASSERT_EQ(created.status, 201);
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) -> Status {
    std::vector<std::pair<Bytes, Bytes>> all;
    KH_RETURN_IF_ERROR(txn.Scan(Table::kChunks, {}, [&](ByteView k, ByteView v) -> Result<bool> {
      all.emplace_back(Bytes(k.begin(), k.end()), Bytes(v.begin(), v.end()));
      return true;
    }));
    for (auto& [k, v] : all) {
      v[v.size() / 2] ^= 1;
      KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, k, v));
    }
    return Status::Ok();
  }).ok());
  ApiResponse r = Call("GET", "/v1/entries/" + Body(created)["entry_id"].get<std::string>() +
                                  "/files/0/content", reader_);
  if (r.status == 200) {
    ASSERT_TRUE(r.source);
    auto piece = r.source->Next();
    EXPECT_FALSE(piece.ok());
  } else {
    EXPECT_EQ(r.status, 500) << r.body;
  }
}

TEST_F(ApiTest, BadInputIsRefusedWithJsonErrorsAndChangesNothing) {
  json good = MakeSubmission("case-1", "fine");
  auto expect_error = [&](const ApiResponse& r, int status, const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    json j = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error") && j.contains("message")) << what;
  };
  expect_error(Call("POST", "/v1/entries", submitter_, "{not json"), 400, "malformed JSON");
  expect_error(Call("POST", "/v1/entries", submitter_, std::string(100000, '[')), 400, "deep JSON");
  json forged = good;
  forged["entry"]["metadata"] = {{"added", "later"}};
  expect_error(Call("POST", "/v1/entries", submitter_, forged.dump()), 422, "bad signature");
  SigningKey stranger = SigningKey::Generate();
  json unknown = good;
  {
    SignedEntry e = *SignedEntryFromJson(good["entry"]);
    SignEntry(e, stranger);
    unknown["entry"] = ToJson(e);
  }
  expect_error(Call("POST", "/v1/entries", submitter_, unknown.dump()), 422, "unknown author");
  for (const char* name : {"a/b.txt", "..", "a\u0001b"}) {
    json bad = good;
    bad["files"][0]["descriptor"]["name"] = name;
    expect_error(Call("POST", "/v1/entries", submitter_, bad.dump()), 400, name);
  }
  json nul = good;
  nul["files"][0]["descriptor"]["name"] = std::string("nul\0byte", 8);
  expect_error(Call("POST", "/v1/entries", submitter_, nul.dump()), 400, "NUL in name");
  // The form of the body.
  json old = {{"entry", good["entry"]}, {"manifests", json::array()}};
  expect_error(Call("POST", "/v1/entries", submitter_, old.dump()), 400, "format 1 body");
  json extra = good;
  extra["files"][0]["manifest"] = "x";
  expect_error(Call("POST", "/v1/entries", submitter_, extra.dump()), 400, "unknown file field");
  json none = good;
  none["files"] = json::array();
  expect_error(Call("POST", "/v1/entries", submitter_, none.dump()), 400, "files left out");
  json short_salt = good;
  short_salt["files"][0]["salt"] = "abcd";
  expect_error(Call("POST", "/v1/entries", submitter_, short_salt.dump()), 400, "short salt");
  json two_chunks = good;
  two_chunks["files"][0]["chunks"].push_back(good["files"][0]["chunks"][0]);
  expect_error(Call("POST", "/v1/entries", submitter_, two_chunks.dump()), 400, "chunk count");
  // Well-formed, refused on content.
  json other_salt = good;
  other_salt["files"][0]["salt"] = std::string(64, '0');
  expect_error(Call("POST", "/v1/entries", submitter_, other_salt.dump()), 422,
               "descriptor not matching its commitment");
  json not_sent = MakeSubmission("case-1", "sent by another token", "statement.txt", admin_);
  ApiResponse refused = Call("POST", "/v1/entries", submitter_, not_sent.dump());
  expect_error(refused, 422, "chunk another token uploaded");
  EXPECT_EQ(Body(refused)["error"], "missing_chunks");

  expect_error(Call("GET", "/v1/entries/ABC", reader_), 400, "bad id");
  expect_error(Call("GET", "/v1/entries/" + std::string(64, 'A'), reader_), 400, "uppercase id");
  expect_error(Call("PUT", "/v1/chunks/" + ToHex(Sha256(std::string("x"))), submitter_, "y"), 422,
               "chunk hash mismatch");
  expect_error(Call("GET", "/v1/nothing", admin_), 404, "unknown route");
  expect_error(Call("DELETE", "/v1/entries", admin_), 405, "wrong method");
  expect_error(Call("POST", "/v1/chunks/missing", submitter_, R"({"ids":["zz"]})"), 400, "bad id list");
  expect_error(Call("GET", "/v1/cases/..%2f/entries", reader_), 400, "bad case id");
  expect_error(Call("GET", "/v1/proof/inclusion?index=5", reader_), 400, "index beyond log");
  EXPECT_EQ(*node_->log().Size(), 0u);
  EXPECT_EQ(Count(Table::kChunks), 0u);  // no sealed chunk left by a refused submission
  EXPECT_EQ(Call("POST", "/v1/entries", submitter_, good.dump()).status, 201);
}

TEST_F(ApiTest, ACorrectionNamesAnEntryOfItsOwnCase) {
  ApiResponse first = Call("POST", "/v1/entries", admin_,
                           MakeSubmission("case-1", "one", "statement.txt", admin_).dump());
  ApiResponse elsewhere = Call("POST", "/v1/entries", admin_,
                               MakeSubmission("case-2", "two", "statement.txt", admin_).dump());
  ASSERT_EQ(first.status, 201);
  ASSERT_EQ(elsewhere.status, 201);
  auto correction = [&](const std::string& target) {
    json s = MakeSubmission("case-1", "corrected " + target, "statement.txt", admin_);
    SignedEntry e = *SignedEntryFromJson(s["entry"]);
    e.kind = "correction";
    e.corrects = *ParseHashHex(target);
    SignEntry(e, author_);
    s["entry"] = ToJson(e);
    return Call("POST", "/v1/entries", admin_, s.dump());
  };
  ApiResponse across = correction(Body(elsewhere)["entry_id"]);
  EXPECT_EQ(across.status, 422) << across.body;
  EXPECT_EQ(Body(across)["error"], "not_found");
  EXPECT_EQ(correction(ToHex(Sha256(std::string("nothing")))).status, 422);
  // Nothing sealed for the refused ones (the two entries' small files are in their entries).
  EXPECT_EQ(Count(Table::kChunks), 0u);
  EXPECT_EQ(Count(Table::kRecords), 2u);
  ApiResponse same = correction(Body(first)["entry_id"]);
  EXPECT_EQ(same.status, 201) << same.body;
  json listed = Body(Call("GET", "/v1/cases/case-1/entries", reader_));
  ASSERT_EQ(listed["entries"].size(), 2u);
  EXPECT_EQ(listed["entries"][1]["corrects"], Body(first)["entry_id"]);
}

TEST_F(ApiTest, MissingChunksAreEachTokensOwnAndBodyLimits) {
  std::string a = "chunk a", b = "chunk b";
  ASSERT_EQ(Call("PUT", "/v1/chunks/" + ToHex(Sha256(a)), submitter_, a).status, 201);
  // The same answer when the chunk is already held, so that a PUT reveals nothing.
  EXPECT_EQ(Call("PUT", "/v1/chunks/" + ToHex(Sha256(a)), submitter_, a).status, 201);
  json ask = {{"ids", {ToHex(Sha256(a)), ToHex(Sha256(b))}}};
  ApiResponse r = Call("POST", "/v1/chunks/missing", submitter_, ask.dump());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["missing"], json::array({ToHex(Sha256(b))}));
  // Another token has sent neither: what one submitter uploaded tells the next nothing.
  ApiResponse theirs = Call("POST", "/v1/chunks/missing", admin_, ask.dump());
  EXPECT_EQ(Body(theirs)["missing"], json::array({ToHex(Sha256(a)), ToHex(Sha256(b))}));
  // Nor does logged content: its plaintext is gone once sealed.
  json logged = MakeSubmission("case-1", "logged content");
  ASSERT_EQ(Call("POST", "/v1/entries", submitter_, logged.dump()).status, 201);
  json ask_logged = {{"ids", logged["files"][0]["chunks"]}};
  EXPECT_EQ(Body(Call("POST", "/v1/chunks/missing", submitter_, ask_logged.dump()))["missing"],
            logged["files"][0]["chunks"]);
  // Format 1's "case" field is gone.
  json with_case = {{"ids", json::array()}, {"case", "case-1"}};
  EXPECT_EQ(Call("POST", "/v1/chunks/missing", submitter_, with_case.dump()).status, 400);
  EXPECT_EQ(Call("POST", "/v1/chunks/missing", reader_, ask.dump()).status, 403);
  EXPECT_EQ(api_->BodyLimit("PUT", "/v1/chunks/abc"), kChunkSize);
  EXPECT_EQ(api_->BodyLimit("POST", "/v1/entries"), ApiOptions().max_json_body);
  EXPECT_EQ(api_->BodyLimit("GET", "/v1/checkpoint"), 0u);
  EXPECT_EQ(Call("GET", "/healthz", "").status, 200);
}

// A checked submission holds sealed chunks already; one that the group committer never appends
// (here: submitted while the node shuts down) must not leave them behind.
// A small file may travel inline, as base64 "content" in place of upload chunk ids: one request,
// no upload chunk stored, and the file reads back as its author signed it.
json InlineSubmission(const SigningKey& author, const std::string& case_id,
                      const std::string& content, const std::string& name = "inline.txt") {
  FileDescriptor d;
  d.name = name;
  d.media_type = "text/plain";
  d.size = content.size();
  d.content_sha256 = Sha256(content);
  CommitmentSalt salt;
  RandomBytes(salt.data(), salt.size());
  SignedEntry e;
  e.case_id = case_id;
  e.kind = "evidence";
  e.created_at_ms = 1767225600000;
  e.files = {FileCommitment(salt, Encode(d))};
  SignEntry(e, author);
  json file = {{"descriptor", ToJson(d)}, {"salt", ToHex(salt)},
               {"content", Base64Encode(AsBytes(content))}};
  return {{"entry", ToJson(e)}, {"files", json::array({file})}};
}

TEST_F(ApiTest, ASmallFileTravelsInlineInOneRequest) {
  const std::string content = "a statement sent inline\n";
  json submission = InlineSubmission(author_, "case-1", content);
  ApiResponse r = Call("POST", "/v1/entries", submitter_, submission.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Count(Table::kUploadChunks), 0u);
  const std::string id = Body(r)["entry_id"];
  ApiResponse read = Call("GET", "/v1/entries/" + id + "/files/0/content", reader_);
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(BodyText(read), content);
  // Sent again, the same receipt.
  ApiResponse again = Call("POST", "/v1/entries", submitter_, submission.dump());
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)["entry_id"], id);

  // The largest inline file, and an empty one.
  const std::string largest(kMaxInlineContent, 'L');
  EXPECT_EQ(Call("POST", "/v1/entries", submitter_,
                 InlineSubmission(author_, "case-1", largest, "largest.bin").dump())
                .status,
            201);
  EXPECT_EQ(Call("POST", "/v1/entries", submitter_,
                 InlineSubmission(author_, "case-1", "", "empty.bin").dump())
                .status,
            201);
  EXPECT_EQ(*node_->log().Size(), 3u);
  EXPECT_NE(Call("GET", "/metrics", admin_).body.find("khronika_entries_appended_total 3\n"),
            std::string::npos);
}

TEST_F(ApiTest, BadInlineContentIsRefusedAndWritesNothing) {
  auto expect_error = [&](const json& body, int status, const std::string& token,
                          const std::string& what) {
    ApiResponse r = Call("POST", "/v1/entries", token, body.dump());
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    json j = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error") && j.contains("message")) << what;
  };
  const std::string content = "inline statement";
  json good = InlineSubmission(author_, "case-1", content);
  json both = good;
  both["files"][0]["chunks"] = json::array({ToHex(ChunkId(AsBytes(content)))});
  expect_error(both, 400, submitter_, "both content and chunks");
  json not_text = good;
  not_text["files"][0]["content"] = json::array();
  expect_error(not_text, 400, submitter_, "content not a string");
  json bad64 = good;
  bad64["files"][0]["content"] = "not base64!";
  expect_error(bad64, 400, submitter_, "malformed base64");
  json unpadded = good;
  std::string text = Base64Encode(AsBytes(content));
  unpadded["files"][0]["content"] = text.substr(0, text.find('='));
  expect_error(unpadded, 400, submitter_, "unpadded base64");
  json shorter = good;
  shorter["files"][0]["content"] = Base64Encode(AsBytes(content.substr(1)));
  expect_error(shorter, 400, submitter_, "content shorter than the descriptor");
  // Over the limit: the descriptor is signed as one byte too large for inline content.
  const std::string over(kMaxInlineContent + 1, 'o');
  expect_error(InlineSubmission(author_, "case-1", over), 400, submitter_, "over 64 KiB");
  json huge = good;
  huge["files"][0]["content"] = std::string(200000, 'A');
  expect_error(huge, 400, submitter_, "long base64");
  // Well-formed, but not what the author signed: refused as altered chunks are.
  json altered = good;
  std::string changed = content;
  changed[0] = 'I';
  altered["files"][0]["content"] = Base64Encode(AsBytes(changed));
  expect_error(altered, 422, submitter_, "content not matching the signed SHA-256");
  // A token of case-1 cannot use inline content to write into case-2, nor a reader at all.
  expect_error(InlineSubmission(author_, "case-2", content), 403, submitter_, "another case");
  expect_error(good, 403, reader_, "a reader");
  EXPECT_EQ(*node_->log().Size(), 0u);
  EXPECT_EQ(Count(Table::kChunks), 0u);
  EXPECT_EQ(Count(Table::kUploadChunks), 0u);
  EXPECT_EQ(Count(Table::kObjects), 0u);
  EXPECT_EQ(Call("POST", "/v1/entries", submitter_, good.dump()).status, 201);
}

// Upload chunks go through the group committer: acknowledged once committed, held per token,
// and refused once it has stopped (nothing stored).
TEST_F(ApiTest, ChunkUploadsShareTheGroupCommit) {
  const std::string piece = "a chunk";
  const std::string id = ToHex(ChunkId(AsBytes(piece)));
  const uint64_t before = committer_->transactions();
  ApiResponse put = Call("PUT", "/v1/chunks/" + id, submitter_, piece);
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(committer_->transactions(), before + 1);
  EXPECT_EQ(committer_->chunks(), 1u);
  EXPECT_EQ(Count(Table::kUploadChunks), 1u);
  const std::string stored = "khronika_bytes_stored_total " + std::to_string(piece.size()) + "\n";
  EXPECT_NE(Call("GET", "/metrics", admin_).body.find(stored), std::string::npos);
  // Again: the same answer, nothing stored twice.
  EXPECT_EQ(Call("PUT", "/v1/chunks/" + id, submitter_, piece).status, 201);
  EXPECT_EQ(Count(Table::kUploadChunks), 1u);
  EXPECT_NE(Call("GET", "/metrics", admin_).body.find(stored), std::string::npos);
  ApiResponse missing = Call("POST", "/v1/chunks/missing", admin_, json{{"ids", {id}}}.dump());
  EXPECT_EQ(Body(missing)["missing"], json::array({id})) << "held for the submitter's token only";
  committer_->Stop();
  const std::string late = "late chunk";
  ApiResponse refused =
      Call("PUT", "/v1/chunks/" + ToHex(ChunkId(AsBytes(late))), submitter_, late);
  EXPECT_EQ(refused.status, 500) << refused.body;
  EXPECT_EQ(Count(Table::kUploadChunks), 1u);
}

TEST_F(ApiTest, ASubmissionRefusedAtShutdownLeavesNoSealedChunks) {
  json kept = MakeSubmission("case-1", "logged before");
  ASSERT_EQ(Call("POST", "/v1/entries", submitter_, kept.dump()).status, 201);
  const uint64_t sealed = Count(Table::kChunks);
  std::string text;
  for (char c : std::string("qrs")) text += std::string(kChunkSize, c);
  json late = MakeSubmission("case-1", text + "late");
  committer_->Stop();
  ApiResponse r = Call("POST", "/v1/entries", submitter_, late.dump());
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(Count(Table::kChunks), sealed);
  EXPECT_EQ(Count(Table::kUploadChunks), 4u);  // its plaintext waits for a retry
  EXPECT_EQ(*node_->log().Size(), 1u);
}

TEST_F(ApiTest, CaseListingPaginates) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Call("POST", "/v1/entries", submitter_,
                   MakeSubmission("case-1", "item " + std::to_string(i)).dump()).status, 201);
  }
  ApiResponse page1 = Call("GET", "/v1/cases/case-1/entries?limit=2", reader_);
  ASSERT_EQ(page1.status, 200);
  json p1 = Body(page1);
  ASSERT_EQ(p1["entries"].size(), 2u);
  ASSERT_FALSE(p1["next_after"].is_null());
  const json& first = p1["entries"][0];
  EXPECT_EQ(first["index"], 0);
  EXPECT_EQ(first["origin"], ToHex(node_->id()));
  EXPECT_EQ(first["kind"], "evidence");
  EXPECT_EQ(first["author"], ToHex(author_.public_key()));
  EXPECT_EQ(first["files"][0]["name"], "statement.txt");
  EXPECT_EQ(first["files"][0]["index"], 0);
  EXPECT_EQ(first["files"][0]["size"], 6);
  EXPECT_EQ(first["files"][0]["sha256"], ToHex(Sha256(std::string("item 0"))));
  EXPECT_EQ(Call("GET", "/v1/entries/" + first["entry_id"].get<std::string>(), reader_).status,
            200);
  ApiResponse page2 = Call("GET", "/v1/cases/case-1/entries?limit=2&after=" +
                                      std::to_string(p1["next_after"].get<uint64_t>()), reader_);
  json p2 = Body(page2);
  ASSERT_EQ(p2["entries"].size(), 2u);
  EXPECT_EQ(p2["entries"][0]["index"], 2);
  ApiResponse page3 = Call("GET", "/v1/cases/case-1/entries?limit=2&after=3", reader_);
  json p3 = Body(page3);
  EXPECT_EQ(p3["entries"].size(), 1u);
  EXPECT_TRUE(p3["next_after"].is_null());
}

// Caught by tests/fuzz/http_fuzz's check of 206 answers (its corpus keeps the reproducer,
// crash-range-end-overflow): a range ending at 2^64-1 wrapped to an empty 206 answer that claimed
// "bytes 0-18446744073709551615/11".
TEST_F(ApiTest, ARangeEndingAtTheLargestNumberMeansTheRestOfTheFile) {
  json submission = MakeSubmission("case-1", "what I saw\n");
  ApiResponse created = Call("POST", "/v1/entries", submitter_, submission.dump());
  ASSERT_EQ(created.status, 201);
  ApiResponse r = Call("GET", "/v1/entries/" + Body(created)["entry_id"].get<std::string>() +
                                  "/files/0/content",
                       reader_, "", "bytes=2-18446744073709551615");
  ASSERT_EQ(r.status, 206);
  EXPECT_EQ(HeaderOf(r, "Content-Range"), "bytes 2-10/11");
  EXPECT_EQ(BodyText(r), "at I saw\n");
}

TEST_F(ApiTest, CourtBundlesDiscloseWhatIsChosenAndVerifyOffline) {
  ApiResponse one = Call("POST", "/v1/entries", submitter_,
                         MakeSubmission("case-1", "first secret", "a.txt").dump());
  ApiResponse two = Call("POST", "/v1/entries", submitter_,
                         MakeSubmission("case-1", "second secret", "b.txt").dump());
  ApiResponse other = Call("POST", "/v1/entries", admin_,
                           MakeSubmission("case-2", "other case", "a.txt", admin_).dump());
  ASSERT_EQ(one.status, 201);
  ASSERT_EQ(two.status, 201);
  ASSERT_EQ(other.status, 201);
  const std::string first = Body(one)["entry_id"], second = Body(two)["entry_id"];
  auto verified = [&](const ApiResponse& r, const std::string& what) {
    EXPECT_EQ(r.status, 200) << what << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/x-tar");
    std::string tar = BodyText(r);
    std::filesystem::path file = dir_ / "bundle.tar";
    std::filesystem::remove(file);
    {
      std::ofstream out(file, std::ios::binary);
      out << tar;
    }
    auto v = VerifyBundleFile(file);
    EXPECT_TRUE(v.ok()) << what << ": " << v.status().ToString();
    if (v.ok()) {
      for (const std::string& p : v->problems) ADD_FAILURE() << what << ": " << p;
      EXPECT_EQ(v->case_id, "case-1") << what;
      EXPECT_EQ(v->records, 2u) << what;  // every record of the case, always
    }
    return std::make_pair(tar, v.ok() ? *v : BundleVerification{});
  };
  auto [all_tar, all] = verified(Call("GET", "/v1/cases/case-1/bundle", reader_), "whole case");
  EXPECT_EQ(all.entries, 2u);
  EXPECT_NE(all_tar.find("second secret"), std::string::npos);
  EXPECT_EQ(all_tar.find("other case"), std::string::npos);

  auto [chosen_tar, chosen] =
      verified(Call("GET", "/v1/cases/case-1/bundle?entry=" + first, reader_), "one entry");
  EXPECT_EQ(chosen.entries, 1u);
  EXPECT_EQ(chosen.files, 1u);
  EXPECT_NE(chosen_tar.find("first secret"), std::string::npos);
  EXPECT_EQ(chosen_tar.find("second secret"), std::string::npos);
  EXPECT_EQ(chosen_tar.find("b.txt"), std::string::npos);

  auto [named_tar, named] =
      verified(Call("GET", "/v1/cases/case-1/bundle?file=b.txt", admin_), "one file name");
  EXPECT_EQ(named.files, 1u);
  EXPECT_EQ(named_tar.find("first secret"), std::string::npos);

  // Another case's entry is not in this case, as if it did not exist.
  const std::string theirs = Body(other)["entry_id"];
  EXPECT_EQ(Call("GET", "/v1/cases/case-1/bundle?entry=" + theirs, reader_).status, 404);
  EXPECT_EQ(Call("GET", "/v1/cases/case-1/bundle?entry=" + second + "&file=a.txt", reader_).status,
            404);
  EXPECT_EQ(Call("GET", "/v1/cases/case-1/bundle?entry=xyz", reader_).status, 400);
  EXPECT_EQ(Call("GET", "/v1/cases/case-1/bundle?case=case-2", reader_).status, 400);
  EXPECT_EQ(Call("GET", "/v1/cases/case-1/bundle?file=..", reader_).status, 400);
  EXPECT_EQ(Call("GET", "/v1/cases/case-1/bundle?file=%zz", reader_).status, 400);
  EXPECT_EQ(Call("GET", "/v1/cases/case-9/bundle", admin_).status, 404);
  EXPECT_EQ(Call("GET", "/v1/cases/case-1/bundle", other_reader_).status, 403);
  EXPECT_EQ(Call("GET", "/v1/cases/case-1/bundle", auditor_).status, 403);
  EXPECT_EQ(Call("GET", "/v1/cases/case-1/bundle", submitter_).status, 403);
  // Each export is on record, before its first byte.
  auto events = ReadsOnRecord();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].action, "export");
  EXPECT_EQ((*events)[0].case_id, "case-1");
}

// Found by tests/fuzz/http_fuzz (corpus/http_fuzz/crash-target-without-slash): a target that does
// not start with "/" matched the console's "/" route and threw out of Handle.
TEST_F(ApiTest, TargetsWithoutALeadingSlashAreNotFound) {
  for (const char* target : {"\xaf", "x", "console/index.html", "v1/entries", "*"}) {
    ApiResponse r = Call("GET", target, reader_);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("error")) << r.body;
    EXPECT_EQ(api_->BodyLimit("POST", target), 0u) << target;
  }
}

// Found by tests/fuzz/http_fuzz (corpus/http_fuzz/crash-non-utf8-target): the 404 message quotes
// the path, and a byte that is not UTF-8 made json::dump throw out of Handle.
TEST_F(ApiTest, TargetsThatAreNotUtf8GetAJsonError) {
  for (const char* target : {"/metrics\xa5", "/v1/\xff\xfe", "/v1/cases/\xc3/entries"}) {
    ApiResponse r;
    ASSERT_NO_THROW(r = Call("GET", target, admin_)) << target;
    EXPECT_GE(r.status, 400);
    EXPECT_LT(r.status, 500);
    EXPECT_TRUE(Body(r).contains("error")) << r.body;
  }
}

// Partners and auditors hold and check ciphertext only: no answer that a partner node (by its
// pinned certificate) or an auditor token can get holds a case id, name, metadata, author key or
// plaintext hash (hex or binary) of an entry.
TEST_F(ApiTest, NoPlaintextReachesAPartnerOrAnAuditor) {
  const std::string case_id = "canary-case-7f3a";
  const std::string name = "canary-name-91b2.txt";
  const std::string content = "canary-content-5e6f " + std::string(2 * kChunkSize, 'c') + " end";
  std::string admin_of_case = Token(Role::kAdmin, {});
  json submission = MakeSubmission(case_id, content, name, admin_of_case,
                                   {{"canary-key-0a1b", "canary-value-c4d5"}});
  ASSERT_EQ(Call("POST", "/v1/entries", admin_of_case, submission.dump()).status, 201);
  ASSERT_EQ(Call("POST", "/v1/entries", admin_of_case,
                 MakeSubmission(case_id, "second", "b.txt", admin_of_case).dump()).status, 201);
  std::vector<std::string> canaries = {case_id, name, "canary-key-0a1b", "canary-value-c4d5",
                                       "canary-content-5e6f", "Alice"};
  auto binary_and_hex = [&](ByteView b) {
    canaries.emplace_back(AsChars(b));
    canaries.push_back(ToHex(b));
  };
  binary_and_hex(Sha256(content));
  binary_and_hex(author_.public_key());
  for (const json& c : submission["files"][0]["chunks"]) {
    binary_and_hex(*FromHex(c.get<std::string>()));
  }
  binary_and_hex(*FromHex(submission["files"][0]["salt"].get<std::string>()));

  const std::string origin = ToHex(node_->id());
  Peer partner;
  partner.node_id = Sha256(std::string("partner"));
  partner.url = "https://127.0.0.1:1";
  partner.cert_sha256 = std::string(64, 'b');
  ASSERT_TRUE(AddPeer(node_->store(), partner).ok());
  std::string sealed_chunks;
  ASSERT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
    json ids = json::array();
    KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kChunks, {}, [&](ByteView k) -> Result<bool> {
      ids.push_back(ToHex(k));
      return true;
    }));
    sealed_chunks = json{{"ids", ids}}.dump();
    return Status::Ok();
  }).ok());

  std::vector<std::pair<std::string, ApiResponse>> answers;
  auto as_partner = [&](const std::string& method, const std::string& target,
                        const std::string& body = "") {
    ApiRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.peer_cert_sha256 = partner.cert_sha256;
    answers.emplace_back("partner " + target, api_->Handle(r));
    return answers.back().second.status;
  };
  EXPECT_EQ(as_partner("GET", "/v1/sync/heads"), 200);
  EXPECT_EQ(as_partner("GET", "/v1/sync/pack?origin=" + origin + "&from=0&to=2"), 200);
  EXPECT_EQ(as_partner("GET", "/v1/sync/consistency?origin=" + origin + "&from=1&to=2"), 200);
  EXPECT_EQ(as_partner("POST", "/v1/sync/chunks", sealed_chunks), 200);
  // Beyond the sync endpoints a partner's certificate opens nothing.
  as_partner("GET", "/v1/cases");
  as_partner("GET", "/v1/cases/" + case_id + "/entries");

  const std::string entry_id = Body(Call("GET", "/v1/cases/" + case_id + "/entries", admin_))
                                   ["entries"][0]["entry_id"];
  for (const std::string& target : std::vector<std::string>{
           "/v1/checkpoint", "/v1/checkpoint/witnessed", "/v1/proof/inclusion?index=0",
        "/v1/proof/consistency?from=1&to=2", "/v1/logs", "/v1/logs/" + origin + "/records",
        "/v1/conflicts", "/metrics", "/v1/session", "/v1/cases",
        "/v1/cases/" + case_id + "/entries", "/v1/entries/" + entry_id,
        "/v1/entries/" + entry_id + "/files/0/content", "/v1/cases/" + case_id + "/bundle",
        "/v1/node/status", "/v1/access-log"}) {
    answers.emplace_back("auditor " + target, Call("GET", target, auditor_));
  }
  ApiResponse records = Call("GET", "/v1/logs/" + origin + "/records", auditor_);
  ASSERT_EQ(records.status, 200);
  EXPECT_EQ(Body(records)["records"].size(), 2u);

  for (auto& [what, r] : answers) {
    std::string all = BodyText(r) + r.content_type;
    for (const auto& [n, v] : r.headers) all += n + ": " + v + "\n";
    for (const std::string& c : canaries) {
      EXPECT_EQ(all.find(c), std::string::npos) << what << " shows " << ToHex(AsBytes(c));
    }
  }
  // The canaries are where they should be: the case's admin reads them.
  std::string theirs = Call("GET", "/v1/entries/" + entry_id, admin_).body;
  EXPECT_NE(theirs.find(case_id), std::string::npos);
  EXPECT_NE(theirs.find(ToHex(Sha256(content))), std::string::npos);
}

// ---- the web console and the endpoints it reads (docs/api.md 7.16-7.21) ----


TEST_F(ApiTest, ConsoleFilesAreServedWithoutATokenAndRevalidatedByETag) {
  ApiResponse index = Call("GET", "/", "");
  ASSERT_EQ(index.status, 200) << index.body;
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<script type=\"module\" src=\"/console/console.js\">"), std::string::npos);
  // No inline script or style anywhere: the CSP would block it.
  EXPECT_EQ(index.body.find("<script>"), std::string::npos);
  EXPECT_EQ(index.body.find("style="), std::string::npos);
  EXPECT_EQ(index.body.find("<style"), std::string::npos);
  EXPECT_EQ(HeaderOf(index, "Cache-Control"), "no-cache");
  std::string etag = HeaderOf(index, "ETag");
  ASSERT_EQ(etag.size(), 34u) << etag;
  ApiResponse again = Call("GET", "/", "", "", "", etag);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(Call("GET", "/", "", "", "", "\"stale\"").status, 200);

  ApiResponse js = Call("GET", "/console/console.js", "");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Call("GET", "/console/console.css", "").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(Call("GET", "/console/format.js", "").status, 200);
  EXPECT_EQ(Call("GET", "/console/views.js", "").status, 200);

  for (const char* bad : {"/console/", "/console/nope.js", "/console/../api.cc", "/console/a/b",
                          "/index.html", "/console/console.js/"}) {
    ApiResponse r = Call("GET", bad, "");
    EXPECT_EQ(r.status, 404) << bad;
    EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("error")) << bad;
  }
  ApiResponse post = Call("POST", "/", "", "x");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(HeaderOf(post, "Allow"), "GET");
  // The policy forbids inline code and every other origin.
  bool csp = false;
  for (const auto& [n, v] : SecurityHeaders()) {
    if (n != "Content-Security-Policy") continue;
    csp = true;
    EXPECT_NE(v.find("default-src 'none'"), std::string::npos);
    EXPECT_NE(v.find("script-src 'self';"), std::string::npos);
    EXPECT_EQ(v.find("unsafe-inline"), std::string::npos);
    EXPECT_NE(v.find("frame-ancestors 'none'"), std::string::npos);
  }
  EXPECT_TRUE(csp);
}

TEST_F(ApiTest, SessionSaysWhoTheTokenIsAndNeverTheSecret) {
  ApiResponse r = Call("GET", "/v1/session", reader_);
  ASSERT_EQ(r.status, 200) << r.body;
  json s = Body(r);
  EXPECT_EQ(s["role"], "reader");
  EXPECT_EQ(s["all_cases"], false);
  EXPECT_EQ(s["cases"], json::array({"case-1"}));
  EXPECT_EQ(s["may"]["read_content"], true);
  EXPECT_EQ(s["may"]["read_log"], false);
  EXPECT_EQ(s["node"]["id"], ToHex(node_->id()));
  EXPECT_EQ(s["node"]["public_key"], ToHex(node_->key().public_key()));
  EXPECT_EQ(s["node"]["vkey"], node_->verifier_key());
  EXPECT_EQ(s["token_id"].get<std::string>().size(), 16u);
  EXPECT_EQ(r.body.find(reader_), std::string::npos);
  json a = Body(Call("GET", "/v1/session", auditor_));
  EXPECT_EQ(a["role"], "auditor");
  EXPECT_EQ(a["all_cases"], true);
  EXPECT_EQ(a["may"]["read_entries"], false);
  EXPECT_EQ(Body(Call("GET", "/v1/session", admin_))["may"]["administer"], true);
  EXPECT_EQ(Call("GET", "/v1/session", "").status, 401);
  EXPECT_EQ(Call("GET", "/v1/session", "khr_" + std::string(64, 'f')).status, 401);
  EXPECT_EQ(Call("POST", "/v1/session", reader_, "{}").status, 405);
}

TEST_F(ApiTest, CasesListsOnlyWhatTheTokenMayRead) {
  ASSERT_EQ(Call("POST", "/v1/entries", admin_, MakeSubmission("case-1", "one", "statement.txt", admin_).dump()).status, 201);
  ASSERT_EQ(Call("POST", "/v1/entries", admin_, MakeSubmission("case-1", "two", "statement.txt", admin_).dump()).status, 201);
  ASSERT_EQ(Call("POST", "/v1/entries", admin_, MakeSubmission("case-3", "three", "statement.txt", admin_).dump()).status, 201);
  json all = Body(Call("GET", "/v1/cases", admin_));
  ASSERT_EQ(all["cases"].size(), 2u) << all;
  EXPECT_EQ(all["cases"][0], (json{{"case", "case-1"}, {"entries", 2}}));
  EXPECT_EQ(all["cases"][1]["case"], "case-3");
  json mine = Body(Call("GET", "/v1/cases", reader_));
  EXPECT_EQ(mine["cases"], json::array({{{"case", "case-1"}, {"entries", 2}}}));
  // A token limited to a case with nothing recorded yet still sees its case, empty.
  json other = Body(Call("GET", "/v1/cases", other_reader_));
  EXPECT_EQ(other["cases"], json::array({{{"case", "case-2"}, {"entries", 0}}}));
  EXPECT_EQ(Call("GET", "/v1/cases", auditor_).status, 403);
  EXPECT_EQ(Call("GET", "/v1/cases", submitter_).status, 403);
  EXPECT_EQ(Call("GET", "/v1/cases", "").status, 401);
}

// In an encrypted store the case index holds keyed hashes of case ids: the names come from the
// entries, and a limited token's cases are found by their blinded prefix.
class EncryptedApiTest : public ApiTest {
 protected:
  bool Encrypted() const override { return true; }
};

TEST_F(EncryptedApiTest, CasesAreNamedFromTheirEntries) {
  ASSERT_TRUE(Node::IsEncrypted(dir_ / "node"));
  ASSERT_EQ(Call("POST", "/v1/entries", admin_, MakeSubmission("case-1", "one", "statement.txt", admin_).dump()).status, 201);
  ASSERT_EQ(Call("POST", "/v1/entries", admin_, MakeSubmission("case-3", "three", "statement.txt", admin_).dump()).status, 201);
  ASSERT_EQ(Call("POST", "/v1/entries", admin_, MakeSubmission("case-1", "two", "statement.txt", admin_).dump()).status, 201);
  json all = Body(Call("GET", "/v1/cases", admin_));
  EXPECT_EQ(all["cases"], json::array({{{"case", "case-1"}, {"entries", 2}},
                                        {{"case", "case-3"}, {"entries", 1}}}));
  json mine = Body(Call("GET", "/v1/cases", reader_));
  EXPECT_EQ(mine["cases"], json::array({{{"case", "case-1"}, {"entries", 2}}}));
}

TEST_F(ApiTest, LogsAndConflictsAreForAuditorsAndAdmins) {
  ASSERT_EQ(Call("POST", "/v1/entries", admin_, MakeSubmission("case-1", "one", "statement.txt", admin_).dump()).status, 201);
  ApiResponse r = Call("GET", "/v1/logs", auditor_);
  ASSERT_EQ(r.status, 200) << r.body;
  json logs = Body(r)["logs"];
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0]["origin"], ToHex(node_->id()));
  EXPECT_EQ(logs[0]["local"], true);
  EXPECT_EQ(logs[0]["records"], 1);
  EXPECT_EQ(logs[0]["checkpoint_size"], 1);
  EXPECT_EQ(logs[0]["public_key"], ToHex(node_->key().public_key()));
  EXPECT_EQ(logs[0]["checkpoint"], *node_->log().LatestCheckpoint());
  EXPECT_EQ(logs[0]["cosignatures"], json::array());
  // Nothing about cases or entries: an auditor never sees them.
  EXPECT_EQ(r.body.find("case-1"), std::string::npos);
  EXPECT_EQ(Call("GET", "/v1/logs", admin_).status, 200);
  EXPECT_EQ(Call("GET", "/v1/logs", reader_).status, 403);
  EXPECT_EQ(Call("GET", "/v1/logs", submitter_).status, 403);
  ApiResponse c = Call("GET", "/v1/conflicts", auditor_);
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(Body(c), (json{{"conflicts", json::array()}}));
  EXPECT_EQ(Call("GET", "/v1/conflicts", reader_).status, 403);
}

TEST_F(ApiTest, InclusionProofTakesAnOriginHeldHere) {
  ASSERT_EQ(Call("POST", "/v1/entries", admin_, MakeSubmission("case-1", "one", "statement.txt", admin_).dump()).status, 201);
  ASSERT_EQ(Call("POST", "/v1/entries", admin_, MakeSubmission("case-1", "two", "statement.txt", admin_).dump()).status, 201);
  std::string origin = ToHex(node_->id());
  ApiResponse plain = Call("GET", "/v1/proof/inclusion?index=1&size=2", auditor_);
  ApiResponse named = Call("GET", "/v1/proof/inclusion?index=1&size=2&origin=" + origin, auditor_);
  ASSERT_EQ(named.status, 200) << named.body;
  EXPECT_EQ(named.body, plain.body);
  ApiResponse unknown = Call("GET", "/v1/proof/inclusion?index=0&origin=" + std::string(64, 'a'), auditor_);
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(Call("GET", "/v1/proof/inclusion?index=0&origin=xyz", auditor_).status, 400);
  EXPECT_EQ(Call("GET", "/v1/proof/inclusion?index=0&origin=" + std::string(64, 'A'), auditor_).status, 400);
}

TEST_F(ApiTest, NodeStatusAndAccessLogAreForAdminsOnly) {
  json submission = MakeSubmission("case-1", "read me", "statement.txt", admin_);
  ApiResponse created = Call("POST", "/v1/entries", admin_, submission.dump());
  ASSERT_EQ(created.status, 201);
  const std::string entry_id = Body(created)["entry_id"];
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Call("GET", "/v1/entries/" + entry_id + "/files/0/content", reader_).status, 200);
  }
  ApiResponse st = Call("GET", "/v1/node/status", admin_);
  ASSERT_EQ(st.status, 200) << st.body;
  json status = Body(st);
  EXPECT_EQ(status["node_id"], ToHex(node_->id()));
  EXPECT_EQ(status["name"], "api-test");
  EXPECT_EQ(status["peers"], json::array());
  EXPECT_EQ(status["conflicts"], 0);
  EXPECT_GT(status["store_used_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(status["logs"][0]["records"], 1);
  for (const std::string& t : {auditor_, reader_, submitter_}) {
    EXPECT_EQ(Call("GET", "/v1/node/status", t).status, 403);
    EXPECT_EQ(Call("GET", "/v1/access-log", t).status, 403);
  }
  ApiResponse log = Call("GET", "/v1/access-log?limit=2", admin_);
  ASSERT_EQ(log.status, 200) << log.body;
  json events = Body(log)["events"];
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["action"], "read-content");
  EXPECT_EQ(events[0]["object"], entry_id + "/0");
  EXPECT_EQ(events[0]["role"], "reader");
  EXPECT_EQ(events[0]["case"], "case-1");
  // Three reads, after the five tokens' grants.
  json all = Body(Call("GET", "/v1/access-log", admin_))["events"];
  ASSERT_EQ(all.size(), 8u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i]["action"], i < 3 ? "read-content" : "token-grant") << all[i].dump();
  }
  EXPECT_EQ(Call("GET", "/v1/access-log?limit=x", admin_).status, 400);
  EXPECT_EQ(Call("GET", "/v1/access-log?limit=1&limit=2", admin_).status, 400);
}

// ---- C2SP tlog-tiles (/tlog/<origin>/...) ----------------------------------------------------

TEST_F(ApiTest, TilesServeTheLogAtItsCheckpointToAuditorsOnly) {
  for (int i = 0; i < 5; ++i) {
    json submission = MakeSubmission("case-1", "statement " + std::to_string(i));
    ASSERT_EQ(Call("POST", "/v1/entries", submitter_, submission.dump()).status, 201);
  }
  const std::string p = "/tlog/" + ToHex(node_->id()) + "/";
  // Who: admin and auditor; not a reader or submitter of the case; not without a token.
  EXPECT_EQ(Call("GET", p + "checkpoint", "").status, 401);
  EXPECT_EQ(Call("GET", p + "checkpoint", reader_).status, 403);
  EXPECT_EQ(Call("GET", p + "tile/0/000.p/5", submitter_).status, 403);
  EXPECT_EQ(Call("GET", p + "tile/0/000.p/5", admin_).status, 200);
  ApiResponse cp = Call("GET", p + "checkpoint", auditor_);
  ASSERT_EQ(cp.status, 200) << cp.body;
  EXPECT_EQ(cp.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(HeaderOf(cp, "Cache-Control"), "private, max-age=5");
  EXPECT_EQ(cp.body, *node_->log().LatestCheckpoint());
  auto body = ParseCheckpointBody(ParseSignedNote(cp.body)->text);
  ASSERT_TRUE(body.ok());
  ASSERT_EQ(body->size, 5u);
  // The level-0 tile is the records' leaf hashes, the bundle the records themselves.
  ApiResponse tile = Call("GET", p + "tile/0/000.p/5", auditor_);
  ASSERT_EQ(tile.status, 200) << tile.body;
  EXPECT_EQ(tile.content_type, "application/octet-stream");
  EXPECT_EQ(HeaderOf(tile, "Cache-Control"), "private, max-age=60");
  ApiResponse bundle = Call("GET", p + "tile/entries/000.p/5", auditor_);
  ASSERT_EQ(bundle.status, 200) << bundle.body;
  ASSERT_EQ(tile.body.size(), 5u * 32);
  ASSERT_EQ(bundle.body.size(), 5u * (2 + 115));
  std::vector<Hash> leaves;
  json records = Body(Call("GET", "/v1/logs/" + ToHex(node_->id()) + "/records", auditor_));
  for (size_t i = 0; i < 5; ++i) {
    std::string entry = bundle.body.substr(i * 117, 117);
    EXPECT_EQ(entry.substr(0, 2), std::string("\x00\x73", 2));  // 115, big-endian
    EXPECT_EQ(ToHex(AsBytes(entry.substr(2))), records["records"][i]["record_hex"]);
    Hash h = LeafHash(AsBytes(entry.substr(2)));
    EXPECT_EQ(tile.body.substr(i * 32, 32), std::string(AsChars(h)));
    leaves.push_back(h);
  }
  MerkleFrontier rebuilt;
  for (const Hash& h : leaves) rebuilt.Append(h);
  EXPECT_EQ(*rebuilt.Root(), body->root);
  // Narrower partial tiles are prefixes; anything the tree of size 5 lacks is 404.
  ApiResponse two = Call("GET", p + "tile/0/000.p/2", auditor_);
  ASSERT_EQ(two.status, 200);
  EXPECT_EQ(two.body, tile.body.substr(0, 64));
  for (const char* beyond : {"tile/0/000", "tile/0/000.p/6", "tile/0/001.p/1", "tile/1/000.p/1",
                             "tile/entries/000", "tile/entries/000.p/6", "tile/63/000.p/1"}) {
    ApiResponse r = Call("GET", p + beyond, auditor_);
    EXPECT_EQ(r.status, 404) << beyond << ": " << r.body;
    EXPECT_EQ(Body(r)["error"], "not_found") << beyond;
  }
  // Malformed: 404 with a JSON error; a query 400; another method 405; another log 404.
  for (const char* bad : {"tile/0/00", "tile/0/x000/005", "tile/0/000.p/05", "tile/", "x",
                          "checkpoint/", "tile/0/000.p/5/", "tile/0/../checkpoint"}) {
    ApiResponse r = Call("GET", p + bad, auditor_);
    EXPECT_EQ(r.status, 404) << bad << ": " << r.body;
    EXPECT_EQ(Body(r)["error"], "not_found") << bad;
  }
  EXPECT_EQ(Call("GET", p + "checkpoint?x", auditor_).status, 400);
  EXPECT_EQ(Call("POST", p + "checkpoint", auditor_).status, 405);
  EXPECT_EQ(Call("GET", "/tlog/" + std::string(64, 'a') + "/checkpoint", auditor_).status, 404);
  std::string upper = ToHex(node_->id());
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Call("GET", "/tlog/" + upper + "/checkpoint", auditor_).status, 404);

  // tiles_public: anyone, without a token; the rest of the API is unchanged.
  ApiOptions open_options;
  open_options.tiles_public = true;
  Api open(*node_, *committer_, metrics_, open_options);
  ApiRequest anonymous;
  anonymous.method = "GET";
  anonymous.target = p + "tile/0/000.p/5";
  ApiResponse open_tile = open.Handle(anonymous);
  EXPECT_EQ(open_tile.status, 200);
  EXPECT_EQ(open_tile.body, tile.body);
  EXPECT_EQ(HeaderOf(open_tile, "Cache-Control"), "public, max-age=60");
  anonymous.target = "/v1/checkpoint";
  EXPECT_EQ(open.Handle(anonymous).status, 401);

  // A record damaged on disk is not served: its leaf hash no longer matches the tree.
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto rec, txn.Get(Table::kRecords, keys::Record(node_->id(), 3)));
    Bytes damaged = *rec;
    damaged[110] ^= 1;
    return txn.Put(Table::kRecords, keys::Record(node_->id(), 3), damaged);
  }).ok());
  ApiResponse broken = Call("GET", p + "tile/entries/000.p/5", auditor_);
  EXPECT_EQ(broken.status, 500) << broken.body;
  EXPECT_EQ(Body(broken)["error"], "corruption");
  EXPECT_EQ(Call("GET", p + "tile/entries/000.p/3", auditor_).status, 200);
}

// ---- C2SP tlog-witness: POST /add-checkpoint (docs/api.md 7.27) ----

// Anyone may call it, as the spec says; its body is bounded before it is read, its rate in all
// is bounded, and a malformed body is a 400 with a JSON error.
TEST_F(ApiTest, AddCheckpointIsOpenBoundedAndRateLimited) {
  EXPECT_EQ(api_->BodyLimit("POST", "/add-checkpoint"), kMaxAddCheckpointBody);
  EXPECT_LT(kMaxAddCheckpointBody, 72u * 1024);
  ApiResponse own =
      Call("POST", "/add-checkpoint", "", "old 0\n\n" + *node_->log().LatestCheckpoint());
  EXPECT_EQ(own.status, 404) << own.body;  // a node never witnesses its own log
  ApiResponse bad = Call("POST", "/add-checkpoint", "", "old 01\n\nx\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"], "bad_request");
  ApiOptions slow;
  slow.add_checkpoint_per_second = 0.001;  // one request, then one every 1000 s
  Api limited(*node_, *committer_, metrics_, slow);
  ApiRequest r;
  r.method = "POST";
  r.target = "/add-checkpoint";
  r.body = "old 0\n\nx\n";
  int refused = 0;
  for (int i = 0; i < 2; ++i) {
    ApiResponse a = limited.Handle(r);
    if (a.status == 429) ++refused;
  }
  EXPECT_EQ(refused, 1);
}

// The body of POST /v1/entries for files sent through sealing `sealing`: the author signs each
// file's descriptor (its own SHA-256 of the content) under a fresh salt.
json SealedSubmission(const SigningKey& author, const std::string& case_id,
                      const std::vector<std::string>& contents, const std::string& sealing) {
  SignedEntry e;
  e.case_id = case_id;
  e.kind = "evidence";
  e.created_at_ms = 1767225600000 + static_cast<int64_t>(contents.size());
  json files = json::array();
  for (size_t i = 0; i < contents.size(); ++i) {
    FileDescriptor d;
    d.name = "file-" + std::to_string(i) + ".bin";
    d.media_type = "application/octet-stream";
    d.size = contents[i].size();
    d.content_sha256 = Sha256(contents[i]);
    CommitmentSalt salt;
    RandomBytes(salt.data(), salt.size());
    e.files.push_back(FileCommitment(salt, Encode(d)));
    files.push_back({{"descriptor", ToJson(d)}, {"salt", ToHex(salt)}});
  }
  SignEntry(e, author);
  return {{"entry", ToJson(e)}, {"files", files}, {"sealing", sealing}};
}

std::string PieceTarget(const std::string& sealing, size_t file, uint64_t size, uint64_t offset) {
  return "/v1/sealings/" + sealing + "/files/" + std::to_string(file) +
         "?size=" + std::to_string(size) + "&offset=" + std::to_string(offset);
}

// Seal on arrival: a file sent a piece at a time is sealed as it comes (no plaintext upload
// chunk is stored), a piece out of order changes nothing and says where the node stands, and
// the entry that names the sealing reads back byte for byte.
TEST_F(ApiTest, ASealingUploadSealsEachPieceAsItArrives) {
  std::string big(2 * kChunkSize + 12345, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 13 + (i >> 11));
  const std::vector<std::string> contents = {big, ""};
  ApiResponse begun = Call("POST", "/v1/sealings", submitter_, json{{"case_id", "case-1"}}.dump());
  ASSERT_EQ(begun.status, 201) << begun.body;
  const std::string sealing = Body(begun)["sealing"];
  EXPECT_EQ(sealing.size(), 32u);
  uint64_t offset = 0;
  for (int piece = 0; offset < big.size(); ++piece) {
    const std::string bytes = big.substr(offset, kChunkSize);
    if (piece == 1) {  // ahead of the node, then a piece it has already: both change nothing
      ApiResponse ahead = Call("PUT", PieceTarget(sealing, 0, big.size(), offset + kChunkSize),
                               submitter_, bytes);
      EXPECT_EQ(ahead.status, 409) << ahead.body;
      EXPECT_EQ(Body(ahead)["received"], offset);
      EXPECT_EQ(Body(ahead)["error"], "out_of_order");
      ApiResponse again = Call("PUT", PieceTarget(sealing, 0, big.size(), 0), submitter_,
                               big.substr(0, kChunkSize));
      EXPECT_EQ(again.status, 409) << again.body;
      EXPECT_EQ(Body(again)["received"], offset);
    }
    ApiResponse put = Call("PUT", PieceTarget(sealing, 0, big.size(), offset), submitter_, bytes);
    ASSERT_EQ(put.status, 200) << put.body;
    offset += bytes.size();
    if (offset < big.size()) {
      EXPECT_EQ(Body(put)["received"], offset);
      EXPECT_FALSE(Body(put).contains("finished_sha256"));
    } else {
      EXPECT_EQ(Body(put)["file"], 1);
      EXPECT_EQ(Body(put)["finished_sha256"], ToHex(Sha256(big)));
    }
  }
  ApiResponse empty = Call("PUT", PieceTarget(sealing, 1, 0, 0), submitter_, "");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(Body(empty)["finished_sha256"], ToHex(Sha256(std::string())));
  EXPECT_EQ(Count(Table::kUploadChunks), 0u);

  ApiResponse r = Call("POST", "/v1/entries", submitter_,
                       SealedSubmission(author_, "case-1", contents, sealing).dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = Body(r)["entry_id"];
  ApiResponse read = Call("GET", "/v1/entries/" + id + "/files/0/content", reader_);
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(BodyText(read), big);
  EXPECT_EQ(BodyText(Call("GET", "/v1/entries/" + id + "/files/1/content", reader_)), "");
  EXPECT_EQ(Count(Table::kUploadChunks), 0u);
  // The sealing went with the entry.
  EXPECT_EQ(Call("PUT", PieceTarget(sealing, 2, 1, 0), submitter_, "x").status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/sealings/" + sealing, submitter_).status, 404);
}

// A sealing is its token's: no other token (not even an admin's) can feed, delete or name it, and
// every refusal leaves no sealed chunk behind.
TEST_F(ApiTest, ASealingIsItsTokensAndARefusalLeavesNothing) {
  const uint64_t chunks_before = Count(Table::kChunks);
  EXPECT_EQ(Call("POST", "/v1/sealings", submitter_, json{{"case_id", "case-2"}}.dump()).status,
            403);
  EXPECT_EQ(Call("POST", "/v1/sealings", reader_, json{{"case_id", "case-1"}}.dump()).status, 403);
  EXPECT_EQ(Call("POST", "/v1/sealings", submitter_, json{{"case", "case-1"}}.dump()).status, 400);
  EXPECT_EQ(Call("POST", "/v1/sealings", submitter_, json{{"case_id", "../x"}}.dump()).status, 400);

  const std::string content(9 * kChunkSize + 1, 'c');  // streamed to the store as it arrives
  auto begin = [&](const std::string& token, const std::string& case_id) {
    ApiResponse b = Call("POST", "/v1/sealings", token, json{{"case_id", case_id}}.dump());
    EXPECT_EQ(b.status, 201) << b.body;
    return b.status == 201 ? Body(b)["sealing"].get<std::string>() : std::string();
  };
  auto send = [&](const std::string& token, const std::string& sealing, const std::string& bytes,
                  uint64_t size) {
    // Pieces the node has already come back as conflicts (409) and are skipped.
    for (uint64_t off = 0; off < bytes.size(); off += kChunkSize) {
      ApiResponse put = Call("PUT", PieceTarget(sealing, 0, size, off), token,
                             bytes.substr(off, kChunkSize));
      if (put.status != 200 && put.status != 409) return put.status;
    }
    return 200;
  };
  const std::string mine = begin(submitter_, "case-1");
  ASSERT_EQ(send(submitter_, mine, content.substr(0, 3 * kChunkSize), content.size()), 200);
  // Another token: told the sealing does not exist, and the sealing goes on unharmed.
  EXPECT_EQ(Call("PUT", PieceTarget(mine, 0, content.size(), 3 * kChunkSize), admin_,
                 content.substr(3 * kChunkSize, kChunkSize))
                .status,
            404);
  EXPECT_EQ(Call("DELETE", "/v1/sealings/" + mine, admin_).status, 404);
  EXPECT_EQ(Call("POST", "/v1/entries", admin_,
                 SealedSubmission(author_, "case-1", {content}, mine).dump())
                .status,
            404);
  // Named before its file is complete: refused, and the sealing stays.
  ApiResponse early = Call("POST", "/v1/entries", submitter_,
                           SealedSubmission(author_, "case-1", {content}, mine).dump());
  EXPECT_EQ(early.status, 400) << early.body;
  ASSERT_EQ(send(submitter_, mine, content, content.size()), 200);  // 409s, then the rest
  // Signed over other content: refused, and what was sealed is removed.
  std::string other = content;
  other[5] = 'x';
  ApiResponse wrong = Call("POST", "/v1/entries", submitter_,
                           SealedSubmission(author_, "case-1", {other}, mine).dump());
  EXPECT_EQ(wrong.status, 422) << wrong.body;
  EXPECT_EQ(Count(Table::kChunks), chunks_before);
  // A sealing begun for one case cannot carry an entry of another.
  const std::string for_case_2 = begin(admin_, "case-2");
  ASSERT_EQ(Call("PUT", PieceTarget(for_case_2, 0, 4, 0), admin_, "four").status, 200);
  ApiResponse crossed = Call("POST", "/v1/entries", admin_,
                             SealedSubmission(author_, "case-1", {"four"}, for_case_2).dump());
  EXPECT_EQ(crossed.status, 422) << crossed.body;
  // A size that changes mid-file, or content past it: the sealing is abandoned.
  const std::string changed = begin(submitter_, "case-1");
  ASSERT_EQ(Call("PUT", PieceTarget(changed, 0, 10, 0), submitter_, "12345").status, 200);
  EXPECT_EQ(Call("PUT", PieceTarget(changed, 0, 11, 5), submitter_, "678901").status, 400);
  EXPECT_EQ(Call("PUT", PieceTarget(changed, 0, 10, 5), submitter_, "67890").status, 404);
  const std::string past = begin(submitter_, "case-1");
  EXPECT_EQ(Call("PUT", PieceTarget(past, 0, 3, 0), submitter_, "four").status, 400);
  // Deleted by its owner: what it wrote goes with it.
  const std::string deleted = begin(submitter_, "case-1");
  ASSERT_EQ(send(submitter_, deleted, content, content.size()), 200);
  EXPECT_GT(Count(Table::kChunks), chunks_before);
  EXPECT_EQ(Call("DELETE", "/v1/sealings/" + deleted, submitter_).status, 200);
  EXPECT_EQ(Count(Table::kChunks), chunks_before);
  EXPECT_EQ(*node_->log().Size(), 0u);
}

// At most a few sealings are open per token, and one left idle past the limit is discarded with
// what it wrote, making room for another.
TEST_F(ApiTest, SealingsAreBoundedAndIdleOnesExpire) {
  ApiOptions options;
  options.sealings_per_token = 2;
  options.sealings_total = 3;
  options.sealing_idle = std::chrono::milliseconds(200);
  api_ = std::make_unique<Api>(*node_, *committer_, metrics_, options);
  const uint64_t chunks_before = Count(Table::kChunks);
  const std::string begin_body = json{{"case_id", "case-1"}}.dump();
  ApiResponse first = Call("POST", "/v1/sealings", submitter_, begin_body);
  ASSERT_EQ(first.status, 201);
  const std::string sealing = Body(first)["sealing"];
  // 17 pieces: the writer has committed the first 8 sealed chunks before it takes the next 8.
  const std::string content(17 * kChunkSize, 'e');
  for (uint64_t off = 0; off < content.size(); off += kChunkSize) {
    ASSERT_EQ(Call("PUT", PieceTarget(sealing, 0, content.size() + 1, off), submitter_,
                   content.substr(off, kChunkSize))
                  .status,
              200);
  }
  EXPECT_EQ(Call("POST", "/v1/sealings", submitter_, begin_body).status, 201);
  ApiResponse third = Call("POST", "/v1/sealings", submitter_, begin_body);
  EXPECT_EQ(third.status, 429) << third.body;  // two a token
  EXPECT_EQ(Body(third)["error"], "too_many_sealings");
  EXPECT_EQ(Call("POST", "/v1/sealings", admin_, begin_body).status, 201);
  EXPECT_EQ(Call("POST", "/v1/sealings", admin_, begin_body).status, 429);  // three in all
  EXPECT_GT(Count(Table::kChunks), chunks_before);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Call("POST", "/v1/sealings", submitter_, begin_body).status, 201);  // swept
  EXPECT_EQ(Count(Table::kChunks), chunks_before);
  EXPECT_EQ(Call("PUT", PieceTarget(sealing, 0, content.size() + 1, content.size()), submitter_,
                 "x")
                .status,
            404);
}

// A piece is answered before it is sealed, so a store that fills up shows on a later request:
// that request gets 507 store_full, the sealing is gone with everything it wrote, and the one
// after gets 404.
TEST_F(ApiTest, AFailureAfterAPieceWasAnsweredIsToldToTheNextRequest) {
  api_.reset();
  committer_.reset();
  node_.reset();
  NodeInitOptions init;
  init.store.map_size = uint64_t{24} << 20;
  auto small = Node::Init(dir_ / "small", "small", std::move(init));
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  node_ = std::move(small).value();
  ASSERT_TRUE(RegisterAuthor(node_->store(), author_.public_key(), "Alice").ok());
  committer_ = std::make_unique<GroupCommitter>(node_->log());
  api_ = std::make_unique<Api>(*node_, *committer_, metrics_);
  const std::string submitter = Token(Role::kSubmitter, {"case-1"});
  const uint64_t chunks_before = Count(Table::kChunks);
  ApiResponse begun = Call("POST", "/v1/sealings", submitter, json{{"case_id", "case-1"}}.dump());
  ASSERT_EQ(begun.status, 201) << begun.body;
  const std::string sealing = Body(begun)["sealing"];
  const uint64_t size = uint64_t{64} << 20;  // far more than the map holds
  const std::string piece(kChunkSize, 'f');
  int failed_at = -1;
  ApiResponse failure;
  for (uint64_t off = 0, i = 0; off < size; off += kChunkSize, ++i) {
    ApiResponse put = Call("PUT", PieceTarget(sealing, 0, size, off), submitter, piece);
    if (put.status != 200) {
      failed_at = static_cast<int>(i);
      failure = put;
      break;
    }
  }
  ASSERT_GT(failed_at, 0) << "the store never filled up";
  EXPECT_EQ(failure.status, 507) << failure.body;
  EXPECT_EQ(Body(failure)["error"], "store_full");
  EXPECT_EQ(Call("PUT", PieceTarget(sealing, 0, size, 0), submitter, piece).status, 404);
  EXPECT_EQ(Count(Table::kChunks), chunks_before);
}

}  // namespace
}  // namespace khronika
