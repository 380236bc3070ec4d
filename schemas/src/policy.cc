#include "khronika/schemas/policy.h"

#include <algorithm>
#include <cstdio>
#include <set>

namespace khronika {
namespace {

std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// Printable in a message whatever the bytes (names are opaque octets).
std::string Quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 80)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += '?';
    } else {
      out += c;
    }
  }
  return out + (s.size() > 80 ? "...'" : "'");
}

class Parser {
 public:
  Result<Policy> Run(std::string_view text) {
    if (text.size() > kMaxPolicyBytes) {
      return Status::InvalidArgument("a policy file is at most " +
                                     std::to_string(kMaxPolicyBytes) + " bytes");
    }
    size_t start = 0;
    while (start < text.size()) {
      ++line_;
      size_t nl = text.find('\n', start);
      if (nl == std::string_view::npos) return Error("the last line does not end in a newline");
      KH_RETURN_IF_ERROR(Line(text.substr(start, nl - start)));
      start = nl + 1;
    }
    if (!have_quorum_) return Status::InvalidArgument("the policy has no quorum line");
    return std::move(policy_);
  }

 private:
  Status Error(const std::string& what) const {
    return Status::InvalidArgument("line " + std::to_string(line_) + ": " + what);
  }

  Status Line(std::string_view line) {
    for (char c : line) {
      unsigned char u = static_cast<unsigned char>(c);
      if ((u < 0x20 && u != '\t') || u == 0x7f) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", u);
        return Error(std::string("byte ") + hex + " is not allowed (only tab, newline, "
                     "printable ASCII and bytes 0x80-0xff)");
      }
    }
    std::vector<std::string_view> w = Words(line);
    if (w.empty() || w[0][0] == '#') return Status::Ok();
    if (w[0] == "log") return Log(w);
    if (w[0] == "witness") return Witness(w);
    if (w[0] == "group") return Group(w);
    if (w[0] == "quorum") return Quorum(w);
    return Error("unknown keyword " + Quoted(w[0]) + " (log, witness, group, quorum)");
  }

  Status Url(std::string_view url, std::string* out) {
    if (url.size() > kMaxPolicyUrlBytes) return Error("URL longer than 1024 bytes");
    *out = std::string(url);
    return Status::Ok();
  }

  Status Log(const std::vector<std::string_view>& w) {
    if (w.size() < 2 || w.size() > 3) return Error("expected: log <vkey> [<url>]");
    auto key = ParseVerifierKey(w[1]);
    if (!key.ok()) {
      if (ParseCosignerVerifierKey(w[1]).ok()) {
        return Error("a log key is a signed-note Ed25519 key (type 0x01); this is a witness's "
                     "cosignature key (type 0x04)");
      }
      return Error("not a log verifier key: " + key.status().message());
    }
    if (policy_.logs.size() >= kMaxPolicyLogs) {
      return Error("more than " + std::to_string(kMaxPolicyLogs) + " logs");
    }
    for (const PolicyLog& l : policy_.logs) {
      if (l.key.key == key->key) {
        return Error("the same log key as line " + std::to_string(l.line));
      }
    }
    PolicyLog log{*key, "", line_};
    if (w.size() == 3) KH_RETURN_IF_ERROR(Url(w[2], &log.url));
    policy_.logs.push_back(std::move(log));
    return Status::Ok();
  }

  Status NewName(std::string_view name) {
    if (name == "none") return Error("'none' is predefined and cannot be defined");
    if (name.size() > kMaxPolicyNameBytes) return Error("a name is at most 256 bytes");
    if (names_.count(std::string(name))) {
      return Error("name " + Quoted(name) + " is already defined");
    }
    return Status::Ok();
  }

  Status Witness(const std::vector<std::string_view>& w) {
    if (w.size() < 3 || w.size() > 4) return Error("expected: witness <name> <vkey> [<url>]");
    KH_RETURN_IF_ERROR(NewName(w[1]));
    auto key = ParseCosignerVerifierKey(w[2]);
    if (!key.ok()) {
      if (ParseVerifierKey(w[2]).ok()) {
        return Error("a witness key is a cosignature/v1 key (type 0x04); this is a plain "
                     "Ed25519 note key (type 0x01)");
      }
      return Error("not a witness verifier key: " + key.status().message());
    }
    if (policy_.witnesses.size() >= kMaxPolicyWitnesses) {
      return Error("more than " + std::to_string(kMaxPolicyWitnesses) + " witnesses");
    }
    for (const PolicyWitness& o : policy_.witnesses) {
      if (o.key.key == key->key) {
        return Error("the same witness key as line " + std::to_string(o.line) + " (" +
                     Quoted(o.name) + ")");
      }
    }
    PolicyWitness witness{std::string(w[1]), *key, "", line_};
    if (w.size() == 4) KH_RETURN_IF_ERROR(Url(w[3], &witness.url));
    names_.insert(witness.name);
    policy_.witnesses.push_back(std::move(witness));
    return Status::Ok();
  }

  Status Group(const std::vector<std::string_view>& w) {
    if (w.size() < 4) return Error("expected: group <name> all|any|<k> <name>...");
    KH_RETURN_IF_ERROR(NewName(w[1]));
    if (policy_.groups.size() >= kMaxPolicyGroups) {
      return Error("more than " + std::to_string(kMaxPolicyGroups) + " groups");
    }
    PolicyGroup g;
    g.name = std::string(w[1]);
    g.line = line_;
    std::set<std::string_view> seen;
    for (size_t i = 3; i < w.size(); ++i) {
      if (w[i] == "none") return Error("'none' cannot be a group member");
      if (!names_.count(std::string(w[i]))) {
        return Error("member " + Quoted(w[i]) + " is not a witness or group defined above");
      }
      if (!seen.insert(w[i]).second) return Error("member " + Quoted(w[i]) + " listed twice");
      g.members.emplace_back(w[i]);
    }
    const size_t n = g.members.size();
    std::string_view k = w[2];
    if (k == "all") {
      g.threshold = n;
    } else if (k == "any") {
      g.threshold = 1;
    } else {
      bool digits = !k.empty() && k.size() <= 4 && (k.size() == 1 || k[0] != '0') &&
                    std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; });
      size_t v = 0;
      for (char c : k) v = digits ? v * 10 + static_cast<size_t>(c - '0') : 0;
      if (!digits || v < 1 || v > n) {
        return Error("the threshold must be all, any or a decimal k with 1 <= k <= " +
                     std::to_string(n) + " (the members listed), got " + Quoted(k));
      }
      g.threshold = v;
    }
    names_.insert(g.name);
    policy_.groups.push_back(std::move(g));
    return Status::Ok();
  }

  Status Quorum(const std::vector<std::string_view>& w) {
    if (w.size() != 2) return Error("expected: quorum <name>");
    if (have_quorum_) return Error("a second quorum line (a policy has exactly one)");
    if (w[1] != "none" && !names_.count(std::string(w[1]))) {
      return Error("quorum " + Quoted(w[1]) + " is not a witness or group defined above");
    }
    policy_.quorum = std::string(w[1]);
    have_quorum_ = true;
    return Status::Ok();
  }

  Policy policy_;
  std::set<std::string> names_;
  bool have_quorum_ = false;
  int line_ = 0;
};

}  // namespace

Result<Policy> ParsePolicy(std::string_view text) { return Parser().Run(text); }

std::string DescribeGroup(const PolicyGroup& group) {
  std::string out = group.threshold == group.members.size() && group.members.size() > 1
                        ? "all"
                        : std::to_string(group.threshold);
  out += " of";
  for (const std::string& m : group.members) out += " " + m;
  return out;
}

PolicyEvaluation EvaluatePolicy(const Policy& policy, std::string_view text) {
  PolicyEvaluation out;
  auto note = ParseSignedNote(text);
  if (!note.ok()) {
    out.problems.push_back("not a signed note: " + note.status().message());
    return out;
  }
  auto body = ParseCheckpointBody(note->text);
  if (!body.ok()) {
    out.problems.push_back("not a checkpoint: " + body.status().message());
    return out;
  }
  out.origin = body->origin;
  out.size = body->size;
  for (const PolicyLog& log : policy.logs) {
    if (!NoteSignedBy(*note, log.key)) continue;
    if (log.key.name != body->origin) {
      out.problems.push_back("signed by the log key of line " + std::to_string(log.line) +
                             ", whose name " + Quoted(log.key.name) +
                             " is not the checkpoint's origin " + Quoted(body->origin));
      continue;
    }
    out.log = log.key.name;
    break;
  }
  if (!policy.logs.empty() && out.log.empty() && out.problems.empty()) {
    out.problems.push_back("not signed by any log the policy lists (origin " +
                           Quoted(body->origin) + ")");
  }
  for (const PolicyWitness& w : policy.witnesses) {
    bool good = false;
    for (const NoteSignatureLine& line : note->signatures) {
      if (line.name != w.key.name || line.key_id != w.key.key_id) continue;
      if (VerifyCosignature(note->text, line, w.key)) {
        good = true;
      } else {
        out.problems.push_back("the cosignature of witness " + Quoted(w.name) +
                               " does not verify");
      }
    }
    out.witnessed[w.name] = good;
    if (good) out.cosigned.push_back(w.name);
  }
  for (const PolicyGroup& g : policy.groups) {
    size_t count = 0;
    for (const std::string& m : g.members) count += out.witnessed[m] ? 1 : 0;
    out.witnessed[g.name] = count >= g.threshold;
  }
  out.quorum_met = policy.quorum == "none" || out.witnessed[policy.quorum];
  return out;
}

}  // namespace khronika
