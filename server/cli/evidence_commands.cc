// export and verify-bundle: court bundles (docs/lawyer.md). A bundle is made from one snapshot of
// a store (the local one, or the node's over HTTPS), and checked by verify-bundle from the folder
// alone.
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <iostream>
#include <optional>

#include "commands.h"
#include "khronika/auth/auth.h"
#include "khronika/bundle/bundle.h"
#include "khronika/bundle/verify_bundle.h"
#include "khronika/http/client.h"
#include "khronika/log/node.h"
#include "khronika/schemas/custody.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/text.h"
#include "khronika/store/files.h"

namespace khronika::cli {
namespace {

namespace fs = std::filesystem;

std::string Size(uint64_t bytes) {
  char buf[64];
  if (bytes < 1024 * 1024) {
    std::snprintf(buf, sizeof buf, bytes == 1 ? "%llu byte" : "%llu bytes",
                  static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  }
  return buf;
}

std::string Count(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "3 records, 1 entry and 2 files disclosed (1.4 MiB)": the one summary of a bundle, after export
// and verify-bundle alike (REPORT.md says the same in its first paragraph).
std::string Disclosed(uint64_t records, uint64_t entries, uint64_t files, uint64_t bytes) {
  return Count(records, "record", "records") + ", " + Count(entries, "entry", "entries") + " and " +
         Count(files, "file", "files") + " disclosed (" + Size(bytes) + ")";
}

// Prints what verify-bundle found; ProblemsFound() (exit 1) if anything is wrong.
Status Report(const BundleVerification& v, bool trust_given) {
  if (!v.ok()) {
    for (const std::string& p : v.problems) std::cerr << p << "\n";
    std::cout << "bundle NOT verified: " << v.problems.size()
              << (v.problems.size() == 1 ? " problem" : " problems") << " (listed on stderr)\n";
    return ProblemsFound();
  }
  std::cout << "bundle verified: case " << v.case_id << ", "
            << Disclosed(v.records, v.entries, v.files, v.bytes) << "\n";
  for (const BundleLogSummary& l : v.logs) {
    std::cout << "  log " << l.origin << ": " << Count(l.records, "record", "records")
              << " of the case, checkpoint size "
              << l.checkpoint_size << ", signed by its origin"
              << (trust_given ? (l.origin_trusted ? " (trusted key)" : " (key NOT in the trust file)") : "")
              << "; cosigned by " << l.cosigners.size()
              << (l.cosigners.size() == 1 ? " other member" : " other members");
    if (trust_given) std::cout << ", " << l.trusted_cosigners.size() << " of them trusted";
    if (!l.external_witnesses.empty()) {
      std::cout << "; and by " << Count(l.external_witnesses.size(), "external witness",
                                        "external witnesses");
    }
    std::cout << "\n";
    for (const std::string& c : l.cosigners) std::cout << "    cosigner " << c << "\n";
    for (const std::string& w : l.external_witnesses) {
      std::cout << "    external witness " << ShowInvisible(w) << "\n";
    }
    // RFC 3161 timestamps (#16)
    for (const BundleLogSummary::Timestamp& t : l.timestamps) {
      std::cout << "    existed no later than " << t.gen_time << ", by " << t.tsa_name
                << " (RFC 3161 timestamp of checkpoint " << l.timestamped_size << "; CA "
                << (t.ca_given ? "from --tsa-ca" : "from the bundle, keys/tsa/") << "): "
                << (l.timestamped_records == l.records ? "every record" : "the first records")
                << " of the case here, " << l.timestamped_records << " of " << l.records << "\n";
    }
  }
  if (v.custody_events > 0) {
    std::cout << "  custody: " << Count(v.custody_events, "event", "events")
              << " of the case on record in the log: reads, exports, token grants and "
                 "revocations (REPORT.md lists them in order)\n";
  }
  std::cout << "checked: every disclosed file's SHA-256 and sealed chunks, the authors' signatures "
               "and each disclosed file's signed commitment, each record's inclusion proof to a "
               "signed checkpoint, the cosignatures, and (by the case's link keys) that no record "
               "of the case is missing between the first and the last in each log\n";
  if (!trust_given) {
    std::cout << "note: without --trust, compare the keys in keys/origins/ and keys/cosigners/ "
                 "with the ones the organisations gave you\n";
  }
  return Status::Ok();
}

// What `--entry` and `--file` choose to disclose; all of the case when neither is given.
struct Selection {
  std::vector<Hash> entries;
  std::vector<std::string> file_names;
};

Result<Selection> SelectionFrom(const Args& args) {
  Selection s;
  for (const std::string& e : args.GetAll("entry")) {
    auto id = ParseHashHex(e);
    if (!id.ok()) return UsageError("--entry: " + id.status().message());
    s.entries.push_back(*id);
  }
  for (const std::string& f : args.GetAll("file")) {
    if (!ValidateFileName(f).ok()) return UsageError("--file: " + ValidateFileName(f).message());
    s.file_names.push_back(f);
  }
  return s;
}

// RFC 3986 percent-encoding of a query value: only unreserved characters stay as they are.
std::string QueryValue(std::string_view value) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Status ExportLocal(const Args& args, const std::string& case_id, const Selection& selection,
                   const fs::path& out, bool tar) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  const int64_t now = SystemClock().NowMs();
  BundleRequest request{case_id, now, "the node's operator (khronika export --data)",
                        node->cosigner_verifier_key(), selection.entries, selection.file_names,
                        DeriveCustodyKey(node->archive_key())};
  Result<BundlePlan> plan = Status::NotFound("unset");
  KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
    plan = PlanBundle(txn, EntryKey::Archive(node->archive_key()), request);
    return Status::Ok();
  }));
  if (!plan.ok()) return plan.status();
  if (fs::exists(out)) return Status::AlreadyExists(out.string() + " already exists: name a new path");
  // The export goes into the log at once (docs/format.md section 7.3); should that fail, it
  // stays pending, on record, and the next append or `serve` seals it.
  KH_RETURN_IF_ERROR(RecordOperatorAct(*node, "export", "case bundle", case_id));
  uint64_t records = plan->records, entries = plan->entries, files = plan->evidence_files,
           bytes = plan->evidence_bytes;
  if (tar) {
    KH_RETURN_IF_ERROR(WriteBundleTar(node->store(), std::move(*plan), out));
  } else {
    KH_RETURN_IF_ERROR(WriteBundleDirectory(node->store(), *plan, out));
  }
  std::cout << "exported case " << case_id << ": " << Disclosed(records, entries, files, bytes)
            << " to " << out.string() << "\n";
  return Status::Ok();
}

// Removes what a failed export left behind, unless it is dismissed after success.
class PartialOutput {
 public:
  void Track(fs::path p) { paths_.push_back(std::move(p)); }
  void Dismiss() { paths_.clear(); }
  ~PartialOutput() {
    std::error_code ignored;
    for (const fs::path& p : paths_) fs::remove_all(p, ignored);
  }

 private:
  std::vector<fs::path> paths_;
};

Status ExportRemote(const Args& args, const std::string& case_id, const Selection& selection,
                    const fs::path& out, bool tar) {
  KH_ASSIGN_OR_RETURN(ClientOptions conn, ConnectionFrom(args));
  if (fs::exists(out)) return Status::AlreadyExists(out.string() + " already exists: name a new path");
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(parent)) return Status::NotFound("no folder " + parent.string() + " to write into");
  KH_ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client, HttpsClient::Connect(conn));
  PartialOutput partial;
  std::optional<UniqueFd> tar_fd;
  // A .tar is also unpacked into a scratch folder beside it as it arrives, so that it is verified
  // like a folder export before it is kept.
  const fs::path folder = tar ? fs::path(out.string() + ".checking") : out;
  if (tar) {
    if (fs::exists(folder)) return Status::AlreadyExists(folder.string() + " is in the way");
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("cannot create " + out.string());
    tar_fd.emplace(fd);
    partial.Track(out);
  }
  partial.Track(folder);
  BundleTarExtractor extractor(folder);
  auto sink = [&](ByteView piece) -> Status {
    if (tar_fd) KH_RETURN_IF_ERROR(WriteAll(tar_fd->get(), piece.data(), piece.size(), out.string()));
    return extractor.Write(piece);
  };
  std::string query;
  for (const Hash& e : selection.entries) query += (query.empty() ? "?" : "&") + ("entry=" + ToHex(e));
  for (const std::string& f : selection.file_names) {
    query += (query.empty() ? "?" : "&") + ("file=" + QueryValue(f));
  }
  KH_ASSIGN_OR_RETURN(HttpResult r, client->Download("/v1/cases/" + QueryValue(case_id) +
                                                         "/bundle" + query, sink));
  if (r.status != 200) {
    if (r.status == 401 || r.status == 403) return Status::PermissionDenied(ErrorMessage(r));
    if (r.status == 404) return Status::NotFound(ErrorMessage(r));
    return Status::IOError(ErrorMessage(r));
  }
  KH_RETURN_IF_ERROR(extractor.Finish());
  if (tar_fd && ::fsync(tar_fd->get()) != 0) return ErrnoStatus("cannot sync " + out.string());
  std::cout << "exported case " << case_id << " to " << out.string() << "; checking it:\n";
  KH_ASSIGN_OR_RETURN(BundleVerification v, VerifyBundle(folder));
  if (v.ok() && v.case_id != case_id) {  // a sound bundle, but not of the case asked for
    v.problems.push_back("bundle.json: the node sent a bundle of case " + v.case_id + ", not of case " + case_id);
  }
  if (v.ok() && !selection.entries.empty() && v.entries > selection.entries.size()) {
    v.problems.push_back("bundle.json: the node disclosed " + std::to_string(v.entries) +
                         " entries; " + std::to_string(selection.entries.size()) + " were asked for");
  }
  Status reported = Report(v, false);
  if (!tar) {
    partial.Dismiss();  // kept even when it fails to verify: it is the evidence of what was sent
    return reported;
  }
  std::error_code ignored;
  fs::remove_all(folder, ignored);
  if (reported.ok()) partial.Dismiss();  // a .tar that does not verify is not kept
  return reported;
}

Status RunExport(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string case_id, args.Require("case"));
  KH_ASSIGN_OR_RETURN(std::string out, args.Require("out"));
  if (!ValidateCaseId(case_id).ok()) return UsageError("--case: " + ValidateCaseId(case_id).message());
  bool tar = args.Has("tar");
  KH_ASSIGN_OR_RETURN(Selection selection, SelectionFrom(args));
  if (args.Has("data")) {
    if (args.Has("node")) return UsageError("give --data DIR or --node URL, not both");
    return ExportLocal(args, case_id, selection, out, tar);
  }
  return ExportRemote(args, case_id, selection, out, tar);
}

Status RunVerifyBundle(const Args& args) {
  if (args.positional().size() != 1) return UsageError("verify-bundle takes one DIR or FILE.tar");
  fs::path trust = args.Get("trust").value_or("");
  std::optional<Policy> policy;
  if (auto file = args.Get("policy")) {
    KH_ASSIGN_OR_RETURN(policy, LoadPolicyFile(*file));
  }
  fs::path tsa_ca = args.Get("tsa-ca").value_or("");
  auto v = VerifyBundleFile(args.positional()[0], trust, policy ? &*policy : nullptr, tsa_ca);
  if (!v.ok()) {
    if (v.status().code() == Code::kInvalidArgument) return UsageError(v.status().message());
    return v.status();
  }
  Status reported = Report(*v, !trust.empty());
  if (!policy || !reported.ok()) return reported;
  // --policy: every log's checkpoint must meet it (a sound bundle under an unmet policy is exit 1).
  bool met = !v->policy.empty();
  std::cout << "policy " << *args.Get("policy") << ":\n";
  for (const auto& verdict : v->policy) {
    met = PrintPolicyEvaluation(*policy, verdict.evaluation,
                                "checkpoint of log " + verdict.origin, "  ") && met;
  }
  if (!met) {
    std::cout << "bundle verified, but its checkpoint does NOT meet the policy\n";
    return ProblemsFound();
  }
  return Status::Ok();
}

}  // namespace

std::vector<Command> EvidenceCommands() {
  return {
      {"export", "write a court bundle of one case (a folder, or a .tar with --tar)",
       "khronika export --case ID --out PATH [--tar] [--entry ENTRY_ID]... [--file NAME]...\n"
       "                (--data DIR | --node URL --token T [--pin sha256:FP] [--timeout S])\n"
       "  Writes a khronika-bundle/2: every record of the case with its link key (so that no\n"
       "  entry can be left out unseen), inclusion proofs, checkpoints with cosignatures, public\n"
       "  keys, MANIFEST.sha256 and REPORT.md, and the disclosed entries (their entry keys and\n"
       "  signed entries) and files (file keys, sealed and plaintext bytes). By default all of\n"
       "  the case is disclosed; --entry (repeatable) discloses only those entries, --file\n"
       "  (repeatable) only the files of that name; the others stay sealed. PATH must not exist\n"
       "  yet. Every export is recorded in the node's access log. --timeout as for submit.",
       {{"case"}, {"out"}, {"tar", false}, {"entry", true, true}, {"file", true, true}, {"data"}, {"map-size"}, {"node"}, {"token"}, {"pin"}, {"cacert"},
        {"timeout"}},
       RunExport},
      {"verify-bundle", "check a court bundle offline: exit 0 clean, 1 with one line per problem",
       "khronika verify-bundle DIR|FILE.tar [--trust KEYS_FILE] [--policy POLICY_FILE]\n"
       "                [--tsa-ca CA_FILE]\n"
       "  KEYS_FILE: verifier keys you trust (origins' and cosigners'), one per line, # comments.\n"
       "  POLICY_FILE: a C2SP tlog-policy (see khronika policy check --help); the bundle's\n"
       "  checkpoint must be signed by one of its logs and meet its quorum (else exit 1).\n"
       "  CA_FILE: the CA certificate(s) of the time-stamping authorities you trust (PEM): every\n"
       "  RFC 3161 timestamp in the bundle must chain to it, instead of to the CA it carries.",
       {{"trust"}, {"policy"}, {"tsa-ca"}},
       RunVerifyBundle},
  };
}

}  // namespace khronika::cli
