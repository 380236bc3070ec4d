#include "khronika/auth/auth.h"

#include <algorithm>
#include <deque>

#include <nlohmann/json.hpp>

#include "khronika/log/custody.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

using nlohmann::json;

constexpr std::string_view kTokenPrefix = "khr_";
constexpr std::string_view kDenied = "unknown or revoked token";

Hash TokenHash(std::string_view token) { return Sha256(token); }

json TokenJson(const TokenInfo& t, const Hash& hash) {
  json j = {{"id", t.id},           {"role", RoleName(t.role)},  {"cases", t.cases},
            {"created_ms", t.created_ms}, {"revoked", t.revoked}, {"hash", ToHex(hash)}};
  if (!t.label.empty()) j["label"] = t.label;
  return j;
}

Result<TokenInfo> TokenFromJson(ByteView stored, Hash* hash_out) {
  json j = json::parse(AsChars(stored), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("token record is not JSON");
  try {
    TokenInfo t;
    t.id = j.at("id").get<std::string>();
    KH_ASSIGN_OR_RETURN(t.role, ParseRole(j.at("role").get<std::string>()));
    t.cases = j.at("cases").get<std::vector<std::string>>();
    t.created_ms = j.at("created_ms").get<int64_t>();
    t.revoked = j.at("revoked").get<bool>();
    t.label = j.value("label", "");
    KH_ASSIGN_OR_RETURN(*hash_out, ParseHashHex(j.at("hash").get<std::string>()));
    return t;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("token record: ") + e.what());
  }
}

// Puts a token's grant or revocation on record in the transaction that makes it (docs/format.md
// section 7.3): one event per case the token covers, so that each case's court bundle shows who
// was given or lost access to it, or one event of no case for a token of every case. The label
// (the operator's free text) stays out: the token id and role name the token.
Status RecordTokenCustody(WriteTxn& txn, int64_t now_ms, std::string_view action,
                          const TokenInfo& t) {
  const std::string object = "token " + t.id + " (" + RoleName(t.role) + ")";
  if (t.cases.empty()) {
    return RecordAccess(txn, {now_ms, "local", Role::kAdmin, std::string(action), object, ""});
  }
  for (const std::string& c : t.cases) {
    KH_RETURN_IF_ERROR(
        RecordAccess(txn, {now_ms, "local", Role::kAdmin, std::string(action), object, c}));
  }
  return Status::Ok();
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kSubmitter: return "submitter";
    case Role::kReader: return "reader";
    case Role::kAuditor: return "auditor";
  }
  return "unknown";
}

Result<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kAdmin, Role::kSubmitter, Role::kReader, Role::kAuditor}) {
    if (name == RoleName(r)) return r;
  }
  return Status::InvalidArgument("role must be admin, submitter, reader or auditor");
}

bool TokenInfo::AllowsCase(std::string_view case_id) const {
  if (cases.empty()) return true;
  for (const std::string& c : cases) {
    if (c == case_id) return true;
  }
  return false;
}

bool RoleAllows(Role role, Permission p) {
  switch (role) {
    case Role::kAdmin: return true;
    case Role::kSubmitter: return p == Permission::kUpload;
    case Role::kReader: return p == Permission::kReadEntries || p == Permission::kReadContent;
    case Role::kAuditor: return p == Permission::kReadLog || p == Permission::kReadMetrics;
  }
  return false;
}

Result<NewToken> CreateToken(Store& store, Role role, const std::vector<std::string>& cases,
                             int64_t now_ms, std::string_view label) {
  for (const std::string& c : cases) KH_RETURN_IF_ERROR(ValidateCaseId(c));
  if (label.size() > 200) return Status::InvalidArgument("a token label is at most 200 bytes");
  for (unsigned char c : label) {
    if (c < 0x20 || c == 0x7f) return Status::InvalidArgument("a token label has no control characters");
  }
  if ((role == Role::kAdmin || role == Role::kAuditor) && !cases.empty()) {
    return Status::InvalidArgument(std::string(RoleName(role)) +
                                   " tokens cover the whole node; --case applies to submitter "
                                   "and reader tokens");
  }
  uint8_t secret[32], id[8];
  RandomBytes(secret, sizeof secret);
  RandomBytes(id, sizeof id);
  NewToken out;
  out.secret = std::string(kTokenPrefix) + ToHex(ByteView(secret, sizeof secret));
  out.info.id = ToHex(ByteView(id, sizeof id));
  out.info.role = role;
  out.info.cases = cases;
  out.info.created_ms = now_ms;
  out.info.label = std::string(label);
  Hash hash = TokenHash(out.secret);
  std::string record = TokenJson(out.info, hash).dump();
  KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kTokens, hash, AsBytes(record)));
    return RecordTokenCustody(txn, now_ms, "token-grant", out.info);
  }));
  return out;
}

bool LooksLikeTokenSecret(std::string_view text) {
  return text.size() == kTokenPrefix.size() + 64 && text.substr(0, kTokenPrefix.size()) == kTokenPrefix;
}

Result<std::string> RevokeTokenBySecret(Store& store, std::string_view secret, int64_t now_ms) {
  if (!LooksLikeTokenSecret(secret)) return Status::InvalidArgument("not a token secret");
  std::string id;
  KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) -> Status {
    Hash hash = TokenHash(secret);
    KH_ASSIGN_OR_RETURN(std::optional<Bytes> stored, txn.Get(Table::kTokens, hash));
    if (!stored) return Status::NotFound("no token of this node has that secret");
    Hash stored_hash;
    KH_ASSIGN_OR_RETURN(TokenInfo info, TokenFromJson(*stored, &stored_hash));
    if (info.revoked) return Status::AlreadyExists("token " + info.id + " is already revoked");
    info.revoked = true;
    id = info.id;
    KH_RETURN_IF_ERROR(txn.Put(Table::kTokens, hash, AsBytes(TokenJson(info, stored_hash).dump())));
    return RecordTokenCustody(txn, now_ms, "token-revoke", info);
  }));
  return id;
}

Result<TokenInfo> Authenticate(const ReadTxn& txn, std::string_view presented) {
  if (presented.size() != kTokenPrefix.size() + 64 ||
      presented.substr(0, kTokenPrefix.size()) != kTokenPrefix) {
    return Status::PermissionDenied(std::string(kDenied));
  }
  // The table is keyed by the token's hash, so the lookup itself reveals nothing about the
  // secret; the stored hash is then compared in constant time as well.
  Hash hash = TokenHash(presented);
  KH_ASSIGN_OR_RETURN(std::optional<Bytes> stored, txn.Get(Table::kTokens, hash));
  if (!stored) return Status::PermissionDenied(std::string(kDenied));
  Hash stored_hash;
  KH_ASSIGN_OR_RETURN(TokenInfo info, TokenFromJson(*stored, &stored_hash));
  if (!ConstantTimeEqual(stored_hash, hash) || info.revoked) {
    return Status::PermissionDenied(std::string(kDenied));
  }
  return info;
}

Result<std::vector<TokenInfo>> ListTokens(const ReadTxn& txn) {
  std::vector<TokenInfo> out;
  KH_RETURN_IF_ERROR(txn.Scan(Table::kTokens, {}, [&](ByteView, ByteView value) -> Result<bool> {
    Hash h;
    KH_ASSIGN_OR_RETURN(TokenInfo t, TokenFromJson(value, &h));
    out.push_back(std::move(t));
    return true;
  }));
  return out;
}

Result<std::vector<TokenInfo>> ListTokens(Store& store) {
  std::vector<TokenInfo> out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(out, ListTokens(txn));
    return Status::Ok();
  }));
  std::sort(out.begin(), out.end(),
            [](const TokenInfo& a, const TokenInfo& b) { return a.created_ms < b.created_ms; });
  return out;
}

Status RevokeToken(Store& store, std::string_view id, int64_t now_ms) {
  return store.Update([&](WriteTxn& txn) -> Status {
    std::optional<Bytes> key;
    TokenInfo found;
    Hash hash{};
    KH_RETURN_IF_ERROR(txn.Scan(Table::kTokens, {}, [&](ByteView k, ByteView value) -> Result<bool> {
      Hash h;
      KH_ASSIGN_OR_RETURN(TokenInfo t, TokenFromJson(value, &h));
      if (t.id != id) return true;
      key = Bytes(k.begin(), k.end());
      found = std::move(t);
      hash = h;
      return false;
    }));
    if (!key) return Status::NotFound("no token with id " + std::string(id));
    if (found.revoked) return Status::AlreadyExists("token " + found.id + " is already revoked");
    found.revoked = true;
    KH_RETURN_IF_ERROR(txn.Put(Table::kTokens, *key, AsBytes(TokenJson(found, hash).dump())));
    return RecordTokenCustody(txn, now_ms, "token-revoke", found);
  });
}

json AccessEventJson(const AccessEvent& e) {
  return {{"time_ms", e.time_ms}, {"token_id", e.token_id}, {"role", RoleName(e.role)},
          {"action", e.action},   {"object", e.object},     {"case", e.case_id}};
}

// The access log is the pending table of custody events (docs/format.md section 7.3): one
// writer and one encoding for both, the log library's.
static CustodyEvent AsCustodyEvent(const AccessEvent& e) {
  return {e.time_ms, e.token_id, RoleName(e.role), e.action, e.object, e.case_id};
}

Bytes EncodeAccessRecord(const AccessEvent& e) { return EncodePendingCustody(AsCustodyEvent(e)); }

Status RecordAccess(WriteTxn& txn, const AccessEvent& e) {
  return AppendPendingCustodyRow(txn, EncodeAccessRecord(e));
}

namespace {

Result<AccessEvent> DecodeAccess(ByteView value) {
  // Trailing spaces (the padding) are whitespace after the JSON value: the parser skips them.
  json j = json::parse(AsChars(value), nullptr, false);
  if (j.is_discarded()) return Status::Corruption("access log record is not JSON");
  try {
    AccessEvent e;
    e.time_ms = j.at("time_ms").get<int64_t>();
    e.token_id = j.at("token_id").get<std::string>();
    KH_ASSIGN_OR_RETURN(e.role, ParseRole(j.at("role").get<std::string>()));
    e.action = j.at("action").get<std::string>();
    e.object = j.at("object").get<std::string>();
    e.case_id = j.at("case").get<std::string>();
    return e;
  } catch (const nlohmann::json::exception& ex) {
    return Status::Corruption(std::string("access log record: ") + ex.what());
  }
}

}  // namespace

Result<std::vector<AccessEvent>> ListAccess(Store& store) {
  std::vector<AccessEvent> out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) {
    return txn.Scan(Table::kAccessLog, {}, [&](ByteView, ByteView value) -> Result<bool> {
      KH_ASSIGN_OR_RETURN(AccessEvent e, DecodeAccess(value));
      out.push_back(std::move(e));
      return true;
    });
  }));
  return out;
}

Result<std::vector<AccessEvent>> ListRecentAccess(Store& store, size_t limit) {
  // Keys are sequence numbers, so the last `limit` keys are the newest. Only the keys are
  // walked (in an encrypted store nothing is decrypted for that), and only those values read.
  std::vector<AccessEvent> out;
  if (limit == 0) return out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    std::deque<Bytes> newest;
    KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kAccessLog, {}, [&](ByteView key) -> Result<bool> {
      if (newest.size() == limit) newest.pop_front();
      newest.emplace_back(key.begin(), key.end());
      return true;
    }));
    for (auto it = newest.rbegin(); it != newest.rend(); ++it) {
      KH_ASSIGN_OR_RETURN(std::optional<Bytes> value, txn.Get(Table::kAccessLog, *it));
      if (!value) return Status::Corruption("an access record vanished while it was read");
      KH_ASSIGN_OR_RETURN(AccessEvent e, DecodeAccess(*value));
      out.push_back(std::move(e));
    }
    return Status::Ok();
  }));
  return out;
}

}  // namespace khronika
