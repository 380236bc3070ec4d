// Bearer tokens, roles, and the access log (the chain of custody of reads).
//
// A token is "khr_" followed by 64 hex characters (256 random bits). It is shown once; the store
// keeps only its SHA-256, which is also the lookup key. Roles:
//   admin      everything
//   submitter  upload chunks and append entries, to its cases
//   reader     entries and file content, of its cases (a lawyer)
//   auditor    records, checkpoints and proofs; never entries' content or files
// A token may be limited to a list of cases; an empty list means every case.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "khronika/store/store.h"

namespace khronika {

enum class Role { kAdmin, kSubmitter, kReader, kAuditor };
const char* RoleName(Role role);
Result<Role> ParseRole(std::string_view name);

struct TokenInfo {
  std::string id;  // 16 hex characters, safe to print and log
  Role role = Role::kReader;
  std::vector<std::string> cases;  // empty: all cases
  int64_t created_ms = 0;
  bool revoked = false;
  std::string label;  // the operator's note ("Lawyer Ivanova, case 17"); may be empty

  bool AllowsCase(std::string_view case_id) const;
};

struct NewToken {
  std::string secret;  // shown once, never stored
  TokenInfo info;
};

// `label`: at most 200 bytes of UTF-8 without control characters. Creating and revoking a token
// put a custody event (`token-grant`, `token-revoke`, by "local", one per case the token covers)
// on record in the same transaction (docs/format.md section 7.3); revoking a revoked token is
// AlreadyExists and records nothing.
Result<NewToken> CreateToken(Store& store, Role role, const std::vector<std::string>& cases,
                             int64_t now_ms, std::string_view label = "");
// Resolves a presented token. Unknown, malformed and revoked tokens are all PermissionDenied
// with the same message, so a caller learns nothing about which it was.
Result<TokenInfo> Authenticate(const ReadTxn& txn, std::string_view presented);
Result<std::vector<TokenInfo>> ListTokens(Store& store);
// Every token in `txn`, in the table's order (by hash).
Result<std::vector<TokenInfo>> ListTokens(const ReadTxn& txn);
Status RevokeToken(Store& store, std::string_view id, int64_t now_ms);
// Revokes the token whose secret is `secret` (khr_...); returns its id. The error never
// repeats the secret.
Result<std::string> RevokeTokenBySecret(Store& store, std::string_view secret, int64_t now_ms);
// True if `text` has the form of a token secret ("khr_" and 64 hex characters).
bool LooksLikeTokenSecret(std::string_view text);

// What the roles may do. Case limits are checked separately with TokenInfo::AllowsCase.
enum class Permission {
  kUpload,       // chunks and entries
  kReadEntries,  // entries and case listings
  kReadContent,  // file bytes
  kReadLog,      // records, checkpoints, proofs
  kReadMetrics,  // /metrics (admin, auditor)
  kAdminister,   // node administration
};
bool RoleAllows(Role role, Permission permission);

struct AccessEvent {
  int64_t time_ms = 0;
  std::string token_id;
  Role role = Role::kReader;
  std::string action;  // "read-content", "export", ...
  std::string object;  // what was read: a manifest id, an entry id
  std::string case_id;
};

// {"time_ms", "token_id", "role", "action", "object", "case"}: the stored record, and what
// `access-log --json` and GET /v1/access-log show.
nlohmann::json AccessEventJson(const AccessEvent& event);

// The access log table (docs/format.md section 12): key = sequence number (u64 BE) in recording
// order; value = the event's JSON padded with spaces to a multiple of kAccessRecordBytes. Every
// event the node records (case id up to 128 bytes, a 64-hex object id, a 16-hex token id, an
// action of up to 16 bytes) fits in one, so on a seized disk every record has the same size and
// the keys carry no time: reads and exports look alike, and only their number shows.
inline constexpr size_t kAccessRecordBytes = 512;
Bytes EncodeAccessRecord(const AccessEvent& event);

// Appends `event` with the next sequence number (AppendPendingCustodyRow, the pending table's one
// writer). Write transactions are serialised, so the number is unique.
Status RecordAccess(WriteTxn& txn, const AccessEvent& event);
// Every event, in recording order (which is time order as far as the clock went forward).
Result<std::vector<AccessEvent>> ListAccess(Store& store);
// The `limit` most recent events, newest first (the console's operator view).
Result<std::vector<AccessEvent>> ListRecentAccess(Store& store, size_t limit);

}  // namespace khronika
