#include "khronika/schemas/tlog_witness.h"

#include <charconv>

namespace khronika {
namespace {

// A decimal without leading zeroes ("0" alone is zero), as the spec writes sizes.
Result<uint64_t> ParseDecimal(std::string_view text, std::string_view what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      (text.size() > 1 && text.front() == '0')) {
    return Status::InvalidArgument(std::string(what) + " is not a decimal without leading zeroes");
  }
  return v;
}

}  // namespace

Result<AddCheckpointRequest> ParseAddCheckpointRequest(std::string_view body) {
  if (body.size() > kMaxAddCheckpointBody) {
    return Status::InvalidArgument("the body is larger than " +
                                   std::to_string(kMaxAddCheckpointBody) + " bytes");
  }
  AddCheckpointRequest out;
  size_t at = 0;
  auto next_line = [&](std::string_view& line) -> bool {
    size_t lf = body.find('\n', at);
    if (lf == std::string_view::npos) return false;
    line = body.substr(at, lf - at);
    at = lf + 1;
    return true;
  };
  std::string_view line;
  if (!next_line(line) || line.substr(0, 4) != "old ") {
    return Status::InvalidArgument("the body must start with the line 'old <size>'");
  }
  KH_ASSIGN_OR_RETURN(out.old_size, ParseDecimal(line.substr(4), "the old size"));
  for (;;) {
    if (!next_line(line)) {
      return Status::InvalidArgument("the proof lines must end with an empty line");
    }
    if (line.empty()) break;
    if (out.proof.size() == kMaxAddCheckpointProofLines) {
      return Status::InvalidArgument("more than 63 consistency proof lines");
    }
    auto raw = Base64Decode(line);
    if (!raw.ok() || raw->size() != 32) {
      return Status::InvalidArgument("consistency proof line " +
                                     std::to_string(out.proof.size() + 1) +
                                     " is not the base64 of a 32-byte hash");
    }
    Hash h;
    std::copy(raw->begin(), raw->end(), h.begin());
    out.proof.push_back(h);
  }
  out.note = std::string(body.substr(at));
  if (out.note.empty()) return Status::InvalidArgument("no checkpoint after the empty line");
  return out;
}

std::string FormatAddCheckpointRequest(const AddCheckpointRequest& request) {
  std::string out = "old " + std::to_string(request.old_size) + "\n";
  for (const Hash& h : request.proof) out += Base64Encode(h) + "\n";
  return out + "\n" + request.note;
}

Result<uint64_t> ParseTlogSize(std::string_view body) {
  if (body.size() > 21 || body.empty() || body.back() != '\n') {
    return Status::InvalidArgument("a tlog size must be a decimal and a newline");
  }
  return ParseDecimal(body.substr(0, body.size() - 1), "the witness's size");
}

Result<std::vector<NoteSignatureLine>> ParseSignatureLines(std::string_view body) {
  if (body.empty()) return Status::InvalidArgument("no signature line");
  if (body.size() > kMaxNoteBytes) return Status::InvalidArgument("too many signature lines");
  // Signature lines only: no text before them, which the note parser would take as the body.
  if (body.front() == '\n' || body.find("\n\n") != std::string_view::npos) {
    return Status::InvalidArgument("an empty line among the signature lines");
  }
  KH_ASSIGN_OR_RETURN(SignedNote n, ParseSignedNote("x\n\n" + std::string(body)));
  return n.signatures;
}

std::string FormatSignatureLine(const NoteSignatureLine& line) {
  return FormatSignedNote(SignedNote{"x\n", {line}}).substr(3);  // without "x\n\n"
}

}  // namespace khronika
