#include "report.h"

#include <algorithm>
#include <ctime>

#include "khronika/bundle/bundle.h"
#include "khronika/bundle/bundle_paths.h"
#include "khronika/schemas/text.h"

namespace khronika::report {

using nlohmann::json;

namespace {

std::string Short(const Hash& h) { return ToHex(h).substr(0, 16); }

std::string HumanSize(uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[64];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s (%llu bytes)", v, units[u],
                  static_cast<unsigned long long>(bytes));
  }
  return buf;
}

std::string Count(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string AuthorLabel(const ExportClaims& c, const PublicKey& key) {
  std::string hex = ToHex(key);
  auto it = c.author_names.find(hex);
  std::string label = "key `" + hex.substr(0, 16) + "…`";
  if (it != c.author_names.end()) label = MarkdownText(it->second) + " (" + label + ")";
  return label;
}

// True if a text RenderReport shows holds a code point that MarkdownText writes as <U+…>.
bool ShowsInvisibleCharacters(const ReportFacts& f) {
  auto hidden = [](std::string_view s) { return FirstInvisibleCodePoint(s).has_value(); };
  const ExportClaims& c = f.claims;
  if (hidden(c.case_id) || hidden(c.exported_by) || hidden(c.node_name) || hidden(c.node_id)) {
    return true;
  }
  for (const auto& [key, name] : c.author_names) {
    if (hidden(name)) return true;
  }
  for (const ReportEntry& e : f.entries) {
    if (!e.entry) continue;
    if (hidden(e.entry->kind)) return true;
    for (const auto& [k, v] : e.entry->metadata) {
      if (hidden(k) || hidden(v)) return true;
    }
    for (const ReportFile& file : e.files) {
      if (hidden(file.descriptor.name) || hidden(file.descriptor.media_type)) return true;
    }
  }
  return false;
}

}  // namespace

std::string MarkdownText(std::string_view s) {
  std::string out;
  // Invisible and text-direction characters first become "<U+202E>" (the one rule, in
  // khronika/schemas/text.h), whose '<' and '>' are then escaped like any other.
  for (char ch : ShowInvisible(s)) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      out += "\xEF\xBF\xBD";
      continue;
    }
    // Values never start a line here, so list and heading markers need no escape; these do
    // anywhere: emphasis, code, links, HTML, tables.
    if (c < 0x80 && std::string_view("\\`*_[]<>#|~").find(ch) != std::string_view::npos) {
      out += '\\';
    }
    out += ch;
  }
  return out;
}

json IndexJson(const ReportFacts& f) {
  json logs = json::array();
  for (const ReportLog& l : f.logs) {
    json cos = json::array();
    for (const ReportCosigner& c : l.cosigners) cos.push_back(ToHex(c.member));
    json item = {{"origin", ToHex(l.origin)},
                 {"checkpoint", bundle_paths::Checkpoint(l.origin)},
                 {"checkpoint_size", l.checkpoint_size},
                 {"cosigners", cos}};
    if (!l.timestamps.empty()) {  // RFC 3161 timestamps (#16)
      json tokens = json::array();
      for (const ReportTimestamp& t : l.timestamps) {
        tokens.push_back({{"token", bundle_paths::TimestampToken(l.origin, t.tsa_cert)},
                          {"ca", bundle_paths::TsaCa(t.tsa_cert)},
                          {"tsa_name", t.tsa_name},
                          {"gen_time", t.gen_time}});
      }
      item["timestamped"] = {
          {"checkpoint", bundle_paths::TimestampedCheckpoint(l.origin)},
          {"size", l.timestamped_size},
          {"consistency", l.timestamped_size == l.checkpoint_size
                              ? json(nullptr)
                              : json(bundle_paths::TimestampConsistency(l.origin))},
          {"tokens", tokens}};
    }
    logs.push_back(std::move(item));
  }
  json records = json::array();
  for (const ReportEntry& e : f.entries) {
    json files = json::array();
    for (const ReportFile& file : e.files) files.push_back(file.index);
    records.push_back({{"origin", ToHex(e.record.origin)},
                       {"index", e.record.index},
                       {"entry_id", ToHex(e.entry_id)},
                       {"folder", bundle_paths::RecordDir(e.record.origin, e.record.index)},
                       {"disclosed", e.entry.has_value()},
                       {"files", e.file_count},
                       {"disclosed_files", files}});
  }
  json index = {{"format", kBundleFormat},
                {"case", f.claims.case_id},
                {"exported_at_ms", f.claims.exported_at_ms},
                {"exported_by", f.claims.exported_by},
                {"node", {{"id", f.claims.node_id}, {"name", f.claims.node_name}}},
                {"author_names", f.claims.author_names},
                {"logs", logs},
                {"records", records}};
  // Only a bundle with custody records has the field, so bundles without stay as they were.
  if (!f.custody.empty()) {
    json custody = json::array();
    for (const ReportCustody& c : f.custody) {
      json slots = json::array();
      for (const auto& [slot, event] : c.events) slots.push_back(slot);
      custody.push_back({{"origin", ToHex(c.record.origin)},
                         {"index", c.record.index},
                         {"object_id", ToHex(c.record.object_id)},
                         {"folder", bundle_paths::CustodyDir(c.record.origin, c.record.index)},
                         {"events", slots}});
    }
    index["custody"] = custody;
  }
  return index;
}

Result<ExportClaims> ClaimsFromIndex(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::InvalidArgument("not a JSON object");
  try {
    if (j.at("format").get<std::string>() != kBundleFormat) {
      return Status::InvalidArgument("format is not " + std::string(kBundleFormat));
    }
    ExportClaims c;
    c.case_id = j.at("case").get<std::string>();
    c.exported_at_ms = j.at("exported_at_ms").get<int64_t>();
    c.exported_by = j.at("exported_by").get<std::string>();
    c.node_id = j.at("node").at("id").get<std::string>();
    c.node_name = j.at("node").at("name").get<std::string>();
    c.author_names = j.at("author_names").get<std::map<std::string, std::string>>();
    return c;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("missing or mistyped field: ") + e.what());
  }
}

std::string RenderReport(const ReportFacts& f) {
  const ExportClaims& c = f.claims;
  uint64_t disclosed = 0, files = 0, bytes = 0, withheld = 0;
  for (const ReportEntry& e : f.entries) {
    if (e.entry) ++disclosed;
    for (const ReportFile& file : e.files) ++files, bytes += file.descriptor.size;
    withheld += e.file_count - e.files.size();
  }
  std::string r;
  r += "# Evidence bundle for case " + MarkdownText(c.case_id) + "\n\n";
  r += "This bundle holds the **" + Count(f.entries.size(), "record", "records") + "** of case " +
       MarkdownText(c.case_id) + " in " + std::to_string(f.logs.size()) +
       (f.logs.size() == 1 ? " log" : " logs") + " of the Khronika federation. It discloses **" +
       Count(disclosed, "entry", "entries") + "** and **" +
       Count(files, "evidence file", "evidence files") + "** (" + HumanSize(bytes) + ")";
  if (disclosed < f.entries.size() || withheld > 0) {
    r += "; the other records and files of the case are present only as sealed data that this "
         "bundle holds no key to open";
  }
  r += ".\n\n";
  r += "It was exported on " + UtcTime(c.exported_at_ms) + " by " + MarkdownText(c.exported_by) +
       " from the node " + MarkdownText(c.node_name) + " (node id `" + MarkdownText(c.node_id) +
       "`). Those three facts are the exporting node's own statement; everything below is "
       "backed by signatures, hashes and keys that `khronika verify-bundle` checks, and that "
       "anyone can check again with `sha256sum`, `openssl` and Python's `cryptography` (see the "
       "Khronika documentation, docs/lawyer.md).\n\n";

  r += "## What the checks prove\n\n";
  r += "- **Who submitted each disclosed entry**: it carries an Ed25519 signature made with its "
       "author's private key; the public keys are in `keys/authors/`.\n";
  r += "- **Not a byte changed**: the author signed a salted commitment to each file's name, type, "
       "size and SHA-256; each disclosed file's descriptor and salt match that commitment and the "
       "file matches the descriptor. `MANIFEST.sha256` lists the SHA-256 of every file here.\n";
  r += "- **It is what the log holds**: each disclosed file is also here as the sealed chunks the "
       "log names, and its key decrypts them to exactly that file; each entry's key opens the "
       "sealed entry the log names.\n";
  r += "- **When it was recorded**: each record is in the append-only log of the node that "
       "received it, and an inclusion proof ties it to a checkpoint of that log signed by the "
       "node.\n";
  r += "- **Independent confirmation**: other organisations' nodes that hold a copy of the log "
       "cosigned that checkpoint after checking it.\n";
  bool stamped = false;
  for (const ReportLog& l : f.logs) stamped = stamped || !l.timestamps.empty();
  if (stamped) {
    r += "- **Existed no later than**: a time-stamping authority that the exporting node does not "
         "run signed an RFC 3161 timestamp over a checkpoint of the log; every record that "
         "checkpoint covers existed no later than the time it states. The token and the "
         "authority's CA certificate are in `logs/` and `keys/tsa/`; compare that certificate "
         "with the one the authority publishes.\n";
  }
  r += "- **Nothing left out**: every record of the case names, in a sealed link that its link key "
       "opens, the record of the same case before it, so a record missing between the first and "
       "the last one here would break the chain. The link keys open nothing else. Records "
       "logged after the checkpoint below are not covered.\n\n";

  r += "## Logs and independent confirmations\n\n";
  for (const ReportLog& l : f.logs) {
    r += "- Log of node `" + Short(l.origin) + "…` (key in `" + bundle_paths::OriginKey(l.origin) +
         "`): checkpoint of size " + std::to_string(l.checkpoint_size) + ", signed by that node";
    if (l.cosigners.empty()) {
      r += "; not cosigned by any other organisation in this bundle.\n";
    } else {
      r += ", cosigned by " + std::to_string(l.cosigners.size()) + " other " +
           (l.cosigners.size() == 1 ? "organisation" : "organisations") + ":\n";
      for (const ReportCosigner& cs : l.cosigners) {
        r += "  - node `" + Short(cs.member) + "…` on " +
             UtcTime(static_cast<int64_t>(cs.timestamp) * 1000) + "\n";
      }
    }
    if (!l.external.empty()) {
      r += "  and by " + std::to_string(l.external.size()) + " external " +
           (l.external.size() == 1 ? "witness" : "witnesses") +
           ", which are no federation members (C2SP tlog-witness; their keys are in "
           "`keys/witnesses/`):\n";
      for (const ReportExternalWitness& w : l.external) {
        r += "  - `" + MarkdownText(w.name) + "` on " +
             UtcTime(static_cast<int64_t>(w.timestamp) * 1000) + " (`" +
             bundle_paths::ExternalWitnessKey(w.vkey) + "`)\n";
      }
    }
  }
  for (const ReportLog& l : f.logs) {
    if (l.timestamps.empty()) continue;
    r += "- Checkpoint of size " + std::to_string(l.timestamped_size) + " of the log of node `" +
         Short(l.origin) + "…` (`" + bundle_paths::TimestampedCheckpoint(l.origin) +
         "`) is timestamped by " + Count(l.timestamps.size(), "authority", "authorities") + ":\n";
    for (const ReportTimestamp& t : l.timestamps) {
      r += "  - existed no later than " + t.gen_time + ", by " + MarkdownText(t.tsa_name) +
           " (`" + bundle_paths::TimestampToken(l.origin, t.tsa_cert) + "`)\n";
    }
  }
  r += "\n## Records of the case, in the order each log recorded them\n\n";
  // "Existed no later than T, by <TSA>" for a record that a timestamped checkpoint covers.
  auto stamped_lines = [&](const Record& record) {
    std::string out;
    for (const ReportLog& l : f.logs) {
      if (l.origin != record.origin || record.index >= l.timestamped_size) continue;
      for (const ReportTimestamp& t : l.timestamps) {
        out += "- Existed no later than " + t.gen_time + ", by " + MarkdownText(t.tsa_name) +
               " (RFC 3161 timestamp of checkpoint " + std::to_string(l.timestamped_size) + ").\n";
      }
    }
    return out;
  };
  size_t n = 0;
  for (const ReportEntry& e : f.entries) {
    const std::string dir = bundle_paths::RecordDir(e.record.origin, e.record.index);
    if (!e.entry) {
      r += "### " + std::to_string(++n) + ". Not disclosed\n\n";
      r += "- Recorded on " + UtcTime(e.record.received_at_ms) + " as record " +
           std::to_string(e.record.index) + " of the log of node `" + Short(e.record.origin) +
           "…`, with " + Count(e.file_count, "file", "files") + "; entry id `" +
           ToHex(e.entry_id) + "`, folder `" + dir + "/`.\n";
      r += stamped_lines(e.record) + "\n";
      continue;
    }
    const SignedEntry& entry = *e.entry;
    r += "### " + std::to_string(++n) + ". " + MarkdownText(entry.kind) + " by " +
         AuthorLabel(c, entry.author) + "\n\n";
    r += "- Recorded on " + UtcTime(e.record.received_at_ms) + " as record " +
         std::to_string(e.record.index) + " of the log of node `" + Short(e.record.origin) +
         "…`; the author dated it " + UtcTime(entry.created_at_ms) + ".\n";
    r += "- Entry id `" + ToHex(e.entry_id) + "`, folder `" + dir + "/`.\n";
    r += stamped_lines(e.record);
    if (entry.corrects) r += "- Corrects entry `" + ToHex(*entry.corrects) + "`.\n";
    for (const auto& [k, v] : entry.metadata) {
      r += "- " + MarkdownText(k) + ": " + MarkdownText(v) + "\n";
    }
    for (const ReportFile& file : e.files) {
      const FileDescriptor& d = file.descriptor;
      r += "- File " + std::to_string(file.index) + ": \"" + MarkdownText(d.name) + "\" (" +
           MarkdownText(d.media_type) + ", " + HumanSize(d.size) + "), SHA-256 `" +
           ToHex(d.content_sha256) + "`, in `" + dir + "/" +
           bundle_paths::Content(file.index, d.media_type) + "`\n";
    }
    if (e.files.size() < e.file_count) {
      r += "- " + Count(e.file_count - e.files.size(), "other file", "other files") +
           " of this entry not disclosed.\n";
    }
    r += "\n";
  }
  if (!c.author_names.empty()) {
    r += "Author names are those registered on the exporting node; the keys are what the "
         "signatures prove.\n";
  }
  if (!f.custody.empty()) {
    r += "\n## Custody of the case, in the order the log recorded it\n\n";
    r += "The node records every read of evidence content, every export and every grant or "
         "revocation of a token for the case in its own log, as sealed custody records signed and "
         "cosigned like the evidence. Each event below was opened with a key that opens that one "
         "event and nothing else; the times and names inside are the node's own record. Events "
         "after the checkpoint above (this export among them) are not covered.\n\n";
    size_t k = 0;
    for (const ReportCustody& cr : f.custody) {
      const std::string dir = bundle_paths::CustodyDir(cr.record.origin, cr.record.index);
      for (const auto& [slot, e] : cr.events) {
        r += std::to_string(++k) + ". " + UtcTime(e.time_ms) + ": " + MarkdownText(e.action) +
             " of " + MarkdownText(e.object) + " by " +
             (e.token_id == "local" ? std::string("the node's operator")
                                    : "token " + MarkdownText(e.token_id)) +
             (e.role.empty() ? std::string() : " (" + MarkdownText(e.role) + ")") +
             "; logged in record " + std::to_string(cr.record.index) + " on " +
             UtcTime(cr.record.received_at_ms) + ", `" + dir + "/" +
             bundle_paths::CustodyEventJson(slot) + "`\n";
      }
    }
  }
  if (ShowsInvisibleCharacters(f)) {
    r += "\nSome values above hold characters that are invisible or change the direction of the "
         "text around them; they are written out as \\<U+…\\> with their Unicode code point (for "
         "example \\<U+202E\\>, RIGHT-TO-LEFT OVERRIDE). The signed values are unchanged, byte for "
         "byte, in each entry's `entry.bin` and `entry.json`.\n";
  }
  return r;
}

}  // namespace khronika::report
