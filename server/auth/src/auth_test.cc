#include "khronika/auth/auth.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace khronika {
namespace {

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "auth-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store_ = std::move(Store::Open(dir_).value());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Result<TokenInfo> Auth(std::string_view token) {
    Result<TokenInfo> out = Status::NotFound("unset");
    EXPECT_TRUE(store_->View([&](ReadTxn& txn) -> Status {
      out = Authenticate(txn, token);
      return Status::Ok();
    }).ok());
    return out;
  }
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(AuthTest, TokenAuthenticatesUntilRevoked) {
  auto t = CreateToken(*store_, Role::kReader, {"case-1"}, 1000);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->secret.size(), 68u);
  EXPECT_EQ(t->secret.substr(0, 4), "khr_");
  auto info = Auth(t->secret);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->role, Role::kReader);
  EXPECT_EQ(info->id, t->info.id);
  EXPECT_TRUE(info->AllowsCase("case-1"));
  EXPECT_FALSE(info->AllowsCase("case-2"));
  ASSERT_TRUE(RevokeToken(*store_, t->info.id, 1).ok());
  EXPECT_EQ(Auth(t->secret).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(RevokeToken(*store_, "0000000000000000", 1).code(), Code::kNotFound);
}

// A grant and a revocation are custody events written in the transaction that makes them: one
// per case the token covers (so each case's bundle shows them), one of no case for a token of
// every case. A second revocation is refused and records nothing; a refused creation neither.
TEST_F(AuthTest, GrantsAndRevocationsAreCustodyEventsPerCase) {
  auto lawyer = CreateToken(*store_, Role::kReader, {"case-1", "case-2"}, 1000, "Lawyer Ivanova");
  ASSERT_TRUE(lawyer.ok());
  auto admin = CreateToken(*store_, Role::kAdmin, {}, 2000);
  ASSERT_TRUE(admin.ok());
  EXPECT_FALSE(CreateToken(*store_, Role::kAdmin, {"case-1"}, 2500).ok());
  ASSERT_TRUE(RevokeToken(*store_, lawyer->info.id, 3000).ok());
  EXPECT_EQ(RevokeToken(*store_, lawyer->info.id, 4000).code(), Code::kAlreadyExists);
  auto by_secret = RevokeTokenBySecret(*store_, admin->secret, 5000);
  ASSERT_TRUE(by_secret.ok());
  EXPECT_EQ(*by_secret, admin->info.id);
  EXPECT_EQ(RevokeTokenBySecret(*store_, admin->secret, 6000).status().code(), Code::kAlreadyExists);

  auto events = ListAccess(*store_);
  ASSERT_TRUE(events.ok());
  const std::string lawyer_object = "token " + lawyer->info.id + " (reader)";
  const std::string admin_object = "token " + admin->info.id + " (admin)";
  struct Want { int64_t time; const char* action; std::string object; const char* case_id; };
  const std::vector<Want> want = {{1000, "token-grant", lawyer_object, "case-1"},
                                  {1000, "token-grant", lawyer_object, "case-2"},
                                  {2000, "token-grant", admin_object, ""},
                                  {3000, "token-revoke", lawyer_object, "case-1"},
                                  {3000, "token-revoke", lawyer_object, "case-2"},
                                  {5000, "token-revoke", admin_object, ""}};
  ASSERT_EQ(events->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const AccessEvent& e = (*events)[i];
    EXPECT_EQ(e.time_ms, want[i].time) << i;
    EXPECT_EQ(e.action, want[i].action) << i;
    EXPECT_EQ(e.object, want[i].object) << i;
    EXPECT_EQ(e.case_id, want[i].case_id) << i;
    EXPECT_EQ(e.token_id, "local") << i;  // the operator's own command
    EXPECT_EQ(e.role, Role::kAdmin) << i;
    // The label is the operator's free text: not in the custody log.
    EXPECT_EQ(e.object.find("Ivanova"), std::string::npos) << i;
  }
}

TEST_F(AuthTest, WrongAndMalformedTokensAreDeniedAlike) {
  auto t = CreateToken(*store_, Role::kAdmin, {}, 1000);
  ASSERT_TRUE(t.ok());
  std::string wrong = t->secret;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  for (const std::string& bad : {wrong, std::string("khr_"), std::string(""), t->secret + "0",
                                 std::string("Bearer ") + t->secret}) {
    auto r = Auth(bad);
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied) << bad;
    EXPECT_EQ(r.status().message(), "unknown or revoked token");
  }
}

TEST_F(AuthTest, SecretIsNeverStored) {
  auto t = CreateToken(*store_, Role::kSubmitter, {}, 1000);
  ASSERT_TRUE(t.ok());
  store_.reset();
  std::ifstream f(dir_ / "data.mdb", std::ios::binary);
  std::string db((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(db.find(t->secret.substr(4)), std::string::npos);
  EXPECT_EQ(db.find(t->secret.substr(4, 16)), std::string::npos);
}

TEST_F(AuthTest, RolesAllowWhatTheyShould) {
  EXPECT_TRUE(RoleAllows(Role::kSubmitter, Permission::kUpload));
  EXPECT_FALSE(RoleAllows(Role::kSubmitter, Permission::kReadContent));
  EXPECT_TRUE(RoleAllows(Role::kReader, Permission::kReadContent));
  EXPECT_FALSE(RoleAllows(Role::kReader, Permission::kUpload));
  EXPECT_TRUE(RoleAllows(Role::kAuditor, Permission::kReadLog));
  EXPECT_FALSE(RoleAllows(Role::kAuditor, Permission::kReadContent));
  EXPECT_FALSE(RoleAllows(Role::kAuditor, Permission::kReadEntries));
  for (Permission p : {Permission::kUpload, Permission::kReadEntries, Permission::kReadContent,
                       Permission::kReadLog, Permission::kAdminister}) {
    EXPECT_TRUE(RoleAllows(Role::kAdmin, p));
  }
  EXPECT_FALSE(CreateToken(*store_, Role::kAuditor, {"c"}, 1).ok());
  EXPECT_FALSE(CreateToken(*store_, Role::kReader, {"../x"}, 1).ok());
}

TEST_F(AuthTest, AccessLogKeepsEventsInRecordingOrder) {
  // Recorded out of clock order (a clock stepped back): the log keeps the order of recording.
  ASSERT_TRUE(store_->Update([](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(RecordAccess(txn, {2000, "t2", Role::kReader, "read-content", "m2", "c"}));
    return RecordAccess(txn, {1000, "t1", Role::kAdmin, "export", "case bundle", "c"});
  }).ok());
  ASSERT_TRUE(store_->Update([](WriteTxn& txn) {
    return RecordAccess(txn, {3000, "t3", Role::kReader, "read-content", "m3", "c"});
  }).ok());
  auto events = ListAccess(*store_);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].token_id, "t2");
  EXPECT_EQ((*events)[0].object, "m2");
  EXPECT_EQ((*events)[0].role, Role::kReader);
  EXPECT_EQ((*events)[1].token_id, "t1");
  EXPECT_EQ((*events)[1].action, "export");
  EXPECT_EQ((*events)[2].time_ms, 3000);
  auto recent = ListRecentAccess(*store_, 2);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ((*recent)[0].token_id, "t3");
  EXPECT_EQ((*recent)[1].token_id, "t1");
}

// What a seized disk shows of the access log: keys 0, 1, 2... (no time), values all one size
// (a read and an export alike).
TEST_F(AuthTest, AccessLogKeysAreSequenceNumbersAndValuesOneSize) {
  ASSERT_TRUE(store_->Update([](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(RecordAccess(txn, {1796050123456, "9f1c2d3e4b5a6978", Role::kReader,
                                          "read-content", std::string(64, 'a'), "case-1"}));
    return RecordAccess(txn, {1796050123999, "local", Role::kAdmin, "export", "case bundle",
                              std::string(128, 'x')});
  }).ok());
  std::vector<std::pair<Bytes, Bytes>> stored;
  ASSERT_TRUE(store_->View([&](ReadTxn& txn) {
    return txn.Scan(Table::kAccessLog, {}, [&](ByteView k, ByteView v) -> Result<bool> {
      stored.emplace_back(Bytes(k.begin(), k.end()), Bytes(v.begin(), v.end()));
      return true;
    });
  }).ok());
  ASSERT_EQ(stored.size(), 2u);
  for (size_t i = 0; i < stored.size(); ++i) {
    Bytes want;
    AppendBigEndian64(want, i);
    EXPECT_EQ(stored[i].first, want);
    EXPECT_EQ(stored[i].second.size(), kAccessRecordBytes);
  }
}

TEST_F(AuthTest, TheLargestAccessRecordFitsOnePaddedSize) {
  AccessEvent largest{INT64_MIN, std::string(16, 'f'), Role::kSubmitter,
                      std::string(16, 'a'), std::string(64, '0'), std::string(128, 'c')};
  EXPECT_EQ(EncodeAccessRecord(largest).size(), kAccessRecordBytes);
  EXPECT_LT(AccessEventJson(largest).dump().size(), kAccessRecordBytes);
  // Nothing is cut: a longer record takes two units, and reads back whole.
  AccessEvent longer = largest;
  longer.object = std::string(600, 'o');
  Bytes two = EncodeAccessRecord(longer);
  EXPECT_EQ(two.size(), 2 * kAccessRecordBytes);
  ASSERT_TRUE(store_->Update([&](WriteTxn& txn) { return RecordAccess(txn, longer); }).ok());
  auto events = ListAccess(*store_);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].object, longer.object);
  EXPECT_EQ((*events)[0].time_ms, INT64_MIN);
}

TEST_F(AuthTest, AnAccessLogWithTimeKeysGoesOnInOrder) {
  // A log begun with the earlier keys, time (u64 BE) || 8 random bytes, and unpadded values.
  Bytes old_key;
  AppendBigEndian64(old_key, 1796050123456);
  old_key.insert(old_key.end(), 8, 0x5a);
  std::string old_value =
      AccessEventJson({1796050123456, "t0", Role::kReader, "read-content", "m0", "c"}).dump();
  ASSERT_TRUE(store_->Update([&](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(txn.Put(Table::kAccessLog, old_key, AsBytes(old_value)));
    return RecordAccess(txn, {1796050123457, "t1", Role::kReader, "read-content", "m1", "c"});
  }).ok());
  auto recent = ListRecentAccess(*store_, 10);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ((*recent)[0].token_id, "t1");
  EXPECT_EQ((*recent)[1].token_id, "t0");
}

}  // namespace
}  // namespace khronika
