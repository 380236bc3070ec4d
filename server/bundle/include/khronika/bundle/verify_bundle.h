// The offline verifier of court bundles (khronika-bundle/2): needs the bundle and nothing else
// (no store, no network, no trust in the node that made it). Every check is one a reader can
// redo with sha256sum, openssl and python3's `cryptography` (docs/lawyer.md part 2,
// docs/tools/check_bundle.sh).
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/policy.h"
#include "khronika/schemas/status.h"

namespace khronika {

struct BundleLogSummary {
  std::string origin;  // hex
  uint64_t checkpoint_size = 0;
  uint64_t records = 0;         // records of the case in this log, in the bundle
  bool origin_trusted = false;  // its key is in the trust file (always false without one)
  std::vector<std::string> cosigners;  // members (hex) whose cosignatures verified
  std::vector<std::string> trusted_cosigners;
  // External C2SP witnesses (key names) whose cosignatures verified under keys/witnesses/.
  std::vector<std::string> external_witnesses;
  // RFC 3161 timestamps (#16) that checked: every record of the log below timestamped_size
  // existed no later than each gen_time.
  struct Timestamp {
    std::string tsa_name;
    std::string gen_time;
    bool ca_given = false;  // checked against --tsa-ca rather than the bundled CA
  };
  uint64_t timestamped_size = 0;
  uint64_t timestamped_records = 0;  // of `records`, those below timestamped_size
  std::vector<Timestamp> timestamps;
};

struct BundleVerification {
  std::string case_id;
  uint64_t records = 0;  // records of the case, each with its link key
  uint64_t entries = 0;  // entries disclosed: opened and their author signature verified
  uint64_t files = 0;    // files disclosed: plaintext checked against descriptor and sealed chunks
  uint64_t bytes = 0;    // their plaintext bytes
  uint64_t custody_events = 0;  // reads and exports of the case, opened from custody records
  std::vector<BundleLogSummary> logs;
  std::vector<std::string> problems;  // "<file>: <what is wrong>", one per failure
  // With a C2SP tlog-policy: each log's checkpoint note (logs/<origin>/checkpoint.note) judged
  // by it. Not among `problems`: the bundle may be sound and the policy still not met.
  struct PolicyVerdict {
    std::string origin;  // hex
    PolicyEvaluation evaluation;
  };
  std::vector<PolicyVerdict> policy;
  bool ok() const { return problems.empty(); }
};

// Keys someone obtained out of band: C2SP verifier keys of origins (type 0x01) and cosigner
// (witness) verifier keys (type 0x04), one per line, '#' comments. InvalidArgument names the line
// of anything else.
struct TrustedKeys {
  std::set<std::pair<std::string, PublicKey>> origins, cosigners;  // (key name, key)
};
Result<TrustedKeys> LoadTrustedKeys(const std::filesystem::path& file);

// Verifies the bundle folder `dir`. `trust_file`, when not empty: C2SP verifier keys (origins)
// and cosigner verifier keys (witnesses) one per line, '#' comments. Every origin must then be
// among them; cosignatures are reported as trusted only for witnesses among them. An error
// status only when the bundle cannot be examined at all (InvalidArgument: not a folder, a bad
// trust file); everything wrong inside the bundle is a line of `problems`.
// `policy`, if given, judges each log's checkpoint note (BundleVerification::policy).
// `tsa_ca`, when not empty: a PEM file of CA certificates that every timestamp token must chain
// to, instead of the CA certificates the bundle carries for it (keys/tsa/).
Result<BundleVerification> VerifyBundle(const std::filesystem::path& dir,
                                        const std::filesystem::path& trust_file = {},
                                        const Policy* policy = nullptr,
                                        const std::filesystem::path& tsa_ca = {});

// The same for a bundle folder or a bundle .tar: a .tar is unpacked (BundleTarExtractor, so
// nothing outside the bundle's grammar is written) into a fresh private folder under the system's
// temporary folder, verified there, and removed. A .tar that cannot be unpacked is
// InvalidArgument naming what is wrong with it.
Result<BundleVerification> VerifyBundleFile(const std::filesystem::path& path,
                                            const std::filesystem::path& trust_file = {},
                                            const Policy* policy = nullptr,
                                            const std::filesystem::path& tsa_ca = {});

}  // namespace khronika
