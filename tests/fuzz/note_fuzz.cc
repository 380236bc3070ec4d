// libFuzzer target: C2SP signed notes, checkpoint bodies, verifier keys (note.h) and
// tlog-witness bodies (tlog_witness.h). The input is offered to every parser; what parses must
// print back to exactly the input, and a signed note's signatures are checked against the keys
// of docs/format.md section 13 (so that the seeds taken from there reach the verification code).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/tlog_witness.h"

namespace {

using khronika::fuzz::Check;

// docs/format.md 13: the example node's checkpoint key and node B's witness key.
constexpr std::string_view kNodeVkey =
    "khronika/bd2e0d8db625127f5ce5df2cdb1d7cd79bb57c6d08edc0aecbefb7a868f9e140+1a0bbce5+"
    "AYUV+oIcqyDaL8yNgqvi7rHTzH9E5HaFr+nRuVLiI9SS";
constexpr std::string_view kWitnessVkey =
    "khronika/46fea9369b107b8d58df61f6d8cb22a2cfcfcec172c7ac87a758e50b6d58ba39/witness+9a656fb0+"
    "BCwJR88Y9QsIuqJLnswwdUBNIzfDUpwbgC/MDsjhiJHE";

void CheckCheckpoint(std::string_view body) {
  auto c = khronika::ParseCheckpointBody(body);
  if (!c.ok()) return;
  Check(khronika::FormatCheckpointBody(*c) == body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const khronika::NoteVerifier node = *khronika::ParseVerifierKey(kNodeVkey);
  static const khronika::NoteVerifier witness = *khronika::ParseCosignerVerifierKey(kWitnessVkey);
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto note = khronika::ParseSignedNote(input); note.ok()) {
    Check(khronika::FormatSignedNote(*note) == input);
    Check(!note->signatures.empty() && note->signatures.size() <= khronika::kMaxNoteSignatures);
    CheckCheckpoint(note->text);
    (void)khronika::NoteSignedBy(*note, node);
    for (const khronika::NoteSignatureLine& line : note->signatures) {
      (void)khronika::VerifyCosignature(note->text, line, witness);
    }
  }
  CheckCheckpoint(input);

  if (auto v = khronika::ParseVerifierKey(input); v.ok()) {
    Check(khronika::FormatVerifierKey(v->name, v->key) == input);
    Check(v->key_id == khronika::NoteKeyId(v->name, v->key));
  }
  if (auto v = khronika::ParseCosignerVerifierKey(input); v.ok()) {
    Check(khronika::FormatCosignerVerifierKey(v->name, v->key) == input);
    Check(v->key_id == khronika::CosignatureKeyId(v->name, v->key));
  }

  // C2SP tlog-witness's add-checkpoint body and answers (tlog_witness.h): what parses prints back
  // to exactly the input.
  if (auto r = khronika::ParseAddCheckpointRequest(input); r.ok()) {
    Check(khronika::FormatAddCheckpointRequest(*r) == input);
    Check(r->proof.size() <= khronika::kMaxAddCheckpointProofLines);
  }
  if (auto n = khronika::ParseTlogSize(input); n.ok()) Check(std::to_string(*n) + "\n" == input);
  if (auto lines = khronika::ParseSignatureLines(input); lines.ok()) {
    std::string again;
    for (const khronika::NoteSignatureLine& l : *lines) again += khronika::FormatSignatureLine(l);
    Check(again == input);
  }
  return 0;
}
