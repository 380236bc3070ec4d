#include "khronika/bundle/verify_bundle.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "khronika/bundle/bundle_paths.h"
#include "khronika/log/log.h"
#include "khronika/schemas/chain_checker.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/store/files.h"
#include "report.h"

namespace khronika {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxSmallFile = 64 << 20;  // entries, manifests, proofs, notes, MANIFEST.sha256

struct FileFacts {
  uint64_t size = 0;
  Hash sha256{};
  std::vector<Hash> chunks;  // SHA-256 of each 1 MiB slice, as a manifest lists them
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
    facts.chunks.push_back(Sha256(piece));
    facts.size += filled;
    if (filled < buf.size()) break;
  }
  facts.sha256 = whole.Finish();
  return facts;
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
  Verifier(fs::path dir, TrustSet trust) : dir_(std::move(dir)), trust_(std::move(trust)) {}

  BundleVerification Run() {
    Walk();
    CheckManifestFile();
    LoadIndex();
    LoadKeys();
    std::map<std::string, std::vector<std::string>> by_origin;  // origin hex -> index folders
    for (const std::string& f : files_) {
      if (f.rfind("entries/", 0) != 0) continue;
      std::string origin = f.substr(8, 64), index = f.substr(73, 20);
      auto& v = by_origin[origin];
      if (v.empty() || v.back() != index) v.push_back(index);
    }
    // A case belongs to the one log that created it: entries that another node logged under the
    // same case id are not part of it, however well they verify on their own.
    if (by_origin.size() > 1) {
      Problem("entries/", "holds entries of " + std::to_string(by_origin.size()) +
                              " logs: a case belongs to the one log that created it, so a bundle "
                              "of a case holds that log's records only");
    }
    for (auto& [origin, indexes] : by_origin) {
      std::sort(indexes.begin(), indexes.end());
      indexes.erase(std::unique(indexes.begin(), indexes.end()), indexes.end());
      CheckLog(origin, indexes);
    }
    for (const std::string& f : files_) {  // checkpoints of logs without entries here
      if (f.rfind("logs/", 0) == 0 && !by_origin.count(f.substr(5, 64))) {
        Problem(f, "a checkpoint of a log that has no entry in the bundle");
      }
    }
    if (out_.problems.empty()) CheckStatements();
    out_.case_id = claims_ ? claims_->case_id : "";
    out_.entries = facts_.entries.size();
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
      if (f.rfind("keys/", 0) != 0) continue;
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
    auto note = ParseSignedNote(*text);
    if (!note.ok()) return Problem(cp_path, "not a signed note: " + note.status().message());
    if (!NoteSignedBy(*note, origin_it->second)) {
      return Problem(cp_path, "not signed by the log's origin (" + key_path + ")");
    }
    auto body = ParseCheckpointBody(note->text);
    if (!body.ok() || body->origin != "khronika/" + origin_hex) {
      return Problem(cp_path, "not a checkpoint of log " + origin_hex);
    }
    report::ReportLog log{NodeIdFromPublicKey(origin_it->second.key), body->size, {}};
    BundleLogSummary summary;
    summary.origin = origin_hex;
    summary.checkpoint_size = body->size;
    summary.origin_trusted = trust_.origins.count({origin_it->second.name, origin_it->second.key}) > 0;
    if (trust_.given && !summary.origin_trusted) {
      Problem(key_path, "this origin key is not in the trust file");
    }
    for (const NoteSignatureLine& line : note->signatures) {
      if (line.name == origin_it->second.name) continue;
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

    // The case's records in this log, each at its index: the ones between them are of other cases
    // (a case chain that skips one of them names the missing record).
    ChainChecker chain(log.origin);
    for (const std::string& index_text : indexes) {
      uint64_t index = std::stoull(index_text);
      const std::string dir = "entries/" + origin_hex + "/" + index_text + "/";
      auto entry = CheckEntry(dir, index, *body, chain, &index_text == &indexes.front());
      if (!entry) continue;
      summary.records += 1;
      facts_.entries.push_back(std::move(*entry));
    }
    facts_.logs.push_back(std::move(log));
    out_.logs.push_back(std::move(summary));
  }

  // The entry folder `dir` of record `index`, checked as the next record of the case in `chain`.
  std::optional<report::ReportEntry> CheckEntry(const std::string& dir, uint64_t index, const Checkpoint& cp,
                                                ChainChecker& chain, bool first_of_case) {
    auto record_bytes = Small(dir + "record.bin");
    if (!record_bytes.ok()) return Problem(dir + "record.bin", "missing"), std::nullopt;
    if (Status st = chain.SkipTo(index); !st.ok()) return Problem(dir, st.message()), std::nullopt;
    std::optional<Entry> entry;
    std::vector<std::pair<std::string, std::string>> entry_problems;  // named after the record's
    auto checked = chain.Append(AsBytes(*record_bytes), [&](const Record& rec) -> Result<std::optional<std::string>> {
      entry = ReadEntry(dir, rec, entry_problems);
      return entry ? std::optional<std::string>(entry->case_id) : std::nullopt;
    });
    if (!checked.ok()) return Problem(dir + "record.bin", checked.status().message()), std::nullopt;
    bool other_record = false;  // the bytes are not record `index` of this log
    for (const ChainProblem& p : checked->problems) {
      if (p.rule != ChainRule::kCaseChain) {
        other_record = other_record || p.rule != ChainRule::kHashChain;
        Problem(dir + "record.bin", p.what);
      } else if (first_of_case) {
        Problem(dir + "record.bin", "an earlier record of the case in this log (record hash " +
                                        ToHex(checked->record->prev_case_record) + ") is missing from the bundle");
      } else {
        Problem(dir + "record.bin", "the case's previous record in this log (record hash " +
                                        ToHex(checked->record->prev_case_record) + ") is missing from the bundle");
      }
    }
    if (other_record) return std::nullopt;
    const Record& record = *checked->record;
    if (SmallOrEmpty(dir + "record.json") != JsonFileText(ToJson(record))) {
      Problem(dir + "record.json", "does not match record.bin");
    }
    for (const auto& [file, what] : entry_problems) Problem(file, what);
    if (!entry) return std::nullopt;
    if (SmallOrEmpty(dir + "entry.json") != JsonFileText(ToJson(*entry))) {
      Problem(dir + "entry.json", "does not match entry.bin");
    }
    if (claims_ && entry->case_id != claims_->case_id) {
      Problem(dir + "entry.bin", "belongs to another case than the bundle's");
    }
    if (!authors_.count(ToHex(entry->author))) {
      Problem("keys/authors/" + ToHex(entry->author) + ".pem", "missing: the author of " + dir + " has no key here");
    }
    CheckProof(dir, record, AsBytes(*record_bytes), cp, chain.origin());

    report::ReportEntry re{record, *entry, record.entry_id, {}};
    std::set<std::string> expected = {"record.bin", "record.json", "entry.bin", "entry.json", "proof.json"};
    for (size_t n = 0; n < entry->manifests.size(); ++n) {
      const std::string mb = dir + bundle_paths::ManifestBin(n);
      expected.insert(bundle_paths::ManifestBin(n));
      expected.insert(bundle_paths::ManifestJson(n));
      auto bytes = Small(mb);
      if (!bytes.ok()) {
        Problem(mb, "missing");
        continue;
      }
      if (ObjectId(AsBytes(*bytes)) != entry->manifests[n]) {
        Problem(mb, "its SHA-256 is not the manifest id the entry names");
        continue;
      }
      auto m = DecodeManifest(AsBytes(*bytes));
      if (!m.ok()) {
        Problem(mb, m.status().message());
        continue;
      }
      if (SmallOrEmpty(dir + bundle_paths::ManifestJson(n)) != JsonFileText(ToJson(*m))) {
        Problem(dir + bundle_paths::ManifestJson(n), "does not match " + bundle_paths::ManifestBin(n));
      }
      const std::string file = bundle_paths::EvidenceFile(n, m->media_type);
      expected.insert(file);
      CheckEvidence(dir + file, *m);
      re.manifests.push_back(std::move(*m));
    }
    for (auto it = files_.lower_bound(dir); it != files_.end() && it->rfind(dir, 0) == 0; ++it) {
      if (!expected.count(it->substr(dir.size()))) Problem(*it, "unexpected file in the entry's folder");
    }
    return re;
  }

  // entry.bin of `dir`, if it is the entry `rec` names, decodes and carries its author's valid
  // signature; else nullopt, the problem in `problems` as (file, what).
  std::optional<Entry> ReadEntry(const std::string& dir, const Record& rec,
                                 std::vector<std::pair<std::string, std::string>>& problems) {
    const std::string file = dir + "entry.bin";
    auto entry_bytes = Small(file);
    if (!entry_bytes.ok()) return problems.emplace_back(file, "missing"), std::nullopt;
    if (ObjectId(AsBytes(*entry_bytes)) != rec.entry_id) {
      return problems.emplace_back(file, "its SHA-256 is not the entry id in record.bin"), std::nullopt;
    }
    auto entry = DecodeEntry(AsBytes(*entry_bytes));
    if (!entry.ok()) return problems.emplace_back(file, entry.status().message()), std::nullopt;
    if (!VerifyEntrySignature(*entry)) {
      return problems.emplace_back(file, "the author's signature does not verify"), std::nullopt;
    }
    return std::move(*entry);
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

  void CheckEvidence(const std::string& path, const FileManifest& m) {
    auto it = hashed_.find(path);
    if (!files_.count(path)) return Problem(path, "missing");
    if (it == hashed_.end()) return;  // not listed in MANIFEST.sha256: already a problem
    const FileFacts& f = it->second;
    if (f.size != m.size || f.sha256 != m.content_sha256) {
      return Problem(path, "does not match its signed manifest (size or SHA-256)");
    }
    if (m.size > 0 && f.chunks != m.chunks) Problem(path, "its 1 MiB pieces do not match the manifest's chunk ids");
    out_.files += 1;
    out_.bytes += f.size;
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
    if (SmallOrEmpty(std::string(bundle_paths::kReport)) != report::RenderReport(facts_)) {
      Problem(std::string(bundle_paths::kReport), "does not match the verified contents of the bundle");
    }
    if (SmallOrEmpty(std::string(bundle_paths::kIndex)) != JsonFileText(report::IndexJson(facts_))) {
      Problem(std::string(bundle_paths::kIndex), "does not match the verified contents of the bundle");
    }
  }

  fs::path dir_;
  TrustSet trust_;
  BundleVerification out_;
  std::set<std::string> files_;
  std::map<std::string, FileFacts> hashed_;
  std::optional<report::ExportClaims> claims_;
  std::set<std::string> authors_;
  std::map<std::string, NoteVerifier> origins_, cosigners_;
  report::ReportFacts facts_;
};

}  // namespace

Result<BundleVerification> VerifyBundle(const fs::path& dir, const fs::path& trust_file) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::InvalidArgument(dir.string() + " is not a folder");
  KH_ASSIGN_OR_RETURN(TrustSet trust, LoadTrust(trust_file));
  return Verifier(dir, std::move(trust)).Run();
}

}  // namespace khronika
