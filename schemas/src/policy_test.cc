#include "khronika/schemas/policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/note.h"

namespace khronika {
namespace {

// The spec's example (c2sp.org/tlog-policy, "Example policy") with real keys.
class PolicyTest : public ::testing::Test {
 protected:
  PolicyTest() {
    for (int i = 0; i < 6; ++i) witnesses_.push_back(SigningKey::Generate());
  }
  std::string LogVkey() const { return FormatVerifierKey(kOrigin, log_.public_key()); }
  std::string WitnessName(int i) const { return "witness.example/w" + std::to_string(i); }
  std::string WitnessVkey(int i) const {
    return FormatCosignerVerifierKey(WitnessName(i), witnesses_[i].public_key());
  }
  // "2 of 4 NGOs and 1 of 2 external witnesses": witnesses 0-3 are NGOs, 4-5 external.
  std::string NgoPolicy() const {
    std::string p = "# who must have seen a checkpoint\nlog " + LogVkey() + " https://log/\n\n";
    for (int i = 0; i < 4; ++i) {
      p += "witness ngo" + std::to_string(i) + " " + WitnessVkey(i) + "\n";
    }
    p += "\t group ngos 2 ngo0 ngo1 ngo2 ngo3   \n";
    for (int i = 4; i < 6; ++i) {
      p += "witness ext" + std::to_string(i) + " " + WitnessVkey(i) + " https://w.example/\n";
    }
    p += "group external any ext4 ext5\ngroup both all ngos external\nquorum both\n";
    return p;
  }
  // The checkpoint signed by the log and cosigned by the witnesses listed.
  std::string Note(const std::vector<int>& cosigners) const {
    const std::string body = std::string(kOrigin) + "\n42\n" +
                             "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    SignedNote note{body, {SignNoteText(body, kOrigin, log_)}};
    for (int i : cosigners) {
      note.signatures.push_back(CosignCheckpoint(body, WitnessName(i), witnesses_[i], 1767225600));
    }
    return FormatSignedNote(note);
  }

  static constexpr const char* kOrigin = "khronika/test-log";
  SigningKey log_ = SigningKey::Generate();
  std::vector<SigningKey> witnesses_;
};

TEST_F(PolicyTest, TwoOfFourNgosAndOneOfTwoExternalWitnesses) {
  auto policy = ParsePolicy(NgoPolicy());
  ASSERT_TRUE(policy.ok()) << policy.status().message();
  EXPECT_EQ(policy->logs.size(), 1u);
  EXPECT_EQ(policy->logs[0].url, "https://log/");
  EXPECT_EQ(policy->witnesses.size(), 6u);
  ASSERT_EQ(policy->groups.size(), 3u);
  EXPECT_EQ(policy->groups[0].threshold, 2u);
  EXPECT_EQ(policy->groups[1].threshold, 1u);
  EXPECT_EQ(policy->groups[2].threshold, 2u);
  EXPECT_EQ(DescribeGroup(policy->groups[2]), "all of ngos external");
  EXPECT_EQ(policy->quorum, "both");

  PolicyEvaluation met = EvaluatePolicy(*policy, Note({1, 3, 5}));
  EXPECT_TRUE(met.ok()) << (met.problems.empty() ? "" : met.problems[0]);
  EXPECT_EQ(met.log, kOrigin);
  EXPECT_EQ(met.cosigned, (std::vector<std::string>{"ngo1", "ngo3", "ext5"}));
  EXPECT_TRUE(met.witnessed["ngos"]);
  EXPECT_TRUE(met.witnessed["external"]);
  EXPECT_EQ(met.size, 42u);

  // Three NGOs but no external witness; one NGO and both external witnesses; nobody.
  for (const std::vector<int>& who : {std::vector<int>{0, 1, 2}, {2, 4, 5}, {}}) {
    PolicyEvaluation e = EvaluatePolicy(*policy, Note(who));
    EXPECT_FALSE(e.quorum_met) << who.size();
    EXPECT_FALSE(e.ok());
    EXPECT_TRUE(e.problems.empty()) << e.problems[0];
    EXPECT_EQ(e.witnessed["ngos"], who.size() == 3 && who[0] == 0);
  }
  // All six: met, and what more there is changes nothing.
  EXPECT_TRUE(EvaluatePolicy(*policy, Note({0, 1, 2, 3, 4, 5})).ok());
}

TEST_F(PolicyTest, ForgedOrForeignSignaturesDoNotCount) {
  auto policy = ParsePolicy(NgoPolicy());
  ASSERT_TRUE(policy.ok()) << policy.status().message();
  // A cosignature by a key the policy does not know, under an NGO's name: ignored.
  SigningKey stranger = SigningKey::Generate();
  std::string body = std::string(kOrigin) + "\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
  SignedNote note{body, {SignNoteText(body, kOrigin, log_)}};
  note.signatures.push_back(CosignCheckpoint(body, WitnessName(0), stranger, 1767225600));
  note.signatures.push_back(CosignCheckpoint(body, WitnessName(1), witnesses_[1], 1767225600));
  note.signatures.push_back(CosignCheckpoint(body, WitnessName(4), witnesses_[4], 1767225600));
  PolicyEvaluation e = EvaluatePolicy(*policy, FormatSignedNote(note));
  EXPECT_FALSE(e.quorum_met);
  EXPECT_EQ(e.cosigned, (std::vector<std::string>{"ngo1", "ext4"}));
  // A known witness's cosignature with a flipped byte: the note is refused, by name.
  std::string good = Note({0, 1, 4});
  SignedNote tampered = *ParseSignedNote(good);
  tampered.signatures[2].signature[20] ^= 1;  // ngo1's
  PolicyEvaluation t = EvaluatePolicy(*policy, FormatSignedNote(tampered));
  EXPECT_FALSE(t.ok());
  ASSERT_EQ(t.problems.size(), 1u);
  EXPECT_EQ(t.problems[0], "the cosignature of witness 'ngo1' does not verify");
  // Another log's checkpoint, however cosigned: not signed by a listed log.
  SigningKey other = SigningKey::Generate();
  SignedNote foreign{body, {SignNoteText(body, kOrigin, other)}};
  for (int i : {0, 1, 4}) {
    foreign.signatures.push_back(CosignCheckpoint(body, WitnessName(i), witnesses_[i], 1));
  }
  PolicyEvaluation f = EvaluatePolicy(*policy, FormatSignedNote(foreign));
  EXPECT_FALSE(f.ok());
  EXPECT_TRUE(f.log.empty());
  ASSERT_EQ(f.problems.size(), 1u);
  EXPECT_NE(f.problems[0].find("not signed by any log the policy lists"), std::string::npos);
  // The cosignatures were made over another body: they do not verify on this one.
  std::string moved = Note({0, 1, 4});
  moved.replace(moved.find("\n42\n"), 4, "\n43\n");
  EXPECT_FALSE(EvaluatePolicy(*policy, moved).ok());
  EXPECT_FALSE(EvaluatePolicy(*policy, "not a note").ok());
}

TEST_F(PolicyTest, QuorumNoneAndASingleWitness) {
  auto none = ParsePolicy("log " + LogVkey() + "\nquorum none\n");
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_TRUE(EvaluatePolicy(*none, Note({})).ok());
  auto one = ParsePolicy("witness w " + WitnessVkey(2) + "\nquorum w\n");
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_TRUE(EvaluatePolicy(*one, Note({2})).ok());
  EXPECT_FALSE(EvaluatePolicy(*one, Note({1})).ok());
}

// Each malformed policy is refused with the number of the line at fault.
TEST_F(PolicyTest, MalformedPoliciesAreRefusedNamingTheLine) {
  const std::string w0 = WitnessVkey(0), w1 = WitnessVkey(1), lv = LogVkey();
  struct Bad {
    std::string text;
    std::string error;
  };
  const std::vector<Bad> cases = {
      {"", "the policy has no quorum line"},
      {"# nothing\n", "the policy has no quorum line"},
      {"quorum none", "line 1: the last line does not end in a newline"},
      {"quorum none\nquorum none\n", "line 2: a second quorum line"},
      {"quorum x\n", "line 1: quorum 'x' is not a witness or group defined above"},
      {"\nwitness a " + w0 + "\nquorum a\r\n", "line 3: byte 0x0d is not allowed"},
      {"witness a " + w0 + "\x01\nquorum a\n", "line 1: byte 0x01 is not allowed"},
      {"frobnicate\nquorum none\n", "line 1: unknown keyword 'frobnicate'"},
      {"Quorum none\n", "line 1: unknown keyword 'Quorum'"},
      {"log\nquorum none\n", "line 1: expected: log <vkey> [<url>]"},
      {"log " + lv + " https://a https://b\nquorum none\n", "line 1: expected: log <vkey>"},
      {"log nonsense\nquorum none\n", "line 1: not a log verifier key"},
      {"log " + w0 + "\nquorum none\n", "line 1: a log key is a signed-note Ed25519 key"},
      {"log " + lv + "\nlog " + lv + "\nquorum none\n", "line 2: the same log key as line 1"},
      {"witness a " + lv + "\nquorum a\n", "line 1: a witness key is a cosignature/v1 key"},
      {"witness a\nquorum a\n", "line 1: expected: witness <name> <vkey> [<url>]"},
      {"witness none " + w0 + "\nquorum none\n", "line 1: 'none' is predefined"},
      {"witness a " + w0 + "\nwitness a " + w1 + "\nquorum a\n",
       "line 2: name 'a' is already defined"},
      {"witness a " + w0 + "\nwitness b " + w0 + "\nquorum a\n",
       "line 2: the same witness key as line 1 ('a')"},
      {"witness a " + w0 + "\n# c\ngroup g 1\nquorum g\n", "line 3: expected: group <name>"},
      {"witness a " + w0 + "\ngroup g 1 b\nquorum g\n",
       "line 2: member 'b' is not a witness or group defined above"},
      {"witness a " + w0 + "\ngroup g 1 a a\nquorum g\n", "line 2: member 'a' listed twice"},
      {"witness a " + w0 + "\ngroup g 2 a\nquorum g\n", "line 2: the threshold must be"},
      {"witness a " + w0 + "\ngroup g 0 a\nquorum g\n", "line 2: the threshold must be"},
      {"witness a " + w0 + "\ngroup g 01 a\nquorum g\n", "line 2: the threshold must be"},
      {"witness a " + w0 + "\ngroup g -1 a\nquorum g\n", "line 2: the threshold must be"},
      {"witness a " + w0 + "\ngroup g some a\nquorum g\n", "line 2: the threshold must be"},
      {"witness a " + w0 + "\ngroup g any none\nquorum g\n", "line 2: 'none' cannot be"},
      {"witness a " + w0 + "\ngroup a any a\nquorum a\n", "line 2: name 'a' is already"},
      {"witness a " + w0 + "\nquorum g\ngroup g any a\n", "line 2: quorum 'g' is not"},
      {"witness a " + w0 + "\nquorum a b\n", "line 2: expected: quorum <name>"},
      {std::string(kMaxPolicyBytes + 1, '#'), "a policy file is at most 65536 bytes"},
  };
  for (const Bad& b : cases) {
    auto p = ParsePolicy(b.text);
    ASSERT_FALSE(p.ok()) << "accepted: " << b.text;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(p.status().message().rfind(b.error, 0), 0u)
        << "error: " << p.status().message() << "\nwanted: " << b.error << "\nfor: " << b.text;
  }
  // Opaque high bytes are allowed in names, comments and URLs; a name differs by its bytes.
  auto utf8 = ParsePolicy("# \xc3\xa9t\xc3\xa9\nwitness K " + w0 + "\nwitness \xe2\x84\xaa " + w1 +
                          " https://\xc3\xa9.example/\ngroup g all K \xe2\x84\xaa\nquorum g\n");
  ASSERT_TRUE(utf8.ok()) << utf8.status().message();
  EXPECT_EQ(utf8->groups[0].members.size(), 2u);
}

TEST_F(PolicyTest, TheSpecsLimitsAreAccepted) {
  // "at least up to 32 logs, 32 witnesses, and 32 groups"
  std::string p;
  std::vector<SigningKey> keys;
  for (int i = 0; i < 32; ++i) {
    keys.push_back(SigningKey::Generate());
    p += "log " + FormatVerifierKey("log" + std::to_string(i), keys.back().public_key()) + "\n";
    keys.push_back(SigningKey::Generate());
    p += "witness w" + std::to_string(i) + " " +
         FormatCosignerVerifierKey("w" + std::to_string(i), keys.back().public_key()) + "\n";
    p += "group g" + std::to_string(i) + " any w" + std::to_string(i) +
         (i ? " g" + std::to_string(i - 1) : "") + "\n";
  }
  p += "quorum g31\n";
  auto policy = ParsePolicy(p);
  ASSERT_TRUE(policy.ok()) << policy.status().message();
  EXPECT_EQ(policy->logs.size(), 32u);
  EXPECT_EQ(policy->witnesses.size(), 32u);
  EXPECT_EQ(policy->groups.size(), 32u);
}

}  // namespace
}  // namespace khronika
