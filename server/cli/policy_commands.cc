// policy check: a C2SP tlog-policy file (schemas/policy.h), and a checkpoint note judged by it.
// verify-bundle --policy prints its verdict with the same words (PrintPolicyEvaluation).
#include <iostream>

#include "commands.h"
#include "khronika/schemas/policy.h"
#include "khronika/store/files.h"

namespace khronika::cli {
namespace {

std::string Plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

Status RunPolicyCheck(const Args& args) {
  if (args.positional().size() != 1) return UsageError("policy check takes one POLICY_FILE");
  const std::string file = args.positional()[0];
  KH_ASSIGN_OR_RETURN(Policy policy, LoadPolicyFile(file));
  std::cout << "policy " << file << ": valid: " << Plural(policy.logs.size(), "log", "logs")
            << ", " << Plural(policy.witnesses.size(), "witness", "witnesses") << ", "
            << Plural(policy.groups.size(), "group", "groups") << "; quorum " << policy.quorum
            << "\n";
  auto note_file = args.Get("checkpoint");
  if (!note_file) return Status::Ok();
  auto note = ReadSmallFile(*note_file, kMaxNoteBytes);
  if (!note.ok()) return UsageError("--checkpoint " + *note_file + ": " + note.status().message());
  PolicyEvaluation e = EvaluatePolicy(policy, *note);
  return PrintPolicyEvaluation(policy, e, "checkpoint " + *note_file, "") ? Status::Ok()
                                                                           : ProblemsFound();
}

}  // namespace

Result<Policy> LoadPolicyFile(const std::string& file) {
  auto text = ReadSmallFile(file, kMaxPolicyBytes);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound || text.status().code() == Code::kInvalidArgument) {
      return UsageError("policy " + file + ": " + text.status().message());
    }
    return text.status();
  }
  auto policy = ParsePolicy(*text);
  if (!policy.ok()) return UsageError("policy " + file + ": " + policy.status().message());
  return policy;
}

bool PrintPolicyEvaluation(const Policy& policy, const PolicyEvaluation& e,
                           const std::string& what, const std::string& indent) {
  for (const std::string& p : e.problems) std::cerr << what << ": " << p << "\n";
  std::cout << indent << what;
  if (!e.origin.empty()) std::cout << " (" << e.origin << ", size " << e.size << ")";
  if (!e.log.empty()) {
    std::cout << ": signed by the policy's log " << e.log << "\n";
  } else if (policy.logs.empty()) {
    std::cout << ": the policy lists no log, so the log's own signature is not judged by it\n";
  } else {
    std::cout << ": NOT signed by a log of the policy\n";
  }
  auto witnessed = [&](const std::string& name) {
    auto it = e.witnessed.find(name);
    return it != e.witnessed.end() && it->second;
  };
  for (const PolicyWitness& w : policy.witnesses) {
    std::cout << indent << "  witness " << w.name << ": "
              << (witnessed(w.name) ? "cosigned" : "no valid cosignature") << "\n";
  }
  for (const PolicyGroup& g : policy.groups) {
    std::string by;
    for (const std::string& m : g.members) {
      if (witnessed(m)) by += (by.empty() ? "" : ", ") + m;
    }
    std::cout << indent << "  group " << g.name << " (" << DescribeGroup(g) << "): "
              << (witnessed(g.name) ? "met" : "NOT met") << (by.empty() ? "" : " by " + by)
              << "\n";
  }
  const bool ok = e.ok();
  std::cout << indent << "quorum " << policy.quorum << ": "
            << (e.quorum_met ? "met" : "NOT met");
  if (e.quorum_met && !e.problems.empty()) std::cout << ", but the note has problems (stderr)";
  std::cout << (ok ? "" : " - the checkpoint is NOT trusted under this policy") << "\n";
  return ok;
}

std::vector<Command> PolicyCommands() {
  return {
      {"policy check", "check a C2SP tlog-policy file, and a checkpoint note against it",
       "khronika policy check POLICY_FILE [--checkpoint NOTE_FILE]\n"
       "  POLICY_FILE: C2SP tlog-policy lines (docs/lawyer.md, \"Cosignature policies\"):\n"
       "    log <vkey> [<url>]            witness <name> <cosigner vkey> [<url>]\n"
       "    group <name> all|any|<k> <name>...    quorum <name>|none\n"
       "  Exit 0: valid (and, with --checkpoint, the note is signed by a listed log and its\n"
       "  cosignatures meet the quorum); 1: the note does not meet it (which groups are short\n"
       "  is printed); 2: the policy is malformed (the line is named).",
       {{"checkpoint"}},
       RunPolicyCheck},
  };
}

}  // namespace khronika::cli
