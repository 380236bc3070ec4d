// mirror export | verify | import | push: the git mirror (docs/format.md, "Git mirror").
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "khronika/bundle/verify_bundle.h"
#include "khronika/log/node.h"
#include "khronika/replication/git_mirror.h"
#include "khronika/replication/sync.h"
#include "khronika/replication/witness.h"

namespace khronika::cli {
namespace {

const OptionSpec kData{"data"};
const OptionSpec kMapSize{"map-size"};
const OptionSpec kGit{"git"};

Status RunMirrorExport(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string git, args.Require("git"));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, true));
  WarnMirrorInClear(*node, git);
  KH_ASSIGN_OR_RETURN(MirrorExport exported, ExportMirror(node->store(), git));
  if (exported.loosened_mode) WarnMirrorMadePrivate(git, *exported.loosened_mode);
  const std::vector<MirrorLogExport>& results = exported.logs;
  bool all_ok = true;
  for (const MirrorLogExport& r : results) {
    std::cout << "log " << ToHex(r.origin) << ": ";
    if (r.to > r.from) {
      std::cout << "exported records " << r.from << " to " << r.to - 1;
    } else {
      std::cout << "up to date at " << r.to << " records";
    }
    if (r.checkpoints_updated) std::cout << "; checkpoints updated";
    std::cout << "\n";
    if (!r.status.ok()) {
      all_ok = false;
      std::cerr << "log " << ToHex(r.origin) << ": " << r.status.ToString() << "\n";
    }
  }
  if (results.empty()) std::cout << "no records to export yet\n";
  if (!all_ok) return Status::IOError("some logs were not exported; see above");
  return Status::Ok();
}

Status RunMirrorVerify(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string git, args.Require("git"));
  std::optional<MirrorTrust> trust;
  if (auto file = args.Get("trust")) {
    // The same file as verify-bundle --trust and submit --witnesses.
    auto keys = LoadTrustedKeys(*file);
    if (!keys.ok()) return UsageError("--trust " + *file + ": " + keys.status().message());
    trust = MirrorTrust{std::move(keys->origins), std::move(keys->cosigners)};
  }
  KH_ASSIGN_OR_RETURN(MirrorVerifyReport report, VerifyMirror(git, trust ? &*trust : nullptr));
  for (const std::string& p : report.problems) std::cerr << "problem: " << p << "\n";
  for (const std::string& w : report.warnings) std::cerr << "warning: " << w << "\n";
  for (const MirrorLogReport& l : report.logs) {
    std::cout << "log " << ToHex(l.origin) << ": " << l.records << " records, " << l.checkpoints
              << " signed checkpoints verified (largest at " << l.largest_verified << "), "
              << l.cosigners << " cosigner" << (l.cosigners == 1 ? "" : "s");
    if (trust) std::cout << (l.trusted ? "; keys trusted" : "; keys NOT trusted");
    std::cout << "\n";
  }
  if (!report.ok()) {
    std::cout << report.problems.size() << " problems found\n";
    return ProblemsFound();
  }
  std::cout << "clean: " << report.logs.size() << " logs verified from the repository alone"
            << (trust ? ", under the keys of " + *args.Get("trust") : std::string()) << "\n";
  return Status::Ok();
}

Status RunMirrorImport(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string data, args.Require("data"));
  KH_ASSIGN_OR_RETURN(std::string git, args.Require("git"));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<PeerTransport> transport, OpenMirrorTransport(git));
  Witness witness{node->cosigner_name(), &node->cosigner_key()};
  // With the archive key: a node restored from its keys may take its own log back from a mirror.
  KH_ASSIGN_OR_RETURN(SyncReport report,
                      PullFromPeer(node->store(), *transport, &witness, &node->archive_key()));
  if (report.logs.empty()) std::cout << "the mirror offers no log with a signed checkpoint\n";
  const std::string hint = " (if you trust it, add it with `khronika member add --data " + data +
                           " --vkey VKEY`, VKEY as `khronika id` prints it on that node)";
  if (!PrintPulled("", report, hint)) return Status::IOError("some logs were not imported; see above");
  return Status::Ok();
}

Status RunMirrorPush(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string git, args.Require("git"));
  KH_ASSIGN_OR_RETURN(std::string remote, args.Require("remote"));
  KH_RETURN_IF_ERROR(PushMirror(git, remote));
  std::cout << "pushed the mirror's logs and checkpoints branches to " << remote << "\n";
  return Status::Ok();
}

}  // namespace

void WarnMirrorInClear(const Node& node, const std::string& where) {
  if (!node.encrypted()) return;
  std::cerr << "warning: the mirror holds the evidence in clear: " << where
            << " gets every entry, file and case id of the logs exported, which this node's "
               "encryption does not cover; anyone who can read it reads them (it is kept mode "
               "0700): keep it on an encrypted disk; a later format makes it ciphertext-only\n";
}

void WarnMirrorMadePrivate(const std::string& path, unsigned mode) {
  char octal[16];
  std::snprintf(octal, sizeof octal, "%04o", mode);
  std::cerr << "warning: " << path << " was mode " << octal
            << ", open to other local users; it is now 0700 (it holds the evidence in clear)\n";
}

std::vector<Command> MirrorCommands() {
  return {
      {"mirror export", "export every log held to a bare git repository (created if missing)",
       "khronika mirror export --data DIR --git REPO\n"
       "Appends the records not yet in REPO, one commit per record on refs/heads/logs/<origin>,\n"
       "and the signed checkpoints on refs/heads/checkpoints/<origin> (docs/format.md, \"Git\n"
       "mirror\"). Two nodes holding the same log write the same commits. A branch that holds\n"
       "a different log than this node is left alone and reported (exit 1).\n"
       "REPO holds the entries and files in clear, even from an encrypted node (which then says\n"
       "so on stderr): it is created mode 0700, and set to 0700 if it was open to others.",
       {kData, kGit, kMapSize}, RunMirrorExport},
      {"mirror verify", "re-verify a git mirror from the repository alone",
       "khronika mirror verify --git REPO [--trust KEYS_FILE]\n"
       "Checks every record, entry, signature, manifest and file of every logs branch, the hash\n"
       "and case chains, and every signed checkpoint and cosignature against the records.\n"
       "Prints one `problem: ` line per problem (naming branch, commit, record and file) and\n"
       "`warning: ` lines on stderr, a summary per log on stdout. Exit 0 clean, 1 problems.\n"
       "  KEYS_FILE: verifier keys you trust (origins' and cosigners'), one per line, # comments,\n"
       "  as for verify-bundle. Then every log's origin must have its key there, every witness\n"
       "  key in the repository (cosigners/) must be there, and every log with records must have\n"
       "  a signed checkpoint that verifies; anything else is a problem.",
       {kGit, {"trust"}}, RunMirrorVerify},
      {"mirror import", "take the logs of roster members from a git mirror, verified as a sync",
       "khronika mirror import --data DIR --git REPO\n"
       "Reads REPO as if it were a peer: every record, signature, Merkle root and chunk is\n"
       "checked before anything is written, and only roster members' logs are taken.",
       {kData, kGit, kMapSize}, RunMirrorImport},
      {"mirror push", "push a mirror's branches to another git repository (fast-forward only)",
       "khronika mirror push --git REPO --remote URL\n"
       "Pushes every logs/ and checkpoints/ branch to URL (a path or file://, or any URL\n"
       "libgit2 supports). A remote branch that is not an ancestor is an error naming it.",
       {kGit, {"remote"}}, RunMirrorPush},
  };
}

}  // namespace khronika::cli
