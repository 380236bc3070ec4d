#include "khronika/timestamp/rfc3161.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "khronika/store/store.h"
#include "khronika/timestamp/timestamp_store.h"

namespace khronika {
namespace {

namespace fs = std::filesystem;

// A TSA made with stock openssl (tests/integration/tsa/make_tsa.sh), answering with
// `openssl ts -reply`: the library is checked against OpenSSL's own responder, not itself.
class TimestampTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = (fs::temp_directory_path() / "tsa-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = new fs::path(tmpl);
    std::string cmd = "bash '" KHRONIKA_SOURCE_DIR "/tests/integration/tsa/make_tsa.sh' '" +
                      dir_->string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The TSA's answer to `query` when it signs with the certificate of `section`.
  static Bytes Reply(const Bytes& query, const std::string& section, bool token_only = false) {
    fs::path q = *dir_ / "q.tsq", r = *dir_ / "r.tsr";
    std::ofstream(q, std::ios::binary).write(reinterpret_cast<const char*>(query.data()),
                                             static_cast<std::streamsize>(query.size()));
    fs::remove(r);
    std::string cmd = "cd '" + dir_->string() + "' && openssl ts -reply -config ts.cnf -section " +
                      section + " -queryfile q.tsq " + (token_only ? "-token_out " : "") +
                      "-out r.tsr 2>/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::string s = Read(r);
    return Bytes(s.begin(), s.end());
  }
  static std::string Ca() { return Read(*dir_ / "ca.pem"); }
  static inline fs::path* dir_ = nullptr;
  const std::string body_ = "khronika/00aa\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
};

TEST_F(TimestampTest, AGoodTokenIsAcceptedAndCheckableOfflineByItsOwnBytes) {
  auto q = MakeTimestampQuery(body_);
  ASSERT_TRUE(q.ok());
  auto t = VerifyTimestampResponse(Reply(q->der, "tsa_good"), *q, Ca());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->tsa_name, "CN=Test Time Stamping Authority,O=Test TSA");
  EXPECT_GT(t->gen_time_s, 1700000000);
  EXPECT_NE(t->chain_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  auto again = VerifyTimestampToken(t->token, body_, Ca());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->gen_time_s, t->gen_time_s);
  EXPECT_EQ(again->tsa_cert_sha256, t->tsa_cert_sha256);
  // Over another body, the same token is refused.
  auto other = VerifyTimestampToken(t->token, body_ + "x\n", Ca());
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("wrong message imprint"), std::string::npos);
  // The nonce is fresh each time.
  auto q2 = MakeTimestampQuery(body_);
  ASSERT_TRUE(q2.ok());
  EXPECT_NE(q->nonce, q2->nonce);
  EXPECT_GE(q->nonce.size(), 8u);
}

TEST_F(TimestampTest, ATokenOverAnotherImprintIsRefusedAndNamed) {
  auto asked = MakeTimestampQuery(body_);
  auto other = MakeTimestampQuery("khronika/00aa\n4\n");
  ASSERT_TRUE(asked.ok() && other.ok());
  auto t = VerifyTimestampResponse(Reply(other->der, "tsa_good"), *asked, Ca());
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("wrong message imprint"), std::string::npos)
      << t.status().message();
}

TEST_F(TimestampTest, ATokenWithAnotherNonceIsRefusedAndNamed) {
  auto asked = MakeTimestampQuery(body_);
  auto replayed = MakeTimestampQuery(body_);  // same imprint, another nonce
  ASSERT_TRUE(asked.ok() && replayed.ok());
  auto t = VerifyTimestampResponse(Reply(replayed->der, "tsa_good"), *asked, Ca());
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("wrong nonce"), std::string::npos) << t.status().message();
}

TEST_F(TimestampTest, AnExpiredOrUntrustedCertificateIsRefusedAndNamed) {
  struct Case {
    const char* section;
    const char* named;
  } cases[] = {{"tsa_expired", "certificate has expired"},
               {"tsa_untrusted", "untrusted TSA certificate"}};
  for (const Case& c : cases) {
    auto q = MakeTimestampQuery(body_);
    ASSERT_TRUE(q.ok());
    Bytes answer = Reply(q->der, c.section);
    auto t = VerifyTimestampResponse(answer, *q, Ca());
    ASSERT_FALSE(t.ok()) << c.section;
    EXPECT_NE(t.status().message().find(c.named), std::string::npos)
        << c.section << ": " << t.status().message();
  }
  // The untrusted TSA's token is good under its own CA: the refusal was the CA file's doing.
  auto q = MakeTimestampQuery(body_);
  ASSERT_TRUE(q.ok());
  auto own =
      VerifyTimestampResponse(Reply(q->der, "tsa_untrusted"), *q, Read(*dir_ / "other-ca.pem"));
  EXPECT_TRUE(own.ok()) << own.status().ToString();
}

TEST_F(TimestampTest, AnExpiredCertificateIsJudgedAtTheTokensTimeOffline) {
  // Offline a token is judged at its genTime: the expired certificate was not valid then either.
  auto q = MakeTimestampQuery(body_);
  ASSERT_TRUE(q.ok());
  Bytes token = Reply(q->der, "tsa_expired", /*token_only=*/true);
  auto t = VerifyTimestampToken(token, body_, Ca());
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("certificate has expired"), std::string::npos);
}

TEST_F(TimestampTest, MalformedOversizedAndRefusedAnswersAreErrors) {
  auto q = MakeTimestampQuery(body_);
  ASSERT_TRUE(q.ok());
  Bytes good = Reply(q->der, "tsa_good");
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(VerifyTimestampResponse(trailing, *q, Ca()).ok());
  EXPECT_FALSE(VerifyTimestampResponse(Bytes(kMaxTimestampBytes + 1, 0x30), *q, Ca()).ok());
  EXPECT_FALSE(VerifyTimestampResponse(Bytes{0x30, 0x03, 0x02, 0x01, 0x00}, *q, Ca()).ok());
  EXPECT_FALSE(VerifyTimestampResponse(good, *q, "not a certificate").ok());
  // A flipped byte of the TSTInfo (time, imprint, serial, TSA name) or of the signature value:
  // the signature no longer verifies. (Not every byte of a CMS token is signed: the
  // SignerInfo's signature algorithm, for one, is not, and OpenSSL goes by the key's type.)
  Bytes token = Reply(q->der, "tsa_good", true);
  auto ok = VerifyTimestampToken(token, body_, Ca());
  ASSERT_TRUE(ok.ok());
  const Bytes tst_info_oid = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04};
  auto at = std::search(token.begin(), token.end(), tst_info_oid.begin(), tst_info_oid.end());
  ASSERT_NE(at, token.end());
  const size_t info_start = static_cast<size_t>(at - token.begin()) + tst_info_oid.size() + 6;
  std::vector<size_t> positions;
  for (size_t i = info_start; i < info_start + 160 && i < token.size(); ++i) positions.push_back(i);
  for (size_t i = token.size() - 30; i < token.size(); ++i) positions.push_back(i);
  bool refused_every_time = true;
  for (size_t i : positions) {
    Bytes bad = token;
    bad[i] ^= 0x01;
    if (VerifyTimestampToken(bad, body_, Ca()).ok()) {
      refused_every_time = false;
      ADD_FAILURE() << "accepted with byte " << i << " of " << token.size() << " flipped";
    }
  }
  EXPECT_TRUE(refused_every_time);
}

TEST_F(TimestampTest, StoredTokensAreListedBySize) {
  std::string tmpl = (fs::temp_directory_path() / "tsa-store-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  {
    auto store = Store::Open(tmpl);
    ASSERT_TRUE(store.ok());
    auto q = MakeTimestampQuery(body_);
    ASSERT_TRUE(q.ok());
    auto t = VerifyTimestampResponse(Reply(q->der, "tsa_good"), *q, Ca());
    ASSERT_TRUE(t.ok());
    Hash origin{};
    origin[0] = 7;
    ASSERT_TRUE((*store)->Update([&](WriteTxn& txn) -> Status {
      for (uint64_t size : {3u, 9u}) {
        KH_RETURN_IF_ERROR(PutTimestamp(txn, StoredTimestamp{origin, size, "http://tsa", *t}));
      }
      return Status::Ok();
    }).ok());
    ASSERT_TRUE((*store)->View([&](ReadTxn& txn) -> Status {
      auto at3 = TimestampsAt(txn, origin, 3);
      EXPECT_TRUE(at3.ok() && at3->size() == 1 && at3->front().token.token == t->token &&
                  at3->front().tsa_url == "http://tsa" &&
                  at3->front().token.gen_time == t->gen_time);
      EXPECT_TRUE(TimestampsAt(txn, origin, 4)->empty());
      EXPECT_EQ(SmallestTimestampedSize(txn, origin, 4)->value_or(0), 9u);
      EXPECT_EQ(SmallestTimestampedSize(txn, origin, 3)->value_or(0), 3u);
      EXPECT_FALSE(SmallestTimestampedSize(txn, origin, 10)->has_value());
      EXPECT_EQ(LatestTimestampedSize(txn, origin)->value_or(0), 9u);
      return Status::Ok();
    }).ok());
  }
  fs::remove_all(tmpl);
}

}  // namespace
}  // namespace khronika
