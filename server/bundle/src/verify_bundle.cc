#include "khronika/bundle/verify_bundle.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "khronika/bundle/bundle.h"
#include "khronika/bundle/bundle_paths.h"
#include "khronika/log/log.h"
#include "khronika/schemas/chain_checker.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/schemas/sealing.h"
#include "khronika/store/files.h"
#include "khronika/timestamp/rfc3161.h"

#include <openssl/crypto.h>
#include "report.h"

namespace khronika {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Sealed entries (at most kMaxObjectBytes), proofs, notes, MANIFEST.sha256.
constexpr size_t kMaxSmallFile = 64 << 20;

struct FileFacts {
  uint64_t size = 0;
  Hash sha256{};
};

Result<FileFacts> HashFile(const fs::path& path) {
  KH_ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFile(path));
  FileFacts facts;
  Sha256Stream whole;
  Bytes buf(kChunkSize);
  while (true) {
    size_t filled = 0;
    while (filled < buf.size()) {
      KH_ASSIGN_OR_RETURN(size_t n, ReadUpTo(fd.get(), buf.data() + filled, buf.size() - filled, path.string()));
      if (n == 0) break;
      filled += n;
    }
    if (filled == 0) break;
    ByteView piece(buf.data(), filled);
    whole.Update(piece);
    facts.size += filled;
    if (filled < buf.size()) break;
  }
  facts.sha256 = whole.Finish();
  return facts;
}

// A key file of the bundle: 64 lowercase hex digits and a newline.
std::optional<SymmetricKey> ParseKeyText(const std::string& text) {
  if (text.size() != 65 || text.back() != '\n') return std::nullopt;
  auto h = ParseHashHex(text.substr(0, 64));
  if (!h.ok() || ToHex(*h) != text.substr(0, 64)) return std::nullopt;
  SymmetricKey k;
  std::copy(h->begin(), h->end(), k.begin());
  return k;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Result<TrustedKeys> LoadTrustedKeys(const fs::path& file) {
  TrustedKeys t;
  KH_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(file, 1 << 20));
  size_t start = 0, line_no = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = Trim(text.substr(start, end - start));
    start = end + 1;
    ++line_no;
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    line = line.substr(first);
    if (auto v = ParseVerifierKey(line); v.ok()) {
      t.origins.insert({v->name, v->key});
    } else if (auto c = ParseCosignerVerifierKey(line); c.ok()) {
      t.cosigners.insert({c->name, c->key});
    } else {
      return Status::InvalidArgument(file.string() + " line " + std::to_string(line_no) +
                                     ": not a verifier key: " + v.status().message());
    }
  }
  return t;
}

namespace {

struct TrustSet : TrustedKeys {
  bool given = false;
};

Result<TrustSet> LoadTrust(const fs::path& file) {
  TrustSet t;
  if (file.empty()) return t;
  KH_ASSIGN_OR_RETURN(TrustedKeys keys, LoadTrustedKeys(file));
  t.origins = std::move(keys.origins);
  t.cosigners = std::move(keys.cosigners);
  t.given = true;
  return t;
}

class Verifier {
 public:
  Verifier(fs::path dir, TrustSet trust, const Policy* policy, std::optional<std::string> tsa_ca)
      : dir_(std::move(dir)), trust_(std::move(trust)), policy_(policy), tsa_ca_(std::move(tsa_ca)) {}

  BundleVerification Run() {
    Walk();
    CheckManifestFile();
    LoadIndex();
    LoadKeys();
    std::map<std::string, std::vector<std::string>> by_origin;  // origin hex -> index folders
    for (const std::string& f : files_) {
      if (f.rfind("records/", 0) != 0) continue;
      std::string origin = f.substr(8, 64), index = f.substr(73, 20);
      auto& v = by_origin[origin];
      if (v.empty() || v.back() != index) v.push_back(index);
    }
    // A case belongs to the one log that created it: entries that another node logged under the
    // same case id are not part of it, however well they verify on their own.
    if (by_origin.size() > 1) {
      Problem("records/", "holds records of " + std::to_string(by_origin.size()) +
                              " logs: a case belongs to the one log that created it, so a bundle "
                              "of a case holds that log's records only");
    }
    for (auto& [origin, indexes] : by_origin) {
      std::sort(indexes.begin(), indexes.end());
      indexes.erase(std::unique(indexes.begin(), indexes.end()), indexes.end());
      CheckLog(origin, indexes);
    }
    // Custody records (section 17.7): of the one log, each proven into its checkpoint.
    std::map<std::string, std::vector<std::string>> custody;  // origin hex -> index folders
    for (const std::string& f : files_) {
      if (f.rfind("custody/", 0) != 0) continue;
      auto& v = custody[f.substr(8, 64)];
      std::string index = f.substr(73, 20);
      if (v.empty() || v.back() != index) v.push_back(index);
    }
    for (auto& [origin, indexes] : custody) {
      std::sort(indexes.begin(), indexes.end());
      indexes.erase(std::unique(indexes.begin(), indexes.end()), indexes.end());
      auto cp = checkpoints_.find(origin);
      if (!by_origin.count(origin) || cp == checkpoints_.end()) {
        Problem("custody/" + origin + "/", "custody records of a log whose records and checkpoint "
                                           "are not (or not verified) in the bundle");
        continue;
      }
      for (const std::string& index : indexes) CheckCustody(origin, index, cp->second);
    }
    for (const std::string& f : files_) {  // checkpoints of logs without entries here
      if (f.rfind("logs/", 0) == 0 && !by_origin.count(f.substr(5, 64))) {
        Problem(f, "a checkpoint of a log that has no record in the bundle");
      }
    }
    if (out_.problems.empty()) CheckStatements();
    if (by_origin.empty()) Problem("records/", "missing: the bundle holds no record");
    out_.case_id = claims_ ? claims_->case_id : "";
    out_.records = facts_.entries.size();
    return std::move(out_);
  }

 private:
  // One line per problem, whatever bytes a hostile file name holds.
  void Problem(const std::string& file, const std::string& what) {
    std::string line;
    for (char c : file + ": " + what) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\x%02x", u);
        line += esc;
      } else {
        line += c;
      }
    }
    out_.problems.push_back(std::move(line));
  }

  Result<std::string> Small(const std::string& rel) {
    if (!files_.count(rel)) return Status::NotFound("missing");
    return ReadSmallFile(dir_ / rel, kMaxSmallFile);
  }

  std::string SmallOrEmpty(const std::string& rel) {
    auto text = Small(rel);
    return text.ok() ? std::move(*text) : std::string();
  }

  void Walk() {
    std::error_code ec;
    fs::recursive_directory_iterator it(dir_, fs::directory_options::none, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      std::string rel = it->path().lexically_relative(dir_).generic_string();
      auto st = it->symlink_status(ec);
      if (ec) break;
      if (fs::is_symlink(st)) {
        Problem(rel, "is a link; a bundle holds only plain files");
      } else if (fs::is_directory(st)) {
        if (!bundle_paths::IsBundleFolder(rel)) {
          Problem(rel, "unexpected folder (not part of a Khronika bundle)");
          it.disable_recursion_pending();
        }
      } else if (!fs::is_regular_file(st)) {
        Problem(rel, "not a regular file");
      } else if (!bundle_paths::IsBundleFile(rel)) {
        Problem(rel, "unexpected file (not part of a Khronika bundle)");
      } else {
        files_.insert(rel);
      }
    }
    if (ec) Problem(dir_.string(), "cannot be read: " + ec.message());
  }

  void CheckManifestFile() {
    const std::string m(bundle_paths::kManifest);
    auto text = Small(m);
    if (!text.ok()) return Problem(m, "missing or unreadable");
    std::set<std::string> listed;
    size_t start = 0;
    while (start < text->size()) {
      size_t end = text->find('\n', start);
      if (end == std::string::npos) return Problem(m, "the last line has no newline");
      std::string line = text->substr(start, end - start);
      start = end + 1;
      auto hash = line.size() > 66 ? ParseHashHex(line.substr(0, 64)) : Result<Hash>(Status::InvalidArgument(""));
      std::string path = line.size() > 66 ? line.substr(66) : "";
      if (!hash.ok() || line.substr(64, 2) != "  " || !bundle_paths::IsBundleFile(path) || path == m) {
        Problem(m, "malformed line: " + report::MarkdownText(line.substr(0, 120)));
        continue;
      }
      if (!listed.insert(path).second) Problem(m, "lists " + path + " twice");
      if (!files_.count(path)) {
        Problem(path, "listed in MANIFEST.sha256 but missing");
        continue;
      }
      auto facts = HashFile(dir_ / path);
      if (!facts.ok()) {
        Problem(path, "cannot be read: " + facts.status().message());
        continue;
      }
      if (facts->sha256 != *hash) Problem(path, "its SHA-256 differs from MANIFEST.sha256");
      hashed_[path] = std::move(*facts);
    }
    for (const std::string& f : files_) {
      if (f != m && !listed.count(f)) Problem(f, "not listed in MANIFEST.sha256");
    }
  }

  void LoadIndex() {
    const std::string i(bundle_paths::kIndex);
    auto text = Small(i);
    if (!text.ok()) return Problem(i, "missing or unreadable");
    auto claims = report::ClaimsFromIndex(*text);
    if (!claims.ok()) return Problem(i, claims.status().message());
    claims_ = std::move(*claims);
  }

  void LoadKeys() {
    for (const std::string& f : files_) {
      // keys/tsa/ belongs to CheckTimestamps.
      if (f.rfind("keys/", 0) != 0 || f.rfind("keys/tsa/", 0) == 0) continue;
      std::string hex = f.substr(f.rfind('/') + 1, 64);
      auto text = Small(f);
      if (!text.ok()) {
        Problem(f, "cannot be read");
        continue;
      }
      if (f.rfind("keys/authors/", 0) == 0) {
        auto key = ParsePublicKey(*text);
        if (!key.ok() || ToHex(*key) != hex) {
          Problem(f, "is not the Ed25519 public key its name says");
          continue;
        }
        authors_.insert(hex);
      } else if (f.rfind("keys/origins/", 0) == 0) {
        auto v = ParseVerifierKey(Trim(*text));
        if (!v.ok() || v->name != "khronika/" + hex || ToHex(NodeIdFromPublicKey(v->key)) != hex) {
          Problem(f, "is not the verifier key of node " + hex + " (a node id is the SHA-256 of its key)");
          continue;
        }
        origins_[hex] = *v;
      } else if (f.rfind("keys/witnesses/", 0) == 0) {
        const std::string vkey(Trim(*text));
        auto v = ParseCosignerVerifierKey(vkey);
        if (!v.ok() || bundle_paths::ExternalWitnessKey(vkey) != f) {
          Problem(f, "is not a witness verifier key whose SHA-256 is its name");
          continue;
        }
        external_[v->name] = {*v, vkey};
      } else {
        auto v = ParseCosignerVerifierKey(Trim(*text));
        if (!v.ok() || !WitnessOwner(v->name) || ToHex(*WitnessOwner(v->name)) != hex) {
          Problem(f, "is not a cosigner (witness) verifier key of node " + hex);
          continue;
        }
        cosigners_[hex] = *v;
      }
    }
  }

  void CheckLog(const std::string& origin_hex, const std::vector<std::string>& indexes) {
    const std::string cp_path = "logs/" + origin_hex + "/checkpoint.note";
    const std::string key_path = "keys/origins/" + origin_hex + ".vkey";
    auto origin_it = origins_.find(origin_hex);
    if (origin_it == origins_.end()) {
      return Problem(key_path, "missing: the log's checkpoint cannot be checked");
    }
    auto text = Small(cp_path);
    if (!text.ok()) return Problem(cp_path, "missing: the log's records cannot be tied to a signed checkpoint");
    if (policy_) out_.policy.push_back({origin_hex, EvaluatePolicy(*policy_, *text)});
    auto note = ParseSignedNote(*text);
    if (!note.ok()) return Problem(cp_path, "not a signed note: " + note.status().message());
    if (!NoteSignedBy(*note, origin_it->second)) {
      return Problem(cp_path, "not signed by the log's origin (" + key_path + ")");
    }
    auto body = ParseCheckpointBody(note->text);
    if (!body.ok() || body->origin != "khronika/" + origin_hex) {
      return Problem(cp_path, "not a checkpoint of log " + origin_hex);
    }
    checkpoints_[origin_hex] = *body;
    report::ReportLog log;
    log.origin = NodeIdFromPublicKey(origin_it->second.key);
    log.checkpoint_size = body->size;
    BundleLogSummary summary;
    summary.origin = origin_hex;
    summary.checkpoint_size = body->size;
    summary.origin_trusted = trust_.origins.count({origin_it->second.name, origin_it->second.key}) > 0;
    if (trust_.given && !summary.origin_trusted) {
      Problem(key_path, "this origin key is not in the trust file");
    }
    for (const NoteSignatureLine& line : note->signatures) {
      if (line.name == origin_it->second.name) continue;
      if (auto w = external_.find(line.name); w != external_.end()) {  // no member: keys/witnesses/
        auto ts = VerifyCosignature(note->text, line, w->second.first);
        if (!ts) {
          Problem(cp_path, "the cosignature by external witness '" +
                               report::MarkdownText(line.name) + "' does not verify");
          continue;
        }
        log.external.push_back({line.name, w->second.second, *ts});
        summary.external_witnesses.push_back(line.name);
        continue;
      }
      auto owner = WitnessOwner(line.name);
      std::string member = owner ? ToHex(*owner) : "";
      auto c = cosigners_.find(member);
      if (member == origin_hex || c == cosigners_.end()) {
        Problem(cp_path, "signature by '" + report::MarkdownText(line.name) + "' has no key in keys/cosigners/");
        continue;
      }
      auto ts = VerifyCosignature(note->text, line, c->second);
      if (!ts) {
        Problem(cp_path, "the cosignature by " + member + " does not verify");
        continue;
      }
      log.cosigners.push_back({ParseHashHex(member).value(), *ts});  // a checked file name
      summary.cosigners.push_back(member);
      if (trust_.cosigners.count({c->second.name, c->second.key})) summary.trusted_cosigners.push_back(member);
    }
    std::sort(log.cosigners.begin(), log.cosigners.end(),
              [](const auto& a, const auto& b) { return a.member < b.member; });
    CheckTimestamps(origin_hex, origin_it->second, *body, log, summary);

    // The case's records in this log, each at its index: the ones between them are of other cases
    // (a case chain that skips one of them names the missing record).
    ChainChecker chain(log.origin);
    for (const std::string& index_text : indexes) {
      uint64_t index = std::stoull(index_text);
      const std::string dir = "records/" + origin_hex + "/" + index_text + "/";
      auto entry = CheckRecord(dir, index, *body, chain, &index_text == &indexes.front());
      if (!entry) continue;
      summary.records += 1;
      if (index < summary.timestamped_size) summary.timestamped_records += 1;
      facts_.entries.push_back(std::move(*entry));
    }
    facts_.logs.push_back(std::move(log));
    out_.logs.push_back(std::move(summary));
  }

  // RFC 3161 timestamps (#16, format.md section 17.6): the timestamped checkpoint is signed by
  // the origin and consistent with the bundle's checkpoint `cp`; each token is over its body and
  // chains, at its own time, to the bundled CA of its TSA (or to --tsa-ca).
  void CheckTimestamps(const std::string& origin_hex, const NoteVerifier& origin_key,
                       const Checkpoint& cp, report::ReportLog& log, BundleLogSummary& summary) {
    const std::string prefix = "logs/" + origin_hex + "/";
    const std::string note_path = prefix + "timestamped.note";
    const std::string proof_path = prefix + "timestamped.consistency.json";
    std::vector<std::string> tokens;
    for (const std::string& f : files_) {
      if (f.rfind(prefix + "timestamps/", 0) == 0) tokens.push_back(f);
    }
    const bool has_note = files_.count(note_path) > 0;
    if (!has_note) {
      for (const std::string& t : tokens) Problem(t, "a token without " + note_path);
      if (files_.count(proof_path)) Problem(proof_path, "a proof without " + note_path);
      for (const std::string& f : files_) {
        if (f.rfind("keys/tsa/", 0) == 0) Problem(f, "a TSA certificate without a timestamp");
      }
      return;
    }
    if (tokens.empty()) return Problem(note_path, "a timestamped checkpoint without a token");
    auto text = Small(note_path);
    if (!text.ok()) return Problem(note_path, "cannot be read");
    auto note = ParseSignedNote(*text);
    if (!note.ok()) return Problem(note_path, "not a signed note: " + note.status().message());
    if (!NoteSignedBy(*note, origin_key)) {
      return Problem(note_path, "not signed by the log's origin");
    }
    auto body = ParseCheckpointBody(note->text);
    if (!body.ok() || body->origin != "khronika/" + origin_hex) {
      return Problem(note_path, "not a checkpoint of log " + origin_hex);
    }
    if (body->size == cp.size) {
      if (body->root != cp.root) {
        return Problem(note_path, "differs from checkpoint.note at the same size");
      }
      if (files_.count(proof_path)) Problem(proof_path, "a proof between two equal checkpoints");
    } else {
      auto proof_text = Small(proof_path);
      if (!proof_text.ok()) {
        return Problem(proof_path, "missing: the two checkpoints cannot be tied");
      }
      json j = json::parse(*proof_text, nullptr, false);
      const bool older = body->size < cp.size;
      const Checkpoint& lo = older ? *body : cp;
      const Checkpoint& hi = older ? cp : *body;
      try {
        std::vector<Hash> proof;
        for (const auto& h : j.at("proof")) {
          auto x = ParseHashHex(h.get<std::string>());
          if (!x.ok()) return Problem(proof_path, "malformed");
          proof.push_back(*x);
        }
        if (j.at("origin").get<std::string>() != origin_hex ||
            j.at("from").get<uint64_t>() != lo.size || j.at("to").get<uint64_t>() != hi.size ||
            j.at("old_root").get<std::string>() != ToHex(lo.root) ||
            j.at("new_root").get<std::string>() != ToHex(hi.root) ||
            !VerifyConsistency(lo.size, hi.size, lo.root, hi.root, proof)) {
          return Problem(proof_path, "does not prove the timestamped checkpoint consistent with "
                                     "checkpoint.note");
        }
      } catch (const json::exception&) {
        return Problem(proof_path, "malformed");
      }
    }
    std::set<std::string> cas_used;
    for (const std::string& path : tokens) {
      const std::string hex = path.substr(path.rfind('/') + 1, 64);
      const std::string ca_path = "keys/tsa/" + hex + ".pem";
      auto token = Small(path);
      if (!token.ok()) {
        Problem(path, "cannot be read");
        continue;
      }
      std::string ca;
      if (tsa_ca_) {
        ca = *tsa_ca_;
      } else {
        auto bundled = Small(ca_path);
        if (!bundled.ok()) {
          Problem(ca_path, "missing: the token of " + path + " cannot be checked");
          continue;
        }
        ca = std::move(*bundled);
      }
      cas_used.insert(ca_path);
      auto checked = VerifyTimestampToken(AsBytes(*token), note->text, ca);
      if (!checked.ok()) {
        Problem(path, checked.status().message());
        continue;
      }
      if (ToHex(checked->tsa_cert_sha256) != hex) {
        Problem(path, "is named after another TSA certificate than the one that signed it");
        continue;
      }
      log.timestamps.push_back({checked->tsa_cert_sha256, checked->tsa_name, checked->gen_time});
      summary.timestamps.push_back({checked->tsa_name, checked->gen_time, tsa_ca_.has_value()});
    }
    for (const std::string& f : files_) {
      if (f.rfind("keys/tsa/", 0) == 0 && !cas_used.count(f)) Problem(f, "belongs to no token");
    }
    std::sort(log.timestamps.begin(), log.timestamps.end(),
              [](const auto& a, const auto& b) { return a.tsa_cert < b.tsa_cert; });
    if (!log.timestamps.empty()) {
      log.timestamped_size = body->size;
      summary.timestamped_size = body->size;
    }
  }

  // The folder `dir` of record `index`, checked as the next record of the case in `chain`: its
  // sealed entry and link key (every record), then what it discloses.
  std::optional<report::ReportEntry> CheckRecord(const std::string& dir, uint64_t index,
                                                 const Checkpoint& cp, ChainChecker& chain,
                                                 bool first_of_case) {
    auto record_bytes = Small(dir + "record.bin");
    if (!record_bytes.ok()) return Problem(dir + "record.bin", "missing"), std::nullopt;
    if (Status st = chain.SkipTo(index); !st.ok()) return Problem(dir, st.message()), std::nullopt;
    std::optional<SealedEntry> sealed;
    std::vector<std::pair<std::string, std::string>> sealed_problems;  // named after the record's
    auto checked = chain.Append(AsBytes(*record_bytes), [&](const Record& rec) -> Result<std::optional<CaseLink>> {
      sealed = ReadSealedEntry(dir, rec, sealed_problems);
      if (!sealed) return std::optional<CaseLink>();
      auto link = OpenLink(dir, *sealed, sealed_problems);
      if (!link) return std::optional<CaseLink>();
      return std::optional<CaseLink>(CaseLink{claims_ ? claims_->case_id : "", *link});
    });
    if (!checked.ok()) return Problem(dir + "record.bin", checked.status().message()), std::nullopt;
    bool other_record = false;  // the bytes are not record `index` of this log
    for (const ChainProblem& p : checked->problems) {
      if (p.rule != ChainRule::kCaseChain) {
        other_record = other_record || p.rule != ChainRule::kHashChain;
        Problem(dir + "record.bin", p.what);
      } else if (first_of_case) {
        Problem(dir + "link.key", "the link box names an earlier record of the case in this log, "
                                  "which is missing from the bundle");
      } else {
        Problem(dir + "link.key", "the link box does not name the case's previous record in the "
                                  "bundle (a record of the case is missing, or this is not one)");
      }
    }
    if (other_record) return std::nullopt;
    const Record& record = *checked->record;
    if (SmallOrEmpty(dir + "record.json") != JsonFileText(ToJson(record))) {
      Problem(dir + "record.json", "does not match record.bin");
    }
    for (const auto& [file, what] : sealed_problems) Problem(file, what);
    CheckProof(dir, record, AsBytes(*record_bytes), cp, chain.origin());
    if (!sealed) return std::nullopt;

    report::ReportEntry re;
    re.record = record;
    re.entry_id = record.object_id;
    re.file_count = sealed->files.size();
    std::set<std::string> expected = {"record.bin", "record.json", "sealed_entry.bin", "proof.json",
                                      "link.key"};
    if (files_.count(dir + "entry.key")) {
      CheckDisclosedEntry(dir, *sealed, re, expected);
    }
    for (auto it = files_.lower_bound(dir); it != files_.end() && it->rfind(dir, 0) == 0; ++it) {
      if (expected.count(it->substr(dir.size()))) continue;
      if (!re.entry && it->rfind(dir + "files/", 0) == 0) {
        Problem(*it, "a file disclosed without its entry (entry.key, entry.bin): it cannot be "
                     "tied to its author's signature");
      } else {
        Problem(*it, "unexpected file in the record's folder");
      }
    }
    return re;
  }

  // The custody record `index` of log `origin_hex` (section 17.7): record.bin is that record,
  // custody_record.bin the object it names and decodes, proof.json leads to the checkpoint, and
  // each events/<slot>.key opens its slot to an event of the bundle's case that
  // events/<slot>.json renders.
  void CheckCustody(const std::string& origin_hex, const std::string& index_text,
                    const Checkpoint& cp) {
    const std::string dir = "custody/" + origin_hex + "/" + index_text + "/";
    const uint64_t index = std::stoull(index_text);
    auto record_bytes = Small(dir + "record.bin");
    if (!record_bytes.ok()) return Problem(dir + "record.bin", "missing");
    auto record = DecodeRecord(AsBytes(*record_bytes));
    if (!record.ok()) return Problem(dir + "record.bin", record.status().message());
    if (ToHex(record->origin) != origin_hex || record->index != index) {
      return Problem(dir + "record.bin", "is not record " + std::to_string(index) +
                                             " of log " + origin_hex);
    }
    auto object = Small(dir + "custody_record.bin");
    if (!object.ok()) return Problem(dir + "custody_record.bin", "missing");
    if (ObjectId(AsBytes(*object)) != record->object_id) {
      return Problem(dir + "custody_record.bin", "its SHA-256 is not the object id in record.bin");
    }
    auto custody = DecodeCustodyRecord(AsBytes(*object));
    if (!custody.ok()) return Problem(dir + "custody_record.bin", custody.status().message());
    CheckProof(dir, *record, AsBytes(*record_bytes), cp, record->origin);
    report::ReportCustody rc;
    rc.record = *record;
    std::set<std::string> expected = {"record.bin", "custody_record.bin", "proof.json"};
    for (auto it = files_.lower_bound(dir + "events/"); it != files_.end() &&
                                                         it->rfind(dir + "events/", 0) == 0;
         ++it) {
      std::string name = it->substr(dir.size() + 7);
      if (name.size() < 5 || name.substr(name.size() - 4) != ".key") continue;
      const std::string slot_text = name.substr(0, name.size() - 4);
      const uint32_t slot = static_cast<uint32_t>(std::stoul(slot_text));  // a checked path
      const std::string key_file = dir + "events/" + slot_text + ".key";
      const std::string view_file = dir + "events/" + slot_text + ".json";
      expected.insert("events/" + slot_text + ".key");
      expected.insert("events/" + slot_text + ".json");
      auto key = ParseKeyText(SmallOrEmpty(key_file));
      if (!key) {
        Problem(key_file, "not a key (64 lowercase hex digits and a newline)");
        continue;
      }
      auto event = OpenCustodySlot(*custody, slot, *key);
      OPENSSL_cleanse(key->data(), key->size());
      if (!event.ok() || !event->has_value()) {
        Problem(key_file, "does not open an event in slot " + slot_text + " of the custody record");
        continue;
      }
      if (claims_ && (*event)->case_id != claims_->case_id) {
        Problem(key_file, "opens an event of another case");
        continue;
      }
      if (SmallOrEmpty(view_file) != JsonFileText(CustodyEventJson(**event))) {
        Problem(view_file, "does not match the event its key opens");
      }
      rc.events.emplace_back(slot, std::move(**event));
    }
    for (auto it = files_.lower_bound(dir); it != files_.end() && it->rfind(dir, 0) == 0; ++it) {
      if (!expected.count(it->substr(dir.size()))) {
        Problem(*it, "unexpected file in the custody record's folder");
      }
    }
    if (rc.events.empty()) return Problem(dir, "a custody record without an event of the case");
    out_.custody_events += rc.events.size();
    facts_.custody.push_back(std::move(rc));
  }

  // sealed_entry.bin of `dir`, if it is the object `rec` names and decodes as a sealed entry
  // (what a partner checks without keys).
  std::optional<SealedEntry> ReadSealedEntry(const std::string& dir, const Record& rec,
                                             std::vector<std::pair<std::string, std::string>>& problems) {
    const std::string file = dir + "sealed_entry.bin";
    auto bytes = Small(file);
    if (!bytes.ok()) return problems.emplace_back(file, "missing"), std::nullopt;
    if (ObjectId(AsBytes(*bytes)) != rec.object_id) {
      return problems.emplace_back(file, "its SHA-256 is not the object id in record.bin"), std::nullopt;
    }
    auto sealed = DecodeSealedEntry(AsBytes(*bytes));
    if (!sealed.ok()) return problems.emplace_back(file, sealed.status().message()), std::nullopt;
    return std::move(*sealed);
  }

  // The previous record of the case, as the link box says under link.key.
  std::optional<Hash> OpenLink(const std::string& dir, const SealedEntry& sealed,
                               std::vector<std::pair<std::string, std::string>>& problems) {
    const std::string file = dir + "link.key";
    auto text = Small(file);
    if (!text.ok()) return problems.emplace_back(file, "missing: the case chain cannot be checked"), std::nullopt;
    auto key = ParseKeyText(*text);
    if (!key) return problems.emplace_back(file, "not a key (64 lowercase hex digits and a newline)"), std::nullopt;
    auto link = OpenLinkBox(*key, sealed);
    OPENSSL_cleanse(key->data(), key->size());
    if (!link.ok()) return problems.emplace_back(file, "does not open the sealed entry's link box"), std::nullopt;
    return *link;
  }

  // A disclosed entry: entry.key opens the entry box to exactly entry.bin, which its author
  // signed; then its disclosed files.
  void CheckDisclosedEntry(const std::string& dir, const SealedEntry& sealed, report::ReportEntry& re,
                           std::set<std::string>& expected) {
    expected.insert({"entry.key", "entry.bin", "entry.json"});
    auto key = ParseKeyText(SmallOrEmpty(dir + "entry.key"));
    if (!key) return Problem(dir + "entry.key", "not a key (64 lowercase hex digits and a newline)");
    auto box = BoxOpen(*key, kEntryBoxLabel, sealed.entry_box);
    if (!box.ok()) return Problem(dir + "entry.key", "does not open the sealed entry's entry box");
    OPENSSL_cleanse(box->data(), box->size());
    auto entry = OpenEntryBox(*key, sealed);
    OPENSSL_cleanse(key->data(), key->size());
    if (!entry.ok()) return Problem(dir + "sealed_entry.bin", "the entry box: " + entry.status().message());
    auto bytes = Small(dir + "entry.bin");
    if (!bytes.ok()) return Problem(dir + "entry.bin", "missing");
    if (AsBytes(*bytes).size() != Encode(*entry).size() ||
        !std::equal(AsBytes(*bytes).begin(), AsBytes(*bytes).end(), Encode(*entry).begin())) {
      return Problem(dir + "entry.bin", "is not the signed entry that entry.key opens in the sealed entry");
    }
    if (SmallOrEmpty(dir + "entry.json") != JsonFileText(ToJson(*entry))) {
      Problem(dir + "entry.json", "does not match entry.bin");
    }
    if (claims_ && entry->case_id != claims_->case_id) {
      Problem(dir + "entry.bin", "its author signed it for another case than the bundle's");
    }
    if (!authors_.count(ToHex(entry->author))) {
      Problem("keys/authors/" + ToHex(entry->author) + ".pem", "missing: the author of " + dir + " has no key here");
    }
    out_.entries += 1;
    for (uint32_t n = 0; n < sealed.files.size(); ++n) {
      const std::string fdir = dir + bundle_paths::FileDir(n) + "/";
      if (!files_.count(fdir + "file.key")) continue;
      auto descriptor = CheckDisclosedFile(fdir, sealed, *entry, n, expected, dir);
      if (descriptor) re.files.push_back({n, std::move(*descriptor)});
    }
    re.entry = std::move(*entry);
  }

  // A disclosed file: file.key opens its descriptor box to descriptor.bin and salt.hex, which
  // match the author's signed commitment; its sealed chunks are the ones the sealed entry names;
  // the key decrypts them to exactly the plaintext file, which has the descriptor's SHA-256.
  std::optional<FileDescriptor> CheckDisclosedFile(const std::string& fdir, const SealedEntry& sealed,
                                                   const SignedEntry& entry, uint32_t n,
                                                   std::set<std::string>& expected, const std::string& dir) {
    const std::string rel = fdir.substr(dir.size());
    for (const char* f : {"file.key", "salt.hex", "descriptor.bin", "descriptor.json"}) expected.insert(rel + f);
    auto key = ParseKeyText(SmallOrEmpty(fdir + "file.key"));
    if (!key) return Problem(fdir + "file.key", "not a key (64 lowercase hex digits and a newline)"), std::nullopt;
    auto opening = OpenDescriptorBox(*key, sealed, entry, n);
    if (!opening.ok()) {
      OPENSSL_cleanse(key->data(), key->size());
      return Problem(fdir + "file.key", "does not open the descriptor box of file " + std::to_string(n) +
                                            " to the descriptor its author committed to: " +
                                            opening.status().message()),
             std::nullopt;
    }
    const FileDescriptor& d = opening->descriptor;
    std::string descriptor_bytes = SmallOrEmpty(fdir + "descriptor.bin");
    Bytes encoded = Encode(d);
    if (descriptor_bytes != std::string(AsChars(encoded))) {
      Problem(fdir + "descriptor.bin", "is not the descriptor in the descriptor box");
    }
    if (SmallOrEmpty(fdir + "salt.hex") != ToHex(opening->salt) + "\n") {
      Problem(fdir + "salt.hex", "is not the salt in the descriptor box");
    }
    if (SmallOrEmpty(fdir + "descriptor.json") != JsonFileText(ToJson(d))) {
      Problem(fdir + "descriptor.json", "does not match descriptor.bin");
    }
    const SealedFile& sf = sealed.files[n];
    const std::string content = bundle_paths::Content(n, d.media_type);
    expected.insert(content);
    for (uint64_t k = 0; k < sf.chunks.size(); ++k) expected.insert(bundle_paths::SealedChunk(n, k));
    CheckContent(dir, n, sf, d, *key);
    OPENSSL_cleanse(key->data(), key->size());
    return d;
  }

  // The sealed chunks of file n against the sealed entry, and the plaintext against them.
  void CheckContent(const std::string& dir, uint32_t n, const SealedFile& sf, const FileDescriptor& d,
                    const SymmetricKey& key) {
    const std::string content = dir + bundle_paths::Content(n, d.media_type);
    if (SealedFileSize(d.size) != sf.sealed_size) {
      return Problem(dir + "sealed_entry.bin", "file " + std::to_string(n) +
                                                   ": the sealed size does not fit the signed size");
    }
    bool chunks_ok = true;
    for (uint64_t k = 0; k < sf.chunks.size(); ++k) {
      const std::string path = dir + bundle_paths::SealedChunk(n, k);
      auto it = hashed_.find(path);
      if (!files_.count(path)) {
        Problem(path, "missing: sealed chunk " + std::to_string(k) + " of the file");
        chunks_ok = false;
      } else if (it == hashed_.end()) {
        chunks_ok = false;  // not listed in MANIFEST.sha256: already a problem
      } else if (it->second.sha256 != sf.chunks[k] || it->second.size != SealedChunkLength(sf.sealed_size, k)) {
        Problem(path, "is not sealed chunk " + std::to_string(k) + " as the sealed entry names it");
        chunks_ok = false;
      }
    }
    auto it = hashed_.find(content);
    if (!files_.count(content)) return Problem(content, "missing");
    if (it == hashed_.end()) return;
    if (it->second.size != d.size || it->second.sha256 != d.content_sha256) {
      return Problem(content, "does not match its signed descriptor (size or SHA-256)");
    }
    if (!chunks_ok) return;
    if (Status st = DecryptAndCompare(dir, n, sf, d, key, content); !st.ok()) {
      return Problem(content, st.message());
    }
    out_.files += 1;
    out_.bytes += d.size;
  }

  // Decrypts the sealed chunk files (C2SP chunked encryption under the file key) and compares
  // the plaintext with the content file, byte for byte, the padding included (zero bytes).
  Status DecryptAndCompare(const std::string& dir, uint32_t n, const SealedFile& sf,
                           const FileDescriptor& d, const SymmetricKey& key, const std::string& content) {
    const uint64_t padded = PaddedFileSize(d.size);
    KH_ASSIGN_OR_RETURN(UniqueFd plain_fd, OpenRegularFile(dir_ / content));
    Bytes sealed_buf;
    size_t consumed = 0;
    uint64_t next_chunk_file = 0;
    auto need = [&](size_t want) -> Status {
      while (sealed_buf.size() - consumed < want) {
        if (next_chunk_file == sf.chunks.size()) return Status::Corruption("the sealed chunks end early");
        if (consumed > 0) {
          sealed_buf.erase(sealed_buf.begin(), sealed_buf.begin() + static_cast<ptrdiff_t>(consumed));
          consumed = 0;
        }
        const std::string path = dir + bundle_paths::SealedChunk(n, next_chunk_file++);
        KH_ASSIGN_OR_RETURN(std::string bytes, ReadSmallFile(dir_ / path, kSealedChunkSize));
        sealed_buf.insert(sealed_buf.end(), bytes.begin(), bytes.end());
      }
      return Status::Ok();
    };
    KH_RETURN_IF_ERROR(need(kChunkedHeaderBytes));
    auto opener = ChunkedOpener::Open(key, ByteView(sealed_buf).subspan(0, kChunkedHeaderBytes),
                                      AsBytes(kFileContentContext));
    if (!opener.ok()) return Status::Corruption("file.key does not open the sealed chunks (key commitment)");
    consumed = kChunkedHeaderBytes;
    const uint64_t count = ChunkedChunkCount(padded);
    Bytes expected(kChunkedPlainChunk);
    uint64_t plain_at = 0;
    for (uint64_t c = 0; c < count; ++c) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(kChunkedPlainChunk, padded - c * kChunkedPlainChunk));
      KH_RETURN_IF_ERROR(need(len + kAeadTagBytes));
      auto plain = opener->OpenChunk(c, ByteView(sealed_buf).subspan(consumed, len + kAeadTagBytes), c + 1 == count);
      if (!plain.ok()) return Status::Corruption("the sealed chunks do not decrypt (chunk " + std::to_string(c) + ")");
      consumed += len + kAeadTagBytes;
      // What the content file must hold here: its bytes up to d.size, zero padding after.
      size_t from_file = static_cast<size_t>(std::min<uint64_t>(len, d.size > plain_at ? d.size - plain_at : 0));
      size_t filled = 0;
      while (filled < from_file) {
        KH_ASSIGN_OR_RETURN(size_t got, ReadUpTo(plain_fd.get(), expected.data() + filled, from_file - filled, content));
        if (got == 0) return Status::Corruption("shorter than its descriptor says");
        filled += got;
      }
      std::fill(expected.begin() + static_cast<ptrdiff_t>(from_file), expected.begin() + static_cast<ptrdiff_t>(len), 0);
      bool same = plain->size() == len && CRYPTO_memcmp(plain->data(), expected.data(), len) == 0;
      OPENSSL_cleanse(plain->data(), plain->size());
      if (!same) {
        return Status::Corruption("differs from what its file key decrypts from the sealed chunks (from byte " +
                                  std::to_string(plain_at) + ")");
      }
      plain_at += len;
    }
    OPENSSL_cleanse(expected.data(), expected.size());
    if (consumed != sealed_buf.size() || next_chunk_file != sf.chunks.size()) {
      return Status::Corruption("the sealed chunks hold more than the sealed file");
    }
    return Status::Ok();
  }

  void CheckProof(const std::string& dir, const Record& record, ByteView record_bytes,
                  const Checkpoint& cp, const Hash& origin) {
    const std::string path = dir + "proof.json";
    auto text = Small(path);
    if (!text.ok()) return Problem(path, "missing");
    json j = json::parse(*text, nullptr, false);
    try {
      std::vector<Hash> proof;
      for (const auto& h : j.at("proof")) {
        auto x = ParseHashHex(h.get<std::string>());
        if (!x.ok()) return Problem(path, "malformed");
        proof.push_back(*x);
      }
      Hash leaf = LeafHash(record_bytes);
      if (j.at("origin").get<std::string>() != ToHex(origin) || j.at("index").get<uint64_t>() != record.index ||
          j.at("size").get<uint64_t>() != cp.size || j.at("root").get<std::string>() != ToHex(cp.root) ||
          j.at("leaf_hash").get<std::string>() != ToHex(leaf)) {
        return Problem(path, "is not a proof of this record to the checkpoint in logs/" + ToHex(origin) + "/");
      }
      if (!VerifyInclusion(leaf, record.index, cp.size, proof, cp.root)) {
        return Problem(path, "the inclusion proof does not lead to the checkpoint's root");
      }
    } catch (const json::exception&) {
      Problem(path, "malformed");
    }
  }

  // REPORT.md and bundle.json may say only what the verified files say.
  void CheckStatements() {
    if (!claims_) return;
    facts_.claims = *claims_;
    std::sort(facts_.entries.begin(), facts_.entries.end(), [](const auto& a, const auto& b) {
      return std::tie(a.record.origin, a.record.index) < std::tie(b.record.origin, b.record.index);
    });
    std::sort(facts_.logs.begin(), facts_.logs.end(),
              [](const auto& a, const auto& b) { return a.origin < b.origin; });
    std::sort(facts_.custody.begin(), facts_.custody.end(), [](const auto& a, const auto& b) {
      return std::tie(a.record.origin, a.record.index) < std::tie(b.record.origin, b.record.index);
    });
    if (SmallOrEmpty(std::string(bundle_paths::kReport)) != report::RenderReport(facts_)) {
      Problem(std::string(bundle_paths::kReport), "does not match the verified contents of the bundle");
    }
    if (SmallOrEmpty(std::string(bundle_paths::kIndex)) != JsonFileText(report::IndexJson(facts_))) {
      Problem(std::string(bundle_paths::kIndex), "does not match the verified contents of the bundle");
    }
  }

  fs::path dir_;
  TrustSet trust_;
  const Policy* policy_ = nullptr;  // C2SP tlog-policy to judge each checkpoint note by
  std::optional<std::string> tsa_ca_;  // --tsa-ca: instead of each token's bundled CA
  BundleVerification out_;
  std::set<std::string> files_;
  std::map<std::string, FileFacts> hashed_;
  std::optional<report::ExportClaims> claims_;
  std::set<std::string> authors_;
  std::map<std::string, NoteVerifier> origins_, cosigners_;
  // External witnesses by key name: the verifier and its key's text (keys/witnesses/).
  std::map<std::string, std::pair<NoteVerifier, std::string>> external_;
  std::map<std::string, Checkpoint> checkpoints_;  // verified, by origin hex
  report::ReportFacts facts_;
};

}  // namespace

Result<BundleVerification> VerifyBundle(const fs::path& dir, const fs::path& trust_file,
                                        const Policy* policy, const fs::path& tsa_ca) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::InvalidArgument(dir.string() + " is not a folder");
  KH_ASSIGN_OR_RETURN(TrustSet trust, LoadTrust(trust_file));
  std::optional<std::string> ca;
  if (!tsa_ca.empty()) {
    auto text = ReadSmallFile(tsa_ca, kMaxTsaCaFileBytes);
    if (!text.ok()) return text.status().Annotate(tsa_ca.string());
    if (text->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return Status::InvalidArgument(tsa_ca.string() + " holds no PEM certificate");
    }
    ca = std::move(*text);
  }
  return Verifier(dir, std::move(trust), policy, std::move(ca)).Run();
}

Result<BundleVerification> VerifyBundleFile(const fs::path& path, const fs::path& trust_file,
                                            const Policy* policy, const fs::path& tsa_ca) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return VerifyBundle(path, trust_file, policy, tsa_ca);
  KH_ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFile(path));
  std::string scratch = (fs::temp_directory_path(ec) / "khronika-verify-bundle.XXXXXX").string();
  if (ec || ::mkdtemp(scratch.data()) == nullptr) return ErrnoStatus("cannot create a scratch folder");
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{scratch};
  const fs::path folder = fs::path(scratch) / "bundle";
  BundleTarExtractor extractor(folder);
  Bytes buf(1 << 20);
  while (true) {
    KH_ASSIGN_OR_RETURN(size_t n, ReadUpTo(fd.get(), buf.data(), buf.size(), path.string()));
    if (n == 0) break;
    Status st = extractor.Write(ByteView(buf.data(), n));
    if (!st.ok()) return Status::InvalidArgument(path.string() + ": " + st.message());
  }
  if (Status st = extractor.Finish(); !st.ok()) {
    return Status::InvalidArgument(path.string() + ": " + st.message());
  }
  return VerifyBundle(folder, trust_file, policy, tsa_ca);
}

}  // namespace khronika
