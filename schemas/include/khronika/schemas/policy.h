// C2SP tlog-policy (https://c2sp.org/tlog-policy): which logs and which witnesses' cosignatures
// make a checkpoint trusted, e.g. "2 of these 4 NGOs and 1 of these 2 external witnesses".
// Pure: `khronika policy check` and `verify-bundle --policy` read the file and the note.
//
//   log <vkey> [<url>]                      an origin key (Ed25519, type 0x01)
//   witness <name> <vkey> [<url>]           a cosigner key (cosignature/v1, type 0x04)
//   group <name> all|any|<k> <name>...      witnessed when k of its members are
//   quorum <name>|none                      exactly once
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "khronika/schemas/note.h"

namespace khronika {

// The spec asks for at least 32 of each; these bound the work and the file.
inline constexpr size_t kMaxPolicyBytes = 64 * 1024;
inline constexpr size_t kMaxPolicyLogs = 64;
inline constexpr size_t kMaxPolicyWitnesses = 256;
inline constexpr size_t kMaxPolicyGroups = 256;
inline constexpr size_t kMaxPolicyNameBytes = 256;
inline constexpr size_t kMaxPolicyUrlBytes = 1024;

struct PolicyLog {
  NoteVerifier key;
  std::string url;  // may be empty
  int line = 0;
};

struct PolicyWitness {
  std::string name;  // the policy's name for it (not the key name)
  NoteVerifier key;  // a cosignature/v1 key
  std::string url;
  int line = 0;
};

struct PolicyGroup {
  std::string name;
  size_t threshold = 1;  // k: 1 <= k <= members.size()
  std::vector<std::string> members;  // witnesses and groups defined before it
  int line = 0;
};

struct Policy {
  std::vector<PolicyLog> logs;
  std::vector<PolicyWitness> witnesses;
  std::vector<PolicyGroup> groups;  // in file order: each refers only to earlier names
  std::string quorum;  // a witness, a group, or "none"
};

// Parses a policy file strictly: octets 0x09, 0x0A, 0x20-0x7E, 0x80-0xFF only, every line ending
// in a newline, the limits above. InvalidArgument "line N: ..." for the first thing wrong.
Result<Policy> ParsePolicy(std::string_view text);

// A checkpoint note judged by a policy.
struct PolicyEvaluation {
  std::string origin;          // the checkpoint's origin line ("" if the body did not parse)
  uint64_t size = 0;
  // The key name of the policy log that signed it; "" if none did (a problem, unless the policy
  // lists no log at all: the spec allows that where the log is known from elsewhere).
  std::string log;
  std::vector<std::string> cosigned;  // witness names whose cosignature verified, policy order
  std::map<std::string, bool> witnessed;  // every witness and group: whether it witnessed
  std::vector<std::string> problems;  // why the note is not trusted, one line each
  bool quorum_met = false;
  bool ok() const { return problems.empty() && quorum_met; }
};

// Checks `note` (a signed checkpoint note with cosignature lines) against `policy`: that one of
// its logs signed it (and its key name is the origin line), which witnesses' cosignatures
// verify, and whether the quorum is met. A cosignature line that names a policy witness's key
// but does not verify is a problem (signed-note: a known key's bad signature rejects the note).
PolicyEvaluation EvaluatePolicy(const Policy& policy, std::string_view note);

// "2 of X1 X2 X3", "all of A B": how a group's rule reads in messages.
std::string DescribeGroup(const PolicyGroup& group);

}  // namespace khronika
