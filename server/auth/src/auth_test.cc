#include "khronika/auth/auth.h"

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
  ASSERT_TRUE(RevokeToken(*store_, t->info.id).ok());
  EXPECT_EQ(Auth(t->secret).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(RevokeToken(*store_, "0000000000000000").code(), Code::kNotFound);
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

TEST_F(AuthTest, AccessLogKeepsEventsInTimeOrder) {
  ASSERT_TRUE(store_->Update([](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(RecordAccess(txn, {2000, "t2", Role::kReader, "read-content", "m2", "c"}));
    return RecordAccess(txn, {1000, "t1", Role::kAdmin, "read-content", "m1", "c"});
  }).ok());
  auto events = ListAccess(*store_);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].token_id, "t1");
  EXPECT_EQ((*events)[1].object, "m2");
  EXPECT_EQ((*events)[1].role, Role::kReader);
}

}  // namespace
}  // namespace khronika
